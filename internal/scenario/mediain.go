package scenario

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/stream"
)

// Test hooks, nil outside tests: bindMadeHook runs once bind has made a
// unit's buffer and before the buffer joins its stream; remoteStartHook
// once a remote's start has been taken. Both get the stream's tag.
var bindMadeHook, remoteStartHook atomic.Pointer[func(tag string)]

// runHook calls the hook h holds, if any.
func runHook(h *atomic.Pointer[func(string)], tag string) {
	if f := h.Load(); f != nil {
		(*f)(tag)
	}
}

// binding is one websocket.sendMediaTo(unit): the remote's stream with a
// tag played into a unit through its own playout buffer, which absorbs
// chunks of any size sent faster than real time (up to the media buffer
// limit) and is read one 20 ms frame per tick by the unit's clock.
type binding struct {
	w       *jsSocket
	unit    *goja.Object
	tag     string
	want    *encoding // the encoding the script asked for, nil when none
	playout *stream.Playout
	detach  func()
}

// inStream is the remote's audio stream with one tag.
type inStream struct {
	tag        string
	enc        *encoding // the format of the remote's payloads (nil before its first start)
	started    bool      // between a valid start and its stop
	active     bool      // MEDIA_STARTED fired and MEDIA_ENDED not yet
	stopping   bool      // stop received: MEDIA_ENDED once its audio has played
	lastMedia  int64     // unix nanoseconds of the last media message
	quietSince int64     // unix nanoseconds since which the buffers are empty
	samples    uint64    // audio received, in samples at 8 kHz
	received   uint64    // payload bytes received since the start
	sinks      []*binding
	pending    *stream.Playout // audio received while nothing is bound
}

// streamLocked returns the stream with tag, made when missing. inMu held.
func (w *jsSocket) streamLocked(tag string) *inStream {
	st := w.in[tag]
	if st == nil {
		st = &inStream{tag: tag}
		w.in[tag] = st
	}
	return st
}

// bind plays the remote's stream with o.tag into unit (loop only). A unit
// takes one stream per tag from a socket; binding again replaces it.
func (w *jsSocket) bind(unit *goja.Object, sk sink, o mediaOpts) {
	if w.state == wsClosed || w.state == wsClosing {
		w.postError(fmt.Errorf("sendMediaTo: %w", ErrNotOpen))
		return
	}
	w.unbind(unit, o.tag)
	to := sk.format()
	w.inMu.Lock()
	st := w.streamLocked(o.tag)
	started, enc := st.started, st.enc
	// Audio that arrived before anything was bound to the stream plays
	// first, when it is in the format the unit takes.
	var pl *stream.Playout
	if len(st.sinks) == 0 && st.pending != nil && st.pending.Format() == to {
		pl = st.pending
	}
	w.inMu.Unlock()
	if pl == nil {
		var err error
		if pl, err = w.newPlayout(o.tag, enc, to); err != nil {
			w.s.mediaError(w, err)
			return
		}
	}
	b := &binding{w: w, unit: unit, tag: o.tag, playout: pl}
	if _, toSocket := sk.(*jsSocket); o.encSet && !toSocket {
		// Into a call or recorder the encoding is what the script expects
		// from the remote; into a socket it is what that socket is sent.
		b.want = o.enc
	}
	if b.want != nil && started && enc.rate != b.want.rate {
		w.postError(fmt.Errorf("%w: the remote sends %s (%d Hz) on tag %q, not %s", ErrEncoding, enc.name, enc.rate, o.tag, b.want.name))
		return
	}
	detach, err := sk.attach(pl, o, func() { w.removeBinding(b) })
	if err != nil {
		w.s.mediaError(w, err)
		return
	}
	b.detach = detach
	runHook(&bindMadeHook, o.tag)
	w.inMu.Lock()
	// The remote's start may have come while the buffer was being made:
	// the buffer takes the format it announced.
	if st.started && st.enc != enc {
		err = pl.SetWire(st.enc.wire)
		if err == nil && b.want != nil && st.enc.rate != b.want.rate {
			err = fmt.Errorf("%w: the remote sends %s (%d Hz) on tag %q, not %s", ErrEncoding, st.enc.name, st.enc.rate, o.tag, b.want.name)
		}
		if err != nil {
			w.inMu.Unlock()
			detach()
			w.postError(err)
			return
		}
	}
	if st.pending == pl {
		st.pending = nil
	}
	st.sinks = append(st.sinks, b)
	w.inMu.Unlock()
	w.log.Info("websocket audio to unit", "unit", unitKind(w.s.units[unit]), "tag", o.tag)
}

