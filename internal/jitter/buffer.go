package jitter

import (
	"math"
	"sync"
	"time"
)

// Timeline bounds, in slots.
const (
	// jumpSlots: a timestamp more than this many slots (1 s) away from the
	// timeline breaks it (a jump).
	jumpSlots = 50
	// gapSlots: a packet at least this many slots past the end of the
	// audio seen, arriving when nothing is held, with the sequence number
	// that follows the last one, starts a new talkspurt even without a
	// marker bit.
	gapSlots = 3
	// maxSpanSlots is the most slots one packet's audio may touch (an
	// 80 ms packet aligned, or 60 ms across slot boundaries).
	maxSpanSlots = 5
	// historySlots is how many popped slots the ring keeps to tell a late
	// duplicate from a late packet.
	historySlots = 8
	// maxParts is how finely a Divisible slot's coverage is tracked.
	maxParts = 16
)

const (
	// resyncAfter: when the newest packets keep arriving late for this
	// long without catching up (a slower sender clock, a longer network
	// path), the timeline is anchored anew at the next late one. The
	// packets of a burst after a stall arrive within a millisecond or two
	// and catch up; two packets a slot apart, both late, do not.
	resyncAfter = 15 * time.Millisecond
	// probeMaxAge is how long a probation packet waits for the packet
	// that confirms it.
	probeMaxAge = time.Second
)

// maxArrival bounds the arrival times Put takes (about 73 years either
// way), so slot arithmetic cannot overflow.
const maxArrival = time.Duration(1 << 61)

// noSlot is below every slot the clock pops.
const noSlot = math.MinInt64 / 4

// cause says why a packet starts a new timeline.
type cause uint8

const (
	causeNone   cause = iota
	causeFirst        // the first packet
	causeMarker       // marker bit: a talkspurt starts
	causeGap          // a pause without a marker bit: a talkspurt starts
	causeSSRC         // a new source
	causeJump         // a timestamp jump
	causeEarly        // too far ahead of the clock
	causeResync       // the newest packets stay late
)

// Buffer is a jitter buffer for one RTP stream of one call. Put places
// each packet's audio in the slot of the call's media clock that its RTP
// timestamp maps to; the clock calls Pop once per slot and gets that
// audio, or Lost when nothing was there by the slot's deadline. See the
// package documentation for the model.
//
// A Buffer is safe for one goroutine calling Put (the RTP reader) and
// another calling Pop and Stats (the clock): a mutex guards the state, held
// only for the bookkeeping of one call, never across I/O. Put and Pop do
// not allocate.
type Buffer struct {
	mu sync.Mutex

	// Fixed at New.
	spf        int64 // timestamp units per slot
	frameBytes int   // Config.MaxPayload
	divisible  bool
	partUnits  int64  // timestamp units per coverage part (Divisible)
	partBytes  int    // bytes per coverage part (Divisible)
	fullMask   uint16 // every part of a slot
	silence    []byte // owned copy of Config.Silence
	fixed      time.Duration
	minDelay   time.Duration
	maxDelay   time.Duration
	jumpUnits  int64
	gapUnits   int64
	ahead      int64   // farthest slot past the last popped one a packet may fill
	ring       []entry // slot n lives in ring[n&mask]
	mask       int64
	probe      probe

	// The clock's side.
	popped   bool  // Pop has run
	firstPop int64 // the first slot popped
	skipEnd  int64 // the end of the last run of slots the clock jumped over (exclusive)
	last     int64 // the last slot popped
	started  bool  // a slot with audio has been due
	startAt  int64 // lowest slot audio was placed in before started
	heldMax  int64 // highest slot with audio not yet popped (≤ last: nothing held)

	// The timeline: the current mapping from timestamps to slots and the
	// one before it, for packets that arrive after a new one began.
	cur, prev mapping
	applied   time.Duration // the delay the current mapping was given
	est       estimator

	// Reordering and late-run tracking of the current source.
	seqSSRC     uint32
	seqTop      uint16
	seqKnown    bool
	frontAt     time.Duration // arrival of the current timeline's newest packet
	frontMarker bool          // whether it carried the marker bit
	lateSeen    bool          // audio of the current timeline came late since it began: it may grow
	lateRun     bool
	runStart    time.Duration // arrival of the run's first late packet
	runLate     time.Duration // how late that packet was

	st Stats // counters; the durations are filled in by Stats
}

// mapping maps the timestamps of one talkspurt (or of one run of audio
// between two changes of the delay) to slots.
type mapping struct {
	live    bool
	ssrc    uint32
	refTS   uint32 // timestamp at offset 0: the start of slot refSlot
	refSlot int64
	topTS   uint32 // timestamp of the newest packet, to unwrap others against
	topOff  int64  // its offset from refTS
	endOff  int64  // end of the furthest audio seen (offset + units)
	floor   int64  // lowest slot this mapping may fill
	lo, hi  int64  // lowest and highest slot that audio (placed or late) mapped to; hi < lo: none yet
}

