package call

import (
	"github.com/callstream/callstream/internal/stream"
)

// AddFlow attaches a stream flow to the call's media: from now on it gets
// the tracks it asks for, one frame per 20 ms each.
func (c *Call) AddFlow(f *stream.Flow) { c.AddTap(f) }

// RemoveFlow detaches a flow.
func (c *Call) RemoveFlow(f *stream.Flow) { c.RemoveTap(f) }

// tapEntry is an attached tap and the first slot it gets.
type tapEntry struct {
	t     Tap
	start uint64
}

// AddTap attaches t to the call's media: from the next slot of the media
// clock on (or the first, before the media starts) it gets every track it
// wants, one frame per slot each; Attach tells it that slot.
func (c *Call) AddTap(t Tap) {
	c.flowMu.Lock()
	defer c.flowMu.Unlock()
	c.tickMu.Lock()
	defer c.tickMu.Unlock()
	if !c.started {
		c.pending = append(c.pending, t)
		return
	}
	c.attachLocked(t, c.nextSlotLocked())
}

// attachLocked attaches t from slot start. flowMu and tickMu must be held.
func (c *Call) attachLocked(t Tap, start uint64) {
	if t.Wants(stream.TrackMixed) {
		c.ensureMixLocked()
	}
	t.Attach(start)
	old := *c.flows.Load()
	next := make([]tapEntry, 0, len(old)+1)
	next = append(next, old...)
	next = append(next, tapEntry{t: t, start: start})
	c.tapTracks.Store(uint32(tracksOf(next))) // before the list: a tick never misses the new tap's tracks
	c.flows.Store(&next)
}

// tracksOf returns the tracks any of taps takes.
func tracksOf(taps []tapEntry) stream.TrackSet {
	var s stream.TrackSet
	for _, e := range taps {
		for tr := stream.TrackInbound; tr <= stream.TrackMixed; tr++ {
			if e.t.Wants(tr) {
				s = s.With(tr)
			}
		}
	}
	return s
}

// ensureMixLocked makes the mixer of the call's format. tickMu must be
// held and the media started.
func (c *Call) ensureMixLocked() {
	if c.mix != nil {
		return
	}
	m, err := newMixer(c.format)
	if err != nil {
		// Every format a call runs in decodes; this is a bug.
		c.log.Error("mixed track unavailable", "codec", c.format.String(), "err", err)
		return
	}
	c.mix = m
}

// RemoveTap detaches t.
func (c *Call) RemoveTap(t Tap) {
	c.flowMu.Lock()
	defer c.flowMu.Unlock()
	c.tickMu.Lock()
	for i, p := range c.pending {
		if p == t {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			break
		}
	}
	c.tickMu.Unlock()
	old := *c.flows.Load()
	next := make([]tapEntry, 0, len(old))
	for _, e := range old {
		if e.t != t {
			next = append(next, e)
		}
	}
	c.flows.Store(&next)
	c.tapTracks.Store(uint32(tracksOf(next)))
}

// SetSource makes s the audio played to the caller, replacing what played
// before (nil: silence). s plays frames in the call's Format (a
// FormatSource is told it first). It returns the source it replaced.
func (c *Call) SetSource(s Source) Source {
	var box *sourceBox
	if fs, ok := s.(FormatSource); ok {
		fs.UseFormat(c.Format())
	}
	if s != nil {
		box = &sourceBox{s: s}
	}
	old := c.source.Swap(box)
	if old == nil {
		return nil
	}
	return old.s
}

// ClearSource stops s if it is still the source playing.
func (c *Call) ClearSource(s Source) {
	for {
		cur := c.source.Load()
		if cur == nil || !cur.plays(s) {
			return
		}
		if c.source.CompareAndSwap(cur, nil) {
			return
		}
	}
}

// OnDTMF registers fn for every DTMF digit the caller sends; the returned
// func unregisters it. fn runs on the RTP goroutine and must not block.
func (c *Call) OnDTMF(fn func(digit byte)) (cancel func()) {
	sub := &dtmfSub{fn: fn}
	c.mu.Lock()
	c.dtmfSubs = append(c.dtmfSubs, sub)
	c.mu.Unlock()
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, s := range c.dtmfSubs {
			if s == sub {
				c.dtmfSubs = append(c.dtmfSubs[:i], c.dtmfSubs[i+1:]...)
				return
			}
		}
	}
}

// plays reports whether the box holds s, or s adapted by ULaw.
func (b *sourceBox) plays(s Source) bool {
	if b.s == s {
		return true
	}
	u, ok := b.s.(*ulawSource)
	return ok && u.s == s
}
