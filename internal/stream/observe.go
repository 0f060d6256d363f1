package stream

import "time"

// Observer receives timing samples from a socket's writer for metrics. Its
// methods run on the writer goroutine: they must not block and should not
// allocate.
type Observer interface {
	// FrameLatency reports, for a sampled inbound media frame, the time
	// from its push on the media path (the caller's RTP packet handed on
	// by the receiver) to the end of the write that sent it to the app.
	FrameLatency(d time.Duration)
	// QueueDepth reports the media frames queued when the writer woke up
	// (sampled).
	QueueDepth(frames int)
}

// sampleEvery is how often the Observer gets a sample: every sampleEvery-th
// inbound frame of a flow, every sampleEvery-th writer wake-up.
const sampleEvery = 16

// epoch is the origin of monoNow (read-only after start).
var epoch = time.Now()

// monoNow returns the nanoseconds since epoch on the monotonic clock; it is
// never 0, so 0 can mean "no timestamp".
func monoNow() int64 { return int64(time.Since(epoch)) + 1 }

// sampleAt returns the timestamp for the n-th frame a flow took of track
// t: the time now for one frame in sampleEvery of the inbound track when
// the socket has an Observer, else 0 (no clock read).
func (f *Flow) sampleAt(t Track, n uint64) int64 {
	if t != TrackInbound || n%sampleEvery != 0 || f.sock.cfg.Observer == nil {
		return 0
	}
	return monoNow()
}

// noteSample keeps the oldest sampled timestamp of the batch being
// gathered; called by the writer for every media item it adds.
func (s *Socket) noteSample(at int64) {
	if at != 0 && s.sampledAt == 0 {
		s.sampledAt = at
	}
}

// reportSample reports the batch's sampled frame after its write (ok) and
// forgets it.
func (s *Socket) reportSample(ok bool) {
	if s.sampledAt == 0 {
		return
	}
	if ok && s.cfg.Observer != nil {
		d := monoNow() - s.sampledAt
		s.latency.Store(d)
		s.cfg.Observer.FrameLatency(time.Duration(d))
	}
	s.sampledAt = 0
}

// reportWake reports the queue depth on one writer wake-up in sampleEvery.
func (s *Socket) reportWake() {
	if s.cfg.Observer == nil {
		return
	}
	s.wakes++
	if s.wakes%sampleEvery != 0 {
		return
	}
	queued, _ := s.q.stats()
	s.cfg.Observer.QueueDepth(queued)
}