// offset returns ts's distance from m.refTS in timestamp units, unwrapped
// against the newest timestamp, so it stays right across the 2^32 wrap.
func (m *mapping) offset(ts uint32) int64 {
	return m.topOff + int64(int32(ts-m.topTS))
}

// owns says whether p belongs to m's timeline: the same source and a
// timestamp within jump of what m has seen.
func (m *mapping) owns(p *Packet, jump int64) bool {
	if !m.live || p.SSRC != m.ssrc {
		return false
	}
	off := m.offset(p.TS)
	return off >= -jump && off <= m.topOff+jump
}

// Slot states of a ring entry.
const (
	stateFree   uint8 = iota
	stateHeld         // audio waiting for its slot
	statePlayed       // popped with audio
	stateMissed       // popped empty
	stateLate         // popped empty, then its audio came late
	stateSkip         // never popped: the clock jumped over it
)

// entry is one slot of the ring.
type entry struct {
	slot    int64
	ts      uint32 // timestamp at the start of the slot
	ssrc    uint32
	state   uint8
	covered bool   // a not-Divisible packet of an earlier slot covers this one
	have    uint16 // coverage parts filled (Divisible); fullMask when a whole packet is here
	n       int    // payload bytes (not Divisible)
	buf     []byte // MaxPayload bytes, owned
}

// probe is a packet on probation (see Probation).
type probe struct {
	live    bool
	cause   cause
	p       Packet // Payload aliases buf
	units   int64
	arrival time.Duration
	buf     []byte // owned, the largest packet's size
}

// New returns a Buffer for cfg, or an error wrapping ErrInvalidConfig. It
// allocates everything the buffer uses: a ring of slots covering
// MaxDelay ahead of the clock and a short history, each with a MaxPayload
// buffer.
func New(cfg Config) (*Buffer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	b := &Buffer{
		spf:        int64(cfg.SamplesPerFrame),
		frameBytes: cfg.MaxPayload,
		divisible:  cfg.Divisible,
		fixed:      cfg.Delay,
		minDelay:   cfg.MinDelay,
		maxDelay:   cfg.MaxDelay,
		heldMax:    noSlot,
	}
	b.jumpUnits = jumpSlots * b.spf
	b.gapUnits = gapSlots * b.spf
	b.ahead = int64((cfg.MaxDelay+SlotDuration-1)/SlotDuration) + maxSpanSlots + 1
	size := int64(1)
	for size < b.ahead+historySlots+1 {
		size <<= 1
	}
	b.mask = size - 1
	parts := 1
	if b.divisible {
		b.silence = append([]byte(nil), cfg.Silence...)
		for p := maxParts; p > 1; p >>= 1 {
			if cfg.SamplesPerFrame%p == 0 && cfg.MaxPayload%p == 0 {
				parts = p
				break
			}
		}
	}
	b.partUnits = b.spf / int64(parts)
	b.partBytes = cfg.MaxPayload / parts
	b.fullMask = uint16(1<<parts - 1)
	store := make([]byte, int(size)*cfg.MaxPayload)
	b.ring = make([]entry, size)
	for i := range b.ring {
		b.ring[i] = entry{slot: noSlot, buf: store[i*cfg.MaxPayload : (i+1)*cfg.MaxPayload : (i+1)*cfg.MaxPayload]}
	}
	probeBytes := cfg.MaxPayload
	if b.divisible {
		probeBytes = (maxSpanSlots - 1) * cfg.MaxPayload
	}
	b.probe.buf = make([]byte, probeBytes)
	b.est.nsPerUnit = float64(SlotDuration) / float64(b.spf)
	b.applied = b.startDelay()
	return b, nil
}

// StartDelay is the delay the first timeline gets: its anchor packet goes
// to the first slot due at least half of it after the packet's arrival.
func (b *Buffer) StartDelay() time.Duration { return b.startDelay() }

// startDelay is the delay of the first timeline.
func (b *Buffer) startDelay() time.Duration {
	if b.fixed > 0 {
		return b.fixed
	}
	return b.minDelay
}

