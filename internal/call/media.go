package call

import (
	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/stream"
)

// receiveLoop runs the RTP receiver until the socket closes.
func (c *Call) receiveLoop() {
	defer c.wg.Done()
	if err := c.recv.Run((*inbound)(c)); err != nil {
		c.log.Warn("rtp receive ended", "err", err)
	}
}

// inbound adapts Call to rtpio.Handler without exporting the methods.
type inbound Call

// HandleFrame takes one in-order frame of the caller's audio.
func (h *inbound) HandleFrame(payload []byte, pt uint8, lost bool) {
	c := (*Call)(h)
	c.inMu.Lock()
	if !c.inStarted {
		c.inStarted = true
		c.inIndex = c.tick.Load()
	}
	if c.inIndex > c.tick.Load()+inboundAhead {
		c.inMu.Unlock()
		c.inDropped.Add(1)
		return
	}
	frame := c.inScratch[:]
	switch {
	case lost || len(payload) == 0:
		fillSilence(frame)
	case c.alaw:
		codec.TranscodeALawToULaw(frame, payload)
	case len(payload) == frameBytes:
		frame = payload // PCMU passes through as it came
	default:
		n := copy(frame, payload)
		fillSilence(frame[n:])
	}
	c.emitInboundLocked(frame)
	c.inMu.Unlock()
}

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

// emitInboundLocked hands the inbound frame with the next index to the
// flows and keeps it for the mixer. inMu must be held.
func (c *Call) emitInboundLocked(frame []byte) {
	idx := c.inIndex
	c.inIndex++
	if m := c.mix; m != nil {
		slot := idx % ringSize
		copy(m.in[slot][:], frame)
		m.inIdx[slot] = idx + 1
	}
	for _, f := range *c.flows.Load() {
		f.Push(stream.TrackInbound, idx, codec.Frame{Format: codec.PCMU, Payload: frame})
	}
	c.framesIn.Add(1)
}

// runTick is the call's share of the media clock, run every 20 ms by the
// shared Clock with its tick m: it plays one frame to the caller, feeds the
// outbound and mixed tracks, keeps the inbound track continuous and watches
// for RTP inactivity. It must not block. It reports whether the frame to
// play is late: the source was playing and had nothing yet; the clock then
// runs finishTick for the same tick lateGrace later.
func (c *Call) runTick(m uint64) (late bool) {
	c.tickMu.Lock()
	defer c.tickMu.Unlock()
	if c.over.Load() || m < c.base {
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
		c.skipped.Add(skipped)
		c.unsent += int(skipped)
	}
	c.lastTick = n
	c.tick.Store(n)
	c.ticks.Add(1)

	// Outbound: what plays to the caller now. A source that was playing
	// and has nothing yet gets lateGrace more: the audio for this slot
	// may be in a socket whose reader goroutine has not run yet.
	box := c.source.Load()
	if box != nil {
		c.outSilent = false // a source may write into the frame even when it has nothing
	}
	got := box != nil && box.s.ReadFrame(c.outFrame[:])
	late = !got && c.playing
	if late {
		c.lateTick = n + 1
	} else {
		c.playOut(n, got)
	}
	// Inbound continuity: silence for what the caller did not send.
	c.inMu.Lock()
	if !c.inStarted && n >= c.first+startGrace {
		// The caller sent nothing since the answer: the inbound track
		// starts anyway, with silence, from the first tick.
		c.inStarted = true
		c.inIndex = c.first
	}
	if c.inStarted {
		if c.inIndex+inboundLag < n {
			// Fill to fillLag, not to the trigger, so audio that resumes
			// has room for jitter before the next fill.
			for c.inIndex+fillLag < n {
				c.emitInboundLocked(silenceFrame[:])
				c.silenceFilled.Add(1)
			}
		}
	}
	// Mixed: the inbound and outbound frames of the slot mixLag ago.
	var mixIdx uint64
	var flows []Tap
	haveMix := n >= mixLag && stream.TrackSet(c.tapTracks.Load()).Has(stream.TrackMixed)
	if haveMix {
		flows = *c.flows.Load()
		haveMix = wantsTrack(flows, stream.TrackMixed)
	}
	if haveMix {
		mixIdx = n - mixLag
		in := silenceFrame[:]
		c.ensureMixLocked() // normally done by AddTap
		if slot := mixIdx % ringSize; c.mix.inIdx[slot] == mixIdx+1 {
			in = c.mix.in[slot][:]
		}
		media.MixULaw(c.mixBuf[:], in, c.mix.out[mixIdx%ringSize][:])
	}
	c.inMu.Unlock()
	if haveMix {
		for _, f := range flows {
			f.Push(stream.TrackMixed, mixIdx, codec.Frame{Format: codec.PCMU, Payload: c.mixBuf[:]})
		}
	}

	if n%50 == 0 {
		c.checkActivity()
	}
	return late
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
	if box := c.source.Load(); box != nil {
		c.outSilent = false
		if lr, ok := box.s.(LateReader); ok {
			got = lr.ReadLateFrame(c.outFrame[:])
		} else {
			got = box.s.ReadFrame(c.outFrame[:])
		}
	}
	if got {
		c.lateFrames.Add(1)
	}
	c.playOut(n, got)
}

// playOut sends the frame of slot n to the caller (got: c.outFrame holds
// audio; else nothing is sent and the RTP clock moves on) and hands it to
// the outbound track. tickMu must be held.
func (c *Call) playOut(n uint64, got bool) {
	out := c.outFrame[:]
	if got {
		if !c.playing {
			c.sender.MarkTalkspurt()
		}
		payload := out
		if c.alaw {
			for i, b := range out {
				c.wireBuf[i] = codec.ULawToALaw(b)
			}
			payload = c.wireBuf[:]
		}
		if c.unsent > 0 {
			c.sender.Skip(c.unsent)
			c.unsent = 0
		}
		if err := c.sender.WriteFrame(payload); err != nil && c.ctx.Err() == nil {
			c.log.Debug("rtp send", "err", err)
		}
		c.framesOut.Add(1)
	} else {
		if !c.outSilent {
			fillSilence(out)
		}
		c.unsent++ // the RTP timestamp moves on when the next frame is sent
	}
	c.outSilent = !got
	c.playing = got
	if m := c.mix; m != nil {
		copy(m.out[n%ringSize][:], out)
	}
	if stream.TrackSet(c.tapTracks.Load()).Has(stream.TrackOutbound) {
		for _, f := range *c.flows.Load() {
			f.Push(stream.TrackOutbound, n, codec.Frame{Format: codec.PCMU, Payload: out})
		}
	}
}

// wantsTrack reports whether any flow takes track t, so the clock mixes
// only for calls that stream a mixed track.
func wantsTrack(flows []Tap, t stream.Track) bool {
	for _, f := range flows {
		if f.Wants(t) {
			return true
		}
	}
	return false
}

// silenceFrame is 20 ms of µ-law silence; never written.
var silenceFrame = func() (b [frameBytes]byte) {
	for i := range b {
		b[i] = 0xFF
	}
	return b
}()

// fillSilence sets b to µ-law silence (copies, not a byte loop: it runs for
// every call on every tick that plays nothing).
func fillSilence(b []byte) {
	for len(b) > 0 {
		b = b[copy(b, silenceFrame[:]):]
	}
}
