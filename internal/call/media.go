package call

import (
	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/stream"
)

// maxSlotFill is the most slots a tick fills after the clock jumped over
// some (1 s); a longer stall leaves a gap in the tracks.
const maxSlotFill = 50

// receiveLoop runs the RTP receiver until the socket closes.
func (c *Call) receiveLoop() {
	defer c.wg.Done()
	if err := c.recv.Run((*inbound)(c)); err != nil {
		c.log.Warn("rtp receive ended", "err", err)
	}
}

// inbound adapts Call to rtpio.Handler without exporting the methods. The
// caller's audio goes into the jitter buffer, not through HandleFrame.
type inbound Call

// HandleFrame is not called: the receiver puts audio into the jitter buffer.
func (h *inbound) HandleFrame([]byte, uint8, bool) {}

// HandleDTMF takes one DTMF digit.
func (h *inbound) HandleDTMF(digit byte) {
	c := (*Call)(h)
	c.dtmf.Add(1)
	// The digit is the caller's secret (a PIN, a card number): DEBUG only.
	c.log.Debug("dtmf received", "digit", string(digit))
	c.mu.Lock()
	subs := append([]*dtmfSub(nil), c.dtmfSubs...)
	c.mu.Unlock()
	for _, s := range subs {
		s.fn(digit)
	}
}

// runTick is the call's share of the media clock, run every 20 ms by the
// shared Clock with its tick m: it takes the caller's frame of the slot
// from the jitter buffer, plays one frame to the caller, feeds the taps
// every track they want for the slot and watches for RTP inactivity. It
// must not block. It reports whether the frame to play is late: the source
// was playing and had nothing yet; the clock then runs finishTick for the
// same tick lateGrace later, which plays it and pushes the outbound and
// mixed tracks of the slot.
func (c *Call) runTick(m uint64) (late bool) {
	c.tickMu.Lock()
	defer c.tickMu.Unlock()
	if c.over.Load() || m < c.base || c.edge == nil {
		return false
	}
	n := m - c.base
	if n <= c.lastTick {
		return false
	}
	if c.lateTick != 0 {
		// A late frame whose finishTick never ran (cannot happen with
		// the shared clock, which finishes before the next tick).
		c.playOut(c.lateTick-1, false)
		c.lateTick = 0
	}
	if skipped := n - c.lastTick - 1; skipped > 0 {
		// The clock jumped over slots (a stall of the machine): the
		// taps still get every slot, played as silence, so that
		// tracks stay aligned; RTP moves its timestamp past them.
		c.skipped.Add(skipped)
		c.unsent += int(skipped)
		for k := max(c.lastTick+1, n-maxSlotFill); k < n; k++ {
			c.popInbound(k)
			out := c.outFrame[:c.edge.format.MaxFrameBytes()]
			copy(out, c.edge.silence)
			c.outSilent, c.playing = true, false
			c.pushOut(k, out)
		}
	}
	c.lastTick = n
	c.tick.Store(n)
	c.ticks.Add(1)

	// Inbound: what the jitter buffer has for the slot, or concealment
	// (already pushed by tickInbound when the slot came in order).
	var in []byte
	if c.inTick == n+1 {
		in = c.inFrame[:c.edge.format.MaxFrameBytes()]
	} else {
		in = c.popInbound(n)
	}
	c.inTick = 0

	// Digits being sent take the place of what plays, which pauses.
	if j := c.digits; j != nil && c.tickDigits(n, j) {
		if n%50 == 0 {
			c.checkActivity()
		}
		return false
	}

	// Outbound: what plays to the caller now. A source that was playing
	// and has nothing yet gets lateGrace more: the audio for this slot
	// may be in a socket whose reader goroutine has not run yet.
	box := c.source.Load()
	if box != nil {
		c.outSilent = false // a source may write into the frame even when it has nothing
	}
	got := box != nil && box.s.ReadFrame(c.outFrame[:len(in)])
	late = !got && c.playing
	if late {
		c.lateTick = n + 1
	} else {
		c.playOut(n, got)
	}
	if n%50 == 0 {
		c.checkActivity()
	}
	return late
}

