package call

import "github.com/callstream/callstream/internal/stream"

// AddFlow attaches a stream flow to the call's media: from now on it gets
// the tracks it asks for, one frame per 20 ms each.
func (c *Call) AddFlow(f *stream.Flow) { c.AddTap(f) }

// RemoveFlow detaches a flow.
func (c *Call) RemoveFlow(f *stream.Flow) { c.RemoveTap(f) }

// AddTap attaches t to the call's media: from now on it gets the tracks it
// wants, one frame per 20 ms each.
func (c *Call) AddTap(t Tap) {
	c.tickMu.Lock()
	if t.Wants(stream.TrackMixed) {
		// Keep both tracks' recent frames from now on, before the tap's
		// first mixed frame is due.
		c.inMu.Lock()
		c.ensureMixLocked()
		c.inMu.Unlock()
	}
	if start, ok := c.attachStart(t); ok {
		t.Attach(start)
	}
	c.tickMu.Unlock()
	c.flowMu.Lock()
	defer c.flowMu.Unlock()
	old := *c.flows.Load()
	next := make([]Tap, 0, len(old)+1)
	next = append(next, old...)
	next = append(next, t)
	c.tapTracks.Store(uint32(tracksOf(next))) // before the list: a tick never misses the new tap's tracks
	c.flows.Store(&next)
}

// attachStart returns the first slot a new tap gets: the next frame of
// the earliest track it wants (the inbound track runs in arrival order,
// the mixed one mixLag behind). ok is false when it is not known yet: a
// tap of the inbound track before the caller's first packet, whose slot
// is the tick that packet arrives at; such a tap starts at its first
// frame. tickMu must be held.
func (c *Call) attachStart(t Tap) (start uint64, ok bool) {
	start = c.lastTick + 1
	if t.Wants(stream.TrackMixed) && start >= mixLag {
		start = min(start, c.lastTick+1-mixLag)
	}
	if t.Wants(stream.TrackInbound) {
		c.inMu.Lock()
		started, next := c.inStarted, c.inIndex
		c.inMu.Unlock()
		if !started {
			return 0, false
		}
		start = min(start, next)
	}
	return start, true
}

// tracksOf returns the tracks any of taps takes.
func tracksOf(taps []Tap) stream.TrackSet {
	var s stream.TrackSet
	for _, t := range taps {
		for tr := stream.TrackInbound; tr <= stream.TrackMixed; tr++ {
			if t.Wants(tr) {
				s = s.With(tr)
			}
		}
	}
	return s
}

// ensureMixLocked allocates the mixer's rings (slots not yet written mix
// as silence). tickMu and inMu must be held.
func (c *Call) ensureMixLocked() {
	if c.mix != nil {
		return
	}
	c.mix = new(mixRings)
	for i := range c.mix.out {
		fillSilence(c.mix.out[i][:])
	}
}

// RemoveTap detaches t.
func (c *Call) RemoveTap(f Tap) {
	c.flowMu.Lock()
	defer c.flowMu.Unlock()
	old := *c.flows.Load()
	next := make([]Tap, 0, len(old))
	for _, g := range old {
		if g != f {
			next = append(next, g)
		}
	}
	c.flows.Store(&next)
	c.tapTracks.Store(uint32(tracksOf(next)))
}

// SetSource makes s the audio played to the caller, replacing what played
// before (nil: silence). It returns the source it replaced.
func (c *Call) SetSource(s Source) Source {
	var box *sourceBox
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
		if cur == nil || cur.s != s {
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