// newPlayout makes the buffer of remote audio for one unit taking frames
// of to: the remote's payloads in enc (µ-law until its start says) are
// converted once on their way in; the media buffer limit, excess dropped
// with a warning.
func (w *jsSocket) newPlayout(tag string, enc *encoding, to codec.Format) (*stream.Playout, error) {
	wire := codec.PCMU
	if enc != nil {
		wire = enc.wire
	}
	limit := w.s.lim.MediaBuffer
	pl, err := stream.NewPlayout(limit, wire, to)
	if err != nil {
		return nil, fmt.Errorf("sendMediaTo: %w", err)
	}
	pl.OnOverflow = func(n int) {
		w.warn.Log("remote audio dropped: more than the media buffer is queued", "bytes", n, "limit", limit, "tag", tag, "dropped_total", pl.Dropped())
	}
	return pl, nil
}

// unbind stops the stream with tag going into unit.
func (w *jsSocket) unbind(unit *goja.Object, tag string) {
	for _, b := range w.bindings() {
		if b.unit == unit && b.tag == tag {
			w.removeBinding(b)
		}
	}
}

// unbindUnit stops the streams going into unit: those with tag, or all
// when anyTag.
func (w *jsSocket) unbindUnit(unit *goja.Object, tag string, anyTag bool) {
	for _, b := range w.bindings() {
		if b.unit == unit && (anyTag || b.tag == tag) {
			w.removeBinding(b)
		}
	}
}

// unbindAll detaches every binding (the socket has closed).
func (w *jsSocket) unbindAll() {
	for _, b := range w.bindings() {
		w.removeBinding(b)
	}
}

// bindings returns a snapshot of the socket's bindings.
func (w *jsSocket) bindings() []*binding {
	w.inMu.Lock()
	defer w.inMu.Unlock()
	var out []*binding
	for _, st := range w.in {
		out = append(out, st.sinks...)
	}
	return out
}

// removeBinding detaches b and forgets it.
func (w *jsSocket) removeBinding(b *binding) {
	w.inMu.Lock()
	found := false
	if st := w.in[b.tag]; st != nil {
		for i, x := range st.sinks {
			if x == b {
				st.sinks = append(st.sinks[:i:i], st.sinks[i+1:]...)
				found = true
				break
			}
		}
	}
	w.inMu.Unlock()
	if found && b.detach != nil {
		b.detach()
	}
}

// clearMediaBuffer drops the audio queued for playback from the stream
// with tag (every stream when all): barge-in. The unit hears silence from
// its next frame on.
func (w *jsSocket) clearMediaBuffer(tag string, all bool) {
	w.inMu.Lock()
	cleared := 0
	for t, st := range w.in {
		if !all && t != tag {
			continue
		}
		for _, b := range st.sinks {
			b.playout.Clear()
			cleared++
		}
	}
	w.inMu.Unlock()
	w.log.Info("media buffer cleared", "tag", tag, "all", all, "buffers", cleared)
}

// remoteStart handles the remote's start (reader goroutine): a valid one
// fires MEDIA_STARTED, an invalid one ERROR.
func (w *jsSocket) remoteStart(m *stream.AppMessage) {
	var (
		enc *encoding
		err error
	)
	if m.Encoding == "" {
		err = fmt.Errorf("%w: start without mediaFormat.encoding", ErrEncoding)
	} else {
		if enc, err = remoteEncoding(m.Encoding, m.SampleRate); err == nil {
			err = enc.checkIn(codec.PCMU)
		}
	}
	tag := m.Tag
	w.inMu.Lock()
	st := w.streamLocked(tag)
	if err == nil {
		for _, b := range st.sinks {
			if b.want != nil && b.want.rate != enc.rate {
				err = fmt.Errorf("%w: the remote starts %s (%d Hz) on tag %q, the script asked for %s", ErrEncoding, enc.name, enc.rate, tag, b.want.name)
				break
			}
		}
	}
	if err == nil {
		// The unit's buffers take the remote's format from now on.
		for _, b := range st.sinks {
			if err = b.playout.SetWire(enc.wire); err != nil {
				err = enc.fail(err)
				break
			}
		}
	}
	if err != nil {
		st.started = false
		w.inMu.Unlock()
		w.warn.Log("remote media stream refused", "tag", tag, "err", err)
		w.postError(err)
		return
	}
	wasActive := st.active
	prevSamples := st.samples
	st.enc = enc
	st.started, st.active, st.stopping = true, true, false
	st.pending = nil
	st.samples, st.received = 0, 0
	st.lastMedia = time.Now().UnixNano()
	st.quietSince = st.lastMedia
	w.inMu.Unlock()
	if wasActive {
		w.postMediaEnded(tag, prevSamples)
	}
	params := append([]stream.Param(nil), m.Params...)
	w.log.Info("remote media started", "tag", tag, "encoding", enc.name)
	w.postMediaStarted(tag, enc.name, params)
	runHook(&remoteStartHook, tag)
}

