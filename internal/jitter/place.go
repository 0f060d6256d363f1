package jitter

import "time"

// place puts p's audio into the slots its timestamps map to under m. A
// part whose slot was already popped (or that would land in another
// timeline's slots) is late and dropped; audio already there is a
// duplicate. It returns the verdict and, for a late packet, how long after
// its first slot's deadline it arrived.
func (b *Buffer) place(m *mapping, p *Packet, units int64, arrival time.Duration) (Verdict, time.Duration) {
	off := m.offset(p.TS)
	if off%b.partUnits != 0 {
		return Misfit, 0 // off the grid of slot parts (of whole slots when not Divisible)
	}
	first := m.refSlot + floorDiv(off, b.spf)
	lastSlot := m.refSlot + floorDiv(off+units-1, b.spf)
	limit := floorDiv(int64(arrival), int64(SlotDuration)) + b.ahead
	if b.popped {
		limit = b.last + b.ahead
	}
	if lastSlot > limit {
		return Overflow, 0
	}
	var placed, late, dup int
	for s := first; s <= lastSlot; s++ {
		slotOff := (s - m.refSlot) * b.spf
		lo := max(off, slotOff) - slotOff             // units into the slot where p's audio starts
		hi := min(off+units, slotOff+b.spf) - slotOff // and ends
		var parts uint16
		if b.divisible {
			parts = partMask(lo/b.partUnits, hi/b.partUnits)
		} else {
			parts = b.fullMask
		}
		ts := m.refTS + uint32(slotOff)
		if b.tooLate(m, s) {
			if b.lateAt(m, s, ts, p.SSRC, parts) {
				late++
			} else {
				dup++
			}
			continue
		}
		e := &b.ring[s&b.mask]
		if e.slot != s || e.state != stateHeld {
			*e = entry{slot: s, ts: ts, ssrc: p.SSRC, state: stateHeld, buf: e.buf}
		} else if e.ts != ts || e.ssrc != p.SSRC {
			late++ // another timeline's audio holds the slot: this one is too late for it
			continue
		}
		if e.have&parts == parts {
			dup++
			continue
		}
		switch {
		case b.divisible:
			src := (slotOff + lo - off) * int64(b.frameBytes) / b.spf
			dst := lo * int64(b.frameBytes) / b.spf
			n := (hi - lo) * int64(b.frameBytes) / b.spf
			copy(e.buf[dst:dst+n], p.Payload[src:src+n])
		case s == first:
			e.n = copy(e.buf, p.Payload)
		default:
			e.covered = true
		}
		e.have |= parts
		placed++
		b.heldMax = max(b.heldMax, s)
		if !b.started {
			b.startAt = min(b.startAt, s)
		}
	}
	if placed+late > 0 {
		if first > m.hi+1 {
			// Slots between the audio seen before and this packet that were
			// popped empty: the sender did send them, they never came.
			b.st.Lost += b.missedBetween(max(m.hi+1, m.floor), first-1)
		}
		m.lo = min(m.lo, first)
		m.hi = max(m.hi, lastSlot)
		if off > m.topOff {
			m.topOff, m.topTS = off, p.TS
		}
		m.endOff = max(m.endOff, off+units)
	}
	switch {
	case placed > 0:
		if late > 0 {
			b.st.Late++
		}
		return Placed, 0
	case late > 0:
		b.st.Late++
		return Late, arrival - time.Duration(first)*SlotDuration
	default:
		return Duplicate, 0
	}
}

// missedBetween counts the slots in [from, to] that the clock popped
// empty; slots older than the ring's history are taken as popped empty
// unless the clock jumped over them.
func (b *Buffer) missedBetween(from, to int64) uint64 {
	if !b.popped {
		return 0
	}
	from, to = max(from, b.firstPop), min(to, b.last)
	if to < from {
		return 0
	}
	inRing := max(from, to-b.mask)
	c := uint64(max(inRing-max(from, b.skipEnd), 0))
	for s := inRing; s <= to; s++ {
		if e := &b.ring[s&b.mask]; e.slot == s && e.state == stateMissed {
			c++
		}
	}
	return c
}

// tooLate says whether slot s can no longer take audio of mapping m: it
// was popped, it is below m's floor, or m is the previous timeline and s
// belongs to the current one.
func (b *Buffer) tooLate(m *mapping, s int64) bool {
	if b.popped && s <= b.last {
		return true
	}
	if s < m.floor {
		return true
	}
	return m == &b.prev && b.cur.live && s >= b.cur.floor
}

// lateAt handles audio (ts, ssrc, parts) for slot s that came too late: it
// returns false if the slot played or already received that audio (a
// duplicate), and true if it is late. The first late audio of a slot that
// was counted Lost makes it Late instead.
func (b *Buffer) lateAt(m *mapping, s int64, ts, ssrc uint32, parts uint16) bool {
	e := &b.ring[s&b.mask]
	if e.slot != s {
		return true // beyond the history: cannot tell
	}
	same := e.ts == ts && e.ssrc == ssrc
	switch e.state {
	case statePlayed, stateHeld, stateSkip:
		return !same || e.have&parts != parts
	case stateLate:
		if !same {
			return true
		}
		if e.have&parts == parts {
			return false
		}
		e.have |= parts
		return true
	case stateMissed:
		if s >= m.lo && s < m.hi && b.st.Lost > 0 {
			b.st.Lost--
		}
		e.state, e.ts, e.ssrc, e.have = stateLate, ts, ssrc, parts
	}
	return true
}

// partMask returns the bits of parts [lo, hi).
func partMask(lo, hi int64) uint16 {
	return uint16((1<<hi - 1) &^ (1<<lo - 1))
}
