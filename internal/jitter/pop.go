package jitter

import "time"

// MaxSlot is the largest slot Pop takes (2^60 slots of 20 ms outlast any
// call); Pop returns Stale beyond it.
const MaxSlot = 1 << 60

// Pop returns the audio for slot. The media clock calls it once per slot,
// when the slot is due, with increasing slots; a slot it jumps over is
// dropped (Stats.Skipped). The payload is the slot's buffer, valid until the
// next Pop; Put never writes to it meanwhile.
//
// Before the first packet's slot Pop returns NotStarted; then Audio (or
// Partial, or Covered) when the slot's audio is there, and Lost when it is
// not: the caller conceals the slot, and audio for it that comes later is
// dropped as Late.
//
// An adaptive buffer changes its delay here too, only across a slot popped
// Lost: it grows (the following audio waits longer) when nothing is held
// and audio came late, and shrinks by one slot when later audio is held
// (the next slot's audio plays now instead of the concealment), never
// dropping audio that arrived.
func (b *Buffer) Pop(slot uint64) ([]byte, Status) {
	if slot > MaxSlot {
		return nil, Stale
	}
	n := int64(slot)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.popped && n <= b.last {
		return nil, Stale
	}
	if b.popped && n > b.last+1 {
		b.skip(b.last+1, n)
	}
	if !b.popped {
		b.firstPop = n
	}
	b.popped, b.last = true, n
	if !b.started {
		if !b.cur.live || n < b.startAt {
			return nil, NotStarted
		}
		b.started = true
	}
	e := &b.ring[n&b.mask]
	if e.slot == n && e.state == stateHeld {
		return b.deliver(e)
	}
	b.markMissed(e, n)
	if b.hole(n) {
		b.st.Lost++
	}
	if b.fixed == 0 {
		if b.idle() {
			b.grow(n)
		} else if b.shrink(n) {
			return b.deliver(&b.ring[n&b.mask])
		}
	}
	b.st.Concealed++
	return nil, Lost
}

// Stats returns the estimates and counters.
func (b *Buffer) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.st
	s.Jitter = time.Duration(b.est.jitter)
	s.Delay = b.applied
	s.Target = b.fixed
	if b.fixed == 0 {
		s.Target = b.est.target(b.minDelay, b.maxDelay)
	}
	return s
}

// deliver pops a slot that holds audio.
func (b *Buffer) deliver(e *entry) ([]byte, Status) {
	e.state = statePlayed
	switch {
	case e.covered:
		b.st.Covered++
		return nil, Covered
	case !b.divisible:
		b.st.Frames++
		return e.buf[:e.n], Audio
	case e.have == b.fullMask:
		b.st.Frames++
		return e.buf, Audio
	}
	for i := 0; 1<<i <= int(b.fullMask); i++ {
		if e.have&(1<<i) == 0 {
			at := i * b.partBytes
			copy(e.buf[at:at+b.partBytes], b.silence[at:])
		}
	}
	b.st.Frames++
	b.st.Partial++
	return e.buf, Partial
}

// markMissed records slot n as popped without audio.
func (b *Buffer) markMissed(e *entry, n int64) {
	var ts uint32
	if b.cur.live {
		ts = b.cur.refTS + uint32((n-b.cur.refSlot)*b.spf)
	}
	*e = entry{slot: n, ts: ts, ssrc: b.cur.ssrc, state: stateMissed, buf: e.buf}
}

// hole says whether slot n lies inside the audio of a timeline: audio
// mapped to slots on both sides of it.
func (b *Buffer) hole(n int64) bool {
	for _, m := range [...]*mapping{&b.cur, &b.prev} {
		if m.live && n >= m.lo && n < m.hi {
			return true
		}
	}
	return false
}

// skip drops slots [from, to), which the clock jumped over.
func (b *Buffer) skip(from, to int64) {
	b.st.Skipped += uint64(to - from)
	b.skipEnd = to
	for s := max(from, to-int64(len(b.ring))); s < to; s++ {
		e := &b.ring[s&b.mask]
		if e.slot != s {
			*e = entry{slot: s, buf: e.buf}
		}
		e.state = stateSkip
	}
}

// grow raises the delay to the adaptive target when slot n was popped
// Lost, nothing is held, and audio of the timeline came late since it
// began (a stall alone, whose burst lands in its own slots, does not move
// the timeline): the audio that follows maps that many slots later. Nothing that arrived is moved; the slots in between are
// concealed as n was.
func (b *Buffer) grow(n int64) {
	old := b.cur
	if !old.live || !b.lateSeen {
		return
	}
	t := b.est.target(b.minDelay, b.maxDelay)
	if t <= b.applied {
		return
	}
	steps := min(ceilDiv(int64(t-b.applied), int64(SlotDuration)), int64((b.maxDelay-b.applied)/SlotDuration))
	if steps <= 0 {
		return
	}
	k := ceilDiv(old.endOff, b.spf) // the first slot after the audio seen
	refTS := old.refTS + uint32(k*b.spf)
	refSlot := old.refSlot + k + steps
	b.prev = old
	b.cur = mapping{
		live: true, ssrc: old.ssrc,
		refTS: refTS, refSlot: refSlot,
		topTS: refTS - 1, topOff: -1,
		floor: n + 1, lo: refSlot, hi: refSlot - 1,
	}
	b.applied += time.Duration(steps) * SlotDuration
	b.lateRun, b.lateSeen = false, false
	b.st.Resizes++
}

// shrink lowers the delay by one slot when slot n was popped Lost, the
// adaptive target is at least a slot below the delay, and the next slot
// of the current timeline holds audio: every held slot moves one earlier,
// so that audio plays now in place of the concealment. It returns whether
// it did.
func (b *Buffer) shrink(n int64) bool {
	c := &b.cur
	if !c.live || n < c.floor || n < c.lo {
		return false
	}
	if b.applied-b.est.target(b.minDelay, b.maxDelay) < SlotDuration {
		return false
	}
	if next := &b.ring[(n+1)&b.mask]; next.slot != n+1 || next.state != stateHeld {
		return false
	}
	for s := n + 1; s <= b.heldMax; s++ {
		i, j := (s-1)&b.mask, s&b.mask
		b.ring[i], b.ring[j] = b.ring[j], b.ring[i]
		if b.ring[i].slot == s {
			b.ring[i].slot = s - 1
		} else {
			b.ring[i].slot, b.ring[i].state = noSlot, stateFree
		}
	}
	vacated := &b.ring[b.heldMax&b.mask]
	*vacated = entry{slot: noSlot, buf: vacated.buf}
	b.heldMax--
	c.refSlot--
	c.hi--
	b.applied -= SlotDuration
	b.st.Resizes++
	return true
}