// tickInbound is the first half of tick m: the caller's frame of the slot
// goes to the taps ahead of the RTP sends of every call's runTick. It does
// nothing unless the slot follows the last one ticked (runTick handles
// skipped slots in order).
func (c *Call) tickInbound(m uint64) {
	c.tickMu.Lock()
	defer c.tickMu.Unlock()
	if c.over.Load() || m < c.base || c.edge == nil || c.lateTick != 0 || c.inTick != 0 {
		return
	}
	if n := m - c.base; n == c.lastTick+1 {
		c.popInbound(n)
		c.inTick = n + 1
	}
}

// nextSlotLocked is the first slot a tap attached now gets: the next one
// to tick, or the one after when its inbound frame already went out.
// tickMu must be held.
func (c *Call) nextSlotLocked() uint64 {
	if c.inTick == c.lastTick+2 {
		return c.lastTick + 2
	}
	return c.lastTick + 1
}

// popInbound takes the caller's frame of slot n from the jitter buffer
// (or its concealment) into c.inFrame and pushes it to the inbound track.
// tickMu must be held.
func (c *Call) popInbound(n uint64) []byte {
	in := c.inFrame[:c.edge.format.MaxFrameBytes()]
	if c.edge.pop(n, in) {
		c.framesIn.Add(1)
	} else {
		c.concealed.Add(1)
	}
	c.levelIn.add(c.format, in)
	if stream.TrackSet(c.tapTracks.Load()).Has(stream.TrackInbound) {
		fr := codec.Frame{Format: c.format, Payload: in}
		for _, e := range *c.flows.Load() {
			if n >= e.start {
				e.t.Push(stream.TrackInbound, n, fr)
			}
		}
	}
	return in
}

// flushInbound hands the taps, at once, the caller's audio still held in
// the jitter buffer when the caller hangs up: the slots after the last one
// played, up to the last that holds audio (at most one buffer delay), so
// that its last words reach the streams before they stop. Those slots are
// ahead of the clock (their timestamps up to one delay in the future). The
// outbound track gets silence for them; nothing is sent.
func (c *Call) flushInbound() {
	c.tickMu.Lock()
	defer c.tickMu.Unlock()
	if c.edge == nil || c.flushed || c.over.Load() || len(*c.flows.Load()) == 0 {
		return
	}
	c.flushed = true
	if c.lateTick != 0 {
		c.playOut(c.lateTick-1, false)
		c.lateTick = 0
	}
	size := c.edge.format.MaxFrameBytes()
	if c.inTick == c.lastTick+2 {
		// The slot in progress: its inbound frame went out, its outbound
		// one is silence.
		c.lastTick++
		out := c.outFrame[:size]
		copy(out, c.edge.silence)
		c.outSilent, c.playing = true, false
		c.pushOut(c.lastTick, out)
	}
	c.inTick = 0
	// Pop the buffer's window into frames of their own (once per call,
	// as it ends), then hand on those up to the last with audio.
	slots := int(c.edge.jb.Stats().Delay/frame) + 1
	held := make([]byte, slots*size)
	audio := make([]bool, slots)
	last := -1
	for i := range slots {
		if audio[i] = c.edge.pop(c.lastTick+1+uint64(i), held[i*size:(i+1)*size]); audio[i] {
			last = i
		}
	}
	tracks := stream.TrackSet(c.tapTracks.Load())
	for i := 0; i <= last; i++ {
		c.lastTick++
		in := c.inFrame[:size]
		copy(in, held[i*size:(i+1)*size])
		if audio[i] {
			c.framesIn.Add(1)
		} else {
			c.concealed.Add(1)
		}
		if tracks.Has(stream.TrackInbound) {
			fr := codec.Frame{Format: c.format, Payload: in}
			for _, e := range *c.flows.Load() {
				if c.lastTick >= e.start {
					e.t.Push(stream.TrackInbound, c.lastTick, fr)
				}
			}
		}
		out := c.outFrame[:size]
		copy(out, c.edge.silence)
		c.outSilent, c.playing = true, false
		c.pushOut(c.lastTick, out)
	}
}