// Put places one packet that arrived at arrival, the time since slot 0 was
// due on the clock that calls Pop (slot n is due at n × SlotDuration). It
// copies the audio it keeps and returns what it did.
func (b *Buffer) Put(p Packet, arrival time.Duration) Verdict {
	arrival = min(max(arrival, -maxArrival), maxArrival)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.st.Packets++
	units, ok := b.unitsOf(&p)
	if !ok {
		b.st.Misfit++
		return Misfit
	}
	m, c := b.route(&p, arrival)
	switch c {
	case causeNone:
	case causeFirst, causeMarker, causeGap:
		b.reanchor(p.SSRC, p.TS, arrival, c)
		m = &b.cur
	default:
		return b.probation(&p, units, arrival, c)
	}
	front := m == &b.cur && m.offset(p.TS) > m.topOff
	lateBefore := b.st.Late
	v, lateness := b.place(m, &p, units, arrival)
	if m == &b.cur && b.st.Late != lateBefore {
		b.lateSeen = true
		// The delay in force was too short by lateness: the target rises
		// above it at once (and decays like a spike), so the buffer grows
		// where the audio comes late instead of losing it again.
		b.est.sawLate(b.applied + lateness)
	}
	switch {
	case v == Overflow && m == &b.cur:
		return b.probation(&p, units, arrival, causeEarly)
	case v == Late && front:
		if b.lateRun && b.persistentlyLate(arrival, lateness) {
			b.reanchor(p.SSRC, p.TS, arrival, causeResync)
			v, _ = b.place(&b.cur, &p, units, arrival)
		} else if !b.lateRun {
			b.lateRun, b.runStart, b.runLate = true, arrival, lateness
		}
	case v == Placed && front:
		b.lateRun = false
	}
	if front && (v == Placed || v == Late) {
		b.frontAt, b.frontMarker = arrival, p.Marker
	}
	b.count(v, &p, arrival, m == &b.cur || v != Placed && v != Late)
	return v
}

// persistentlyLate says whether the newest packets have been late for
// resyncAfter without catching up at least half as fast as time passed (a
// burst after a stall catches up; a slower clock or longer path does not).
func (b *Buffer) persistentlyLate(arrival, lateness time.Duration) bool {
	el := arrival - b.runStart
	return el >= resyncAfter && lateness >= b.runLate-el/2
}

// count updates the counters for a packet Put handled with verdict v,
// and, if it belongs to the current timeline (current), the jitter
// estimate and the reordering count: a packet of the previous timeline
// (another source, or from before a jump) says nothing about either.
func (b *Buffer) count(v Verdict, p *Packet, arrival time.Duration, current bool) {
	switch v {
	case Placed, Late:
		if v == Placed {
			b.st.Placed++
		}
		if !current {
			return
		}
		b.est.observe(p.TS, arrival)
		if !b.seqKnown || b.seqSSRC != p.SSRC {
			b.seqKnown, b.seqSSRC, b.seqTop = true, p.SSRC, p.Seq
			return
		}
		if int16(p.Seq-b.seqTop) < 0 {
			if v == Placed {
				b.st.Reordered++
			}
			return
		}
		b.seqTop = p.Seq
	case Duplicate:
		b.st.Duplicates++
	case Overflow:
		b.st.Overflow++
	case Misfit:
		b.st.Misfit++
	}
}

// unitsOf returns how many timestamp units p's payload covers, or false if
// it cannot be placed.
func (b *Buffer) unitsOf(p *Packet) (int64, bool) {
	n := int64(len(p.Payload))
	if n == 0 {
		return 0, false
	}
	if b.divisible {
		u := n * b.spf
		if u%int64(b.frameBytes) != 0 {
			return 0, false
		}
		u /= int64(b.frameBytes)
		if u%b.partUnits != 0 || u > (maxSpanSlots-1)*b.spf {
			return 0, false
		}
		return u, true
	}
	if n > int64(b.frameBytes) {
		return 0, false
	}
	u := int64(p.Units)
	if u == 0 {
		u = b.spf
	}
	if u%b.spf != 0 || u > (maxSpanSlots-1)*b.spf {
		return 0, false
	}
	return u, true
}

// route picks the mapping p belongs to, or says why p starts a new one.
func (b *Buffer) route(p *Packet, arrival time.Duration) (*mapping, cause) {
	c := &b.cur
	if !c.live {
		return nil, causeFirst
	}
	if p.SSRC != c.ssrc {
		if b.prev.owns(p, b.jumpUnits) {
			return &b.prev, causeNone
		}
		return nil, causeSSRC
	}
	off := c.offset(p.TS)
	if off < 0 && b.prev.owns(p, b.jumpUnits) {
		return &b.prev, causeNone // from before the current talkspurt
	}
	if off < -b.jumpUnits || off > c.topOff+b.jumpUnits {
		if b.prev.owns(p, b.jumpUnits) {
			return &b.prev, causeNone
		}
		return nil, causeJump
	}
	if off > c.topOff {
		idle := b.idle()
		// A talkspurt starts after a pause: the timestamps skip it, or (a
		// sender that does not advance them over silence) nothing arrived
		// for a while. A marker bit on a packet that follows on, or from a
		// sender that marks every packet, says nothing.
		pause := off > c.endOff || idle && arrival-b.frontAt >= gapSlots*SlotDuration
		if p.Marker && !b.frontMarker && pause {
			return nil, causeMarker
		}
		if idle && off >= c.endOff+b.gapUnits && b.seqKnown && b.seqSSRC == p.SSRC && p.Seq == b.seqTop+1 {
			// The timestamps skip while the sequence numbers do not: the
			// sender paused (a lost or delayed run of packets skips both).
			return nil, causeGap
		}
	}
	return c, causeNone
}

