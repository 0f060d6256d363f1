package stream

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/gorilla/websocket"
)

// Reconnect timing. The first attempt goes at once (the app may be back
// behind a load balancer), then attempts follow at growing intervals capped
// low, so an app that is back within 2 s is found within 250 ms of its
// return: its outage then fits the default 3 s queue with room to spare.
const (
	reconnectFirstDelay = 50 * time.Millisecond
	reconnectMaxDelay   = 250 * time.Millisecond
	// reconnectAttemptTimeout bounds one attempt (connect and handshake),
	// so that one lost SYN does not use the whole reconnect time.
	reconnectAttemptTimeout = 2 * time.Second
)

// replayWindow is the media sent again on a new connection: the frames
// written on the old one within this long before the drop was seen (and
// those of a write that failed), which it may have taken without the app
// reading them (in the kernel's buffers or on the wire when the app went
// away).
const replayWindow = 500 * time.Millisecond

// reconnect dials the app again after its connection dropped with cause,
// for up to the config's Reconnect time. It returns the new connection, or
// nil when the socket ends: the time ran out (the socket's error says so),
// or the socket is closing.
func (s *Socket) reconnect(cause error) *websocket.Conn {
	s.reconnecting.Store(true)
	defer s.reconnecting.Store(false)
	start := time.Now()
	s.dropAt = start
	deadline := start.Add(s.cfg.Reconnect)
	s.log.Warn("stream reconnecting", "err", cause, "reconnect_for", s.cfg.Reconnect)
	var (
		delay    time.Duration
		step     = reconnectFirstDelay / 2
		attempts int
		lastErr  error
	)
	for {
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-s.ctx.Done():
				t.Stop()
			}
		}
		if s.ending.Load() || s.ctx.Err() != nil {
			// The stream was closed meanwhile (the call ended, a Stop):
			// the drop is what ended it.
			s.outageMs.Add(time.Since(start).Milliseconds())
			s.setErr(cause)
			s.log.Info("stream closed while reconnecting", "attempts", attempts,
				"outage_ms", time.Since(start).Milliseconds())
			return nil
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			break
		}
		attempts++
		s.attempts.Add(1)
		conn, err := s.dial(s.ctx, min(remaining, reconnectAttemptTimeout))
		if err == nil {
			outage := time.Since(start)
			s.reconnects.Add(1)
			s.outageMs.Add(outage.Milliseconds())
			queued, dropped := s.q.stats()
			s.log.Info("stream reconnected", "attempts", attempts,
				"outage_ms", outage.Milliseconds(), "queued_frames", queued, "media_dropped", dropped)
			return conn
		}
		lastErr = err
		step = min(2*step, reconnectMaxDelay)
		// Up to a fifth less, so the streams of an app that restarts do
		// not all come back in step.
		delay = step - time.Duration(rand.Int64N(int64(step/5)+1))
		if left := time.Until(deadline); left < delay {
			delay = max(left, time.Millisecond)
		}
	}
	elapsed := time.Since(start)
	s.outageMs.Add(elapsed.Milliseconds())
	s.reconnectFailed.Store(true)
	if lastErr == nil {
		lastErr = cause
	}
	err := fmt.Errorf("%w: %d attempts in %s: %w (the connection dropped: %w)", ErrReconnectFailed, attempts,
		elapsed.Round(time.Millisecond), lastErr, cause)
	s.setErr(err)
	s.log.Warn("stream reconnect failed", "attempts", attempts,
		"outage_ms", elapsed.Milliseconds(), "err", err)
	return nil
}

// resume adds to the batch, on a new connection after the connected
// message, a start for every flow whose start went out on an old one and
// that has not stopped, then the media the old connection may not have
// delivered, with their own chunks and timestamps. Sequence numbers go on
// from where they were.
func (s *Socket) resume() {
	s.mu.Lock()
	flows := append([]*Flow(nil), s.flows...)
	s.mu.Unlock()
	for _, f := range flows {
		if f.startSent && !f.stopSent {
			s.addLocked(s.cfg.Dialect.AppendStart(s.wbuf[:hdrRoom], f.seq, &f.cfg.Info), opText)
			f.seq++
		}
	}
	s.replay.resend(s.dropAt.Add(-replayWindow).UnixNano(), func(fr *replayFrame) {
		if f := fr.flow; f.startSent && !f.stopSent {
			s.addLocked(s.media(f, fr.track, fr.slot, fr.chunk, fr.payload, true), opText)
			s.replayed.Add(1)
		}
	})
}

