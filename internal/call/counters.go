package call

// Counters are the media counters of a running call, read without taking
// the call's lock, so that metrics can be scraped while calls run (and while
// one waits for an ACK holding its lock). Every field only grows.
type Counters struct {
	FramesIn       uint64 // inbound frames handed to taps (audio + silence)
	SilenceFilled  uint64 // inbound frames filled with silence by the clock
	InboundDropped uint64 // inbound frames dropped: the caller ran too far ahead
	FramesOut      uint64 // RTP frames sent to the caller
	LateFrames     uint64 // outbound frames played after their tick
	RTPLost        uint64 // inbound 20 ms frames declared lost
	RTPLate        uint64 // RTP packets dropped: their slot was already declared lost
}

// Counters returns the call's media counters now.
func (c *Call) Counters() Counters {
	n := Counters{
		FramesIn:       c.framesIn.Load(),
		SilenceFilled:  c.silenceFilled.Load(),
		InboundDropped: c.inDropped.Load(),
		FramesOut:      c.framesOut.Load(),
		LateFrames:     c.lateFrames.Load(),
	}
	if r := c.liveRecv.Load(); r != nil {
		st := r.Stats()
		n.RTPLost, n.RTPLate = st.Lost, st.Late
	}
	return n
}