// remoteMedia decodes one media message into the buffers of the units
// the stream is bound to (reader goroutine; no allocation once warm).
func (w *jsSocket) remoteMedia(m *stream.AppMessage) {
	w.inMu.Lock()
	st := w.in[m.Tag]
	if st == nil || !st.started {
		w.inMu.Unlock()
		w.warn.Log("remote media without a start: dropped", "tag", m.Tag)
		return
	}
	for _, b := range st.sinks {
		b.playout.Write(m.Payload)
	}
	if len(st.sinks) == 0 {
		if st.pending == nil {
			// Held as µ-law until a unit is bound (a call of another
			// format starts from the audio that comes after).
			st.pending, _ = w.newPlayout(st.tag, st.enc, codec.PCMU)
		}
		if st.pending != nil {
			st.pending.Write(m.Payload)
		}
	}
	st.received += uint64(len(m.Payload))
	st.samples = st.enc.samples8k(st.received, st.samples)
	st.lastMedia = time.Now().UnixNano()
	resumed := !st.active
	st.active = true
	var name string
	if resumed {
		name = st.enc.name
	}
	w.inMu.Unlock()
	if resumed {
		w.postMediaStarted(m.Tag, name, nil)
	}
}

// remoteStop ends the stream with the message's tag: MEDIA_ENDED fires
// once the audio buffered before the stop has been played.
func (w *jsSocket) remoteStop(m *stream.AppMessage) {
	w.inMu.Lock()
	st := w.in[m.Tag]
	if st == nil || !st.started {
		w.inMu.Unlock()
		w.warn.Log("remote stop without a start", "tag", m.Tag)
		return
	}
	st.started = false
	st.stopping = st.active
	var dropped uint64
	for _, b := range st.sinks {
		dropped += b.playout.Dropped()
	}
	if st.pending != nil {
		dropped += st.pending.Dropped()
	}
	tag := st.tag
	samples := st.samples
	w.inMu.Unlock()
	w.log.Info("remote media stopped", "tag", tag, "bytes", samples, "dropped", dropped)
}

// checkSilence ends the streams whose audio has been played after a stop,
// and those silent for the limit: no media arrived and nothing was left to
// play (media clock goroutine).
func (w *jsSocket) checkSilence(now int64, limit time.Duration) {
	w.inMu.Lock()
	for _, st := range w.in {
		if !st.active {
			continue
		}
		buffered := false
		for _, b := range st.sinks {
			if b.playout.Buffered() > 0 {
				buffered = true
				break
			}
		}
		if buffered {
			st.quietSince = now
			continue
		}
		if st.stopping || now-max(st.lastMedia, st.quietSince) >= int64(limit) {
			st.active, st.stopping = false, false
			w.postMediaEnded(st.tag, st.samples)
		}
	}
	w.inMu.Unlock()
}

func (w *jsSocket) postMediaStarted(tag, enc string, params []stream.Param) {
	w.s.post(func() {
		if w.closeFired {
			return
		}
		custom := w.s.vm.NewObject()
		for _, p := range params {
			_ = custom.Set(p.Name, p.Value)
		}
		w.s.dispatch(w.et, evWSMediaStarted, w.event(evWSMediaStarted, "tag", tag, "encoding", enc, "customParameters", custom))
	})
}

func (w *jsSocket) postMediaEnded(tag string, samples uint64) {
	durationMs := samples / 8
	w.s.post(func() {
		if w.closeFired {
			return
		}
		info := w.s.vm.NewObject()
		_ = info.Set("duration", durationMs)
		w.s.dispatch(w.et, evWSMediaEnded, w.event(evWSMediaEnded, "tag", tag, "mediaInfo", info))
	})
}