// replayFrame is one media frame as it was written, its payload in the
// flow's wire format. The payload's array is kept when the entry is reused,
// so a warm ring does not allocate; it is as large as the frames written.
type replayFrame struct {
	flow        *Flow
	track       Track
	slot, chunk uint64
	at          int64 // unix nanos of the write that carried it; 0: not written yet
	payload     []byte
}

// replay is a ring of the last media frames written, kept only by sockets
// that reconnect (writer goroutine only). It is allocated with the first
// frame, for replayWindow of the tracks of that frame's flow, and grows
// (up to the media queue's bound more) only while more frames than that
// are written within replayWindow: when a backlog goes out at once. It
// returns to its base size once that backlog has aged out of the window.
type replay struct {
	on        bool
	queue     int // the socket's media queue bound
	base      int // the ring's size for replayWindow of the flow's tracks; it grows past it only for bursts
	spare     int // frames one slot adds (the flow's tracks)
	max       int // the most frames kept
	frames    []replayFrame
	head, n   int
	unstamped int   // frames at the tail whose write has not happened yet
	last      int64 // the last write's time
}

// add keeps one frame put in the batch.
func (r *replay) add(f *Flow, t Track, slot, chunk uint64, p []byte) {
	if !r.on {
		return
	}
	if r.frames == nil {
		// The window's slots, both ends included, and one to spare: a
		// steady one frame per slot per track never grows it.
		tracks := max(len(f.cfg.Tracks.Tracks()), 1)
		window := (int(replayWindow/FrameDuration) + 2) * tracks
		r.frames = make([]replayFrame, window)
		r.base, r.spare, r.max = window, tracks, window+r.queue
	}
	if r.n == len(r.frames) {
		oldest := &r.frames[r.head]
		if len(r.frames) < r.max && (oldest.at == 0 || oldest.at >= r.last-int64(replayWindow)) {
			r.grow()
		} else {
			oldest.flow = nil
			r.head = (r.head + 1) % len(r.frames)
			r.n--
			r.unstamped = min(r.unstamped, r.n)
		}
	}
	fr := &r.frames[(r.head+r.n)%len(r.frames)]
	r.n++
	r.unstamped++
	fr.flow, fr.track, fr.slot, fr.chunk, fr.at = f, t, slot, chunk, 0
	fr.payload = append(fr.payload[:0], p...)
}

// grow doubles the ring, up to max frames, keeping the frames in order.
func (r *replay) grow() {
	next := make([]replayFrame, min(2*len(r.frames), r.max))
	for i := 0; i < r.n; i++ {
		next[i] = r.frames[(r.head+i)%len(r.frames)]
	}
	r.frames, r.head = next, 0
}

// stamp records the time of the write that carried the frames added since
// the last one.
func (r *replay) stamp(at int64) {
	if !r.on {
		return
	}
	for i := r.n - r.unstamped; i < r.n; i++ {
		r.frames[(r.head+i)%len(r.frames)].at = at
	}
	r.unstamped, r.last = 0, at
	if len(r.frames) > r.base {
		r.shrinkAged()
	}
}

// shrinkAged gives a ring that a burst grew its base size back once the
// frames it still has to keep (written within replayWindow of the last
// write) fit in it with a slot to spare. The frames it drops were written earlier than
// any resend asks for, so a grown ring does not stay grown for the rest of
// the call. It runs after a write, only while the ring is grown.
func (r *replay) shrinkAged() {
	cut := r.last - int64(replayWindow)
	aged := 0
	for aged < r.n {
		if fr := &r.frames[(r.head+aged)%len(r.frames)]; fr.at == 0 || fr.at >= cut {
			break
		}
		aged++
	}
	keep := r.n - aged
	if keep > r.base-r.spare {
		return
	}
	next := make([]replayFrame, r.base)
	for i := 0; i < keep; i++ {
		next[i] = r.frames[(r.head+aged+i)%len(r.frames)]
	}
	r.frames, r.head, r.n = next, 0, keep
	r.unstamped = min(r.unstamped, r.n)
}

// resend calls fn, oldest first, for the frames written since since (unix
// nanos) or never written, and marks them unwritten again: they go out
// with the new connection's first write.
func (r *replay) resend(since int64, fn func(*replayFrame)) {
	first := r.n
	for i := 0; i < r.n; i++ {
		if fr := &r.frames[(r.head+i)%len(r.frames)]; fr.at == 0 || fr.at >= since {
			first = i
			break
		}
	}
	for i := first; i < r.n; i++ {
		fr := &r.frames[(r.head+i)%len(r.frames)]
		fn(fr)
		fr.at = 0
	}
	r.unstamped = r.n - first
}