// idle says whether no audio is held for slots not yet popped.
func (b *Buffer) idle() bool {
	return !b.popped || b.heldMax <= b.last
}

// reanchor starts a new timeline at the packet (ssrc, ts) that arrived at
// arrival: its slot is the first whose deadline is at least half the delay
// after arrival (so a packet is held between d/2 and d/2 + one slot, d on
// average: the clock's slots and the sender's packets have unrelated
// phases), and never one already popped or before audio still held.
func (b *Buffer) reanchor(ssrc, ts uint32, arrival time.Duration, c cause) {
	if c != causeFirst {
		b.prev = b.cur
		b.st.Reanchors++
	}
	d := b.nextDelay(c)
	start := ceilDiv(int64(arrival+d/2), int64(SlotDuration))
	floor := b.heldMax + 1
	if c == causeEarly {
		floor = noSlot // the backlog gives way (see flushFrom)
	}
	if b.popped {
		floor = max(floor, b.last+1)
	}
	start = max(start, floor)
	if c == causeEarly {
		b.flushFrom(start)
	}
	b.cur = mapping{
		live: true, ssrc: ssrc,
		refTS: ts, refSlot: start,
		topTS: ts - 1, topOff: -1,
		floor: floor, lo: start, hi: start - 1,
	}
	b.applied = d
	b.frontAt, b.frontMarker = arrival, false
	b.est.restart()
	b.lateRun, b.lateSeen = false, false
	if !b.started && (c == causeFirst || start < b.startAt) {
		b.startAt = start
	}
}

// flushFrom drops the audio held in slots from start on: the backlog of a
// sender that ran further ahead of the clock than the buffer holds, which
// the new timeline starting at start replaces.
func (b *Buffer) flushFrom(start int64) {
	for s := max(start, b.heldMax-b.mask); s <= b.heldMax; s++ {
		if e := &b.ring[s&b.mask]; e.slot == s && e.state == stateHeld {
			*e = entry{slot: noSlot, buf: e.buf}
			b.st.Flushed++
		}
	}
	b.heldMax = min(b.heldMax, start-1)
	b.prev.hi = min(b.prev.hi, start-1)
}

// nextDelay is the delay of a new timeline: the fixed one, or the adaptive
// target, coming down by at most one slot at a time.
func (b *Buffer) nextDelay(c cause) time.Duration {
	if b.fixed > 0 {
		return b.fixed
	}
	t := b.est.target(b.minDelay, b.maxDelay)
	if c != causeFirst {
		t = max(t, b.applied-SlotDuration)
	}
	return t
}

// probation keeps p aside as the possible start of a new timeline, or, if
// p continues the packet kept aside before, anchors the new timeline at
// that one and places both.
func (b *Buffer) probation(p *Packet, units int64, arrival time.Duration, c cause) Verdict {
	pr := &b.probe
	if pr.live && p.SSRC == pr.p.SSRC && p.Seq == pr.p.Seq+1 && arrival-pr.arrival <= probeMaxAge {
		if d := int64(int32(p.TS - pr.p.TS)); d > 0 && d <= b.jumpUnits {
			pr.live = false
			b.reanchor(pr.p.SSRC, pr.p.TS, pr.arrival, pr.cause)
			v, _ := b.place(&b.cur, &pr.p, pr.units, pr.arrival)
			b.count(v, &pr.p, pr.arrival, true)
			v, _ = b.place(&b.cur, p, units, arrival)
			b.count(v, p, arrival, true)
			b.frontAt, b.frontMarker = arrival, p.Marker
			return v
		}
	}
	pr.live, pr.cause, pr.units, pr.arrival = true, c, units, arrival
	pr.p = *p
	pr.p.Payload = pr.buf[:copy(pr.buf, p.Payload)]
	b.st.Probation++
	return Probation
}

// floorDiv is a/b rounded towards minus infinity (b > 0).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// ceilDiv is a/b rounded towards plus infinity (b > 0).
func ceilDiv(a, b int64) int64 {
	return -floorDiv(-a, b)
}
