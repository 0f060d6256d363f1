package call

import "time"

// Counters are the media counters of a running call, read without taking
// the call's lock, so that metrics can be scraped while calls run (and while
// one waits for an ACK holding its lock). Every count only grows.
type Counters struct {
	FramesIn    uint64        // inbound slots with the caller's audio
	Concealed   uint64        // inbound slots concealed: nothing arrived by their deadline
	FramesOut   uint64        // RTP frames of audio sent to the caller
	SilenceOut  uint64        // RTP frames of silence or comfort noise sent while nothing played
	LateFrames  uint64        // outbound frames played after their tick
	RTPLost     uint64        // inbound slots inside a talkspurt whose audio never arrived
	RTPLate     uint64        // RTP packets dropped: their slot had been played already
	Duplicates  uint64        // RTP packets dropped: their audio was held or played already
	Reanchors   uint64        // new jitter buffer timelines (talkspurt, new source, jump)
	JitterDelay time.Duration // the jitter buffer's delay now (a gauge)
}

// Counters returns the call's media counters now.
func (c *Call) Counters() Counters {
	n := Counters{
		FramesIn:   c.framesIn.Load(),
		Concealed:  c.concealed.Load(),
		FramesOut:  c.framesOut.Load(),
		SilenceOut: c.silenceOut.Load() + c.cnOut.Load(),
		LateFrames: c.lateFrames.Load(),
	}
	if jb := c.liveJitter.Load(); jb != nil {
		st := jb.Stats()
		n.RTPLost, n.RTPLate, n.Duplicates, n.Reanchors = st.Lost, st.Late, st.Duplicates, st.Reanchors
		n.JitterDelay = st.Delay
	}
	return n
}