// finishTick plays the frame of tick m that runTick found late: what the
// source has now, or silence.
func (c *Call) finishTick(m uint64) {
	c.tickMu.Lock()
	defer c.tickMu.Unlock()
	if c.lateTick == 0 || m < c.base || c.lateTick != m-c.base+1 {
		return
	}
	n := c.lateTick - 1
	c.lateTick = 0
	if c.ctx.Err() != nil {
		return
	}
	got := false
	dst := c.outFrame[:c.edge.format.MaxFrameBytes()]
	if box := c.source.Load(); box != nil {
		c.outSilent = false
		if lr, ok := box.s.(LateReader); ok {
			got = lr.ReadLateFrame(dst)
		} else {
			got = box.s.ReadFrame(dst)
		}
	}
	if got {
		c.lateFrames.Add(1)
	}
	c.playOut(n, got)
}

// playOut sends the frame of slot n to the caller (got: c.outFrame holds
// audio) and hands it to the outbound track, then the slot's mix to the
// mixed track. While nothing plays the caller gets silence in the call's
// codec every tick, or comfort noise now and then if it takes CN, or
// nothing with QuietRTP. tickMu must be held.
func (c *Call) playOut(n uint64, got bool) {
	e := c.edge
	out := c.outFrame[:e.format.MaxFrameBytes()]
	if got {
		c.sendAudio(out)
	} else {
		if !c.outSilent {
			copy(out, e.silence)
		}
		c.sendQuiet()
	}
	c.outSilent = !got
	c.playing = got
	c.pushOut(n, out)
}

// pushOut hands the outbound frame of slot n to the outbound track, and
// the slot's mix to the mixed track. tickMu must be held.
func (c *Call) pushOut(n uint64, out []byte) {
	c.levelOut.add(c.format, out)
	tracks := stream.TrackSet(c.tapTracks.Load())
	if tracks.Has(stream.TrackOutbound) {
		fr := codec.Frame{Format: c.format, Payload: out}
		for _, e := range *c.flows.Load() {
			if n >= e.start {
				e.t.Push(stream.TrackOutbound, n, fr)
			}
		}
	}
	if tracks.Has(stream.TrackMixed) && c.mix != nil {
		in := c.inFrame[:len(out)]
		fr := codec.Frame{Format: c.mix.format, Payload: c.mix.sum(in, out)}
		for _, e := range *c.flows.Load() {
			if n >= e.start {
				e.t.Push(stream.TrackMixed, n, fr)
			}
		}
	}
}

// sendAudio sends one frame of audio; the first after a pause carries the
// marker bit. tickMu must be held.
func (c *Call) sendAudio(frame []byte) {
	if !c.playing && (c.cfg.QuietRTP || c.edge.cnType >= 0) {
		c.sender.MarkTalkspurt() // a talkspurt starts after nothing or comfort noise
	}
	c.skipUnsent()
	payload, err := c.edge.encode(frame)
	if err == nil {
		err = c.sender.WriteFrame(payload)
	}
	if err != nil && c.ctx.Err() == nil {
		c.log.Debug("rtp send", "err", err)
	}
	c.framesOut.Add(1)
	c.quietFor = 0
}

// sendQuiet sends what goes to the caller in a tick where nothing plays:
// silence, comfort noise on the first quiet tick and every cnInterval
// after, or nothing. tickMu must be held.
func (c *Call) sendQuiet() {
	e := c.edge
	q := c.quietFor
	c.quietFor++
	var err error
	switch {
	case c.cfg.QuietRTP:
		c.unsent++ // the RTP timestamp moves on when the next frame is sent
		return
	case e.cnType >= 0:
		if q%cnInterval != 0 {
			c.unsent++
			return
		}
		c.skipUnsent()
		err = c.sender.WriteComfortNoise(uint8(e.cnType), e.quiet)
		c.cnOut.Add(1)
	default:
		c.skipUnsent()
		err = c.sender.WriteFrame(e.wireSil)
		c.silenceOut.Add(1)
	}
	if err != nil && c.ctx.Err() == nil {
		c.log.Debug("rtp send", "err", err)
	}
}

// skipUnsent moves the RTP timestamp past the ticks that sent nothing.
func (c *Call) skipUnsent() {
	if c.unsent > 0 {
		c.sender.Skip(c.unsent)
		c.unsent = 0
	}
}
