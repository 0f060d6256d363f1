package stream

import (
	"sync"
	"sync/atomic"
	"time"
)

// DefaultPlayoutLimit bounds the app audio queued ahead of real time on a
// bidirectional stream.
const DefaultPlayoutLimit = 60 * time.Second

// DefaultMaxMarks bounds the marks waiting for their audio on one playout.
const DefaultMaxMarks = 1000

// maxMarkBytes bounds the bytes of the names of the marks waiting, so that
// long names cannot make the pending marks large either.
const maxMarkBytes = 1 << 20

// Playout holds the audio an app sends to be played into a call. The app may
// send any chunk size at any speed; the call's media clock takes exactly one
// 20 ms frame per tick with ReadFrame, so playback is paced by the call, not
// by the app. Audio beyond the limit is dropped and counted. Clear drops what
// is queued at once. Marks are reported when the audio queued before them has
// been played, or at once on Clear; past MaxMarks pending marks (or 1 MiB
// of their names) the oldest is reported at once, as if its audio had played.
//
// Write, Clear and Mark are called from the socket's reader; ReadFrame from
// the call's media clock.
type Playout struct {
	mu      sync.Mutex
	buf     []byte // ring, grown on demand up to limit bytes
	limit   int
	r, n    int
	written uint64 // bytes ever accepted
	played  uint64 // bytes ever taken by ReadFrame (or cleared)
	marks   []mark // pending marks from markHead on, in order
	markHd  int    // index of the oldest pending mark in marks
	markLen int    // bytes of the pending marks' names
	fresh   bool   // a Write happened since the last ReadFrame
	dropped atomic.Uint64
	fired   []string // scratch for marks to report, reused

	// OnMark is called with each mark's name when it is reached. It runs on
	// the media clock (or the reader on Clear) and must not block.
	OnMark func(name string)
	// OnOverflow is called (outside the lock) with the bytes dropped by a
	// Write that did not fit.
	OnOverflow func(dropped int)
	// MaxMarks bounds the marks waiting for their audio (0: DefaultMaxMarks;
	// negative: no bound). Set it before the playout is used.
	MaxMarks int
}

type mark struct {
	pos  uint64
	name string
}

// NewPlayout returns a playout buffer holding at most limit of 8 kHz µ-law audio.
func NewPlayout(limit time.Duration) *Playout {
	if limit <= 0 {
		limit = DefaultPlayoutLimit
	}
	return &Playout{limit: int(limit / FrameDuration * FrameBytes)}
}

// Ring sizes of a playout: it starts small and doubles as the app queues
// more audio, so a call holds memory for what is queued, not for the limit;
// once it runs empty a ring grown past keepBytes is released.
const (
	minRing   = 16 * FrameBytes // 320 ms
	keepBytes = 64 << 10
)

// growLocked makes room for need queued bytes (never more than the limit).
func (p *Playout) growLocked(need int) {
	size := len(p.buf)
	if size == 0 {
		size = minRing
	}
	for size < need {
		size *= 2
	}
	size = min(size, p.limit)
	if size <= len(p.buf) {
		return
	}
	nb := make([]byte, size)
	if p.n > 0 {
		c := copy(nb, p.buf[p.r:min(p.r+p.n, len(p.buf))])
		copy(nb[c:p.n], p.buf)
	}
	p.buf, p.r = nb, 0
}

// Write queues audio. It returns the bytes accepted; the rest was dropped
// because the buffer was full.
func (p *Playout) Write(b []byte) int {
	p.mu.Lock()
	if p.n+len(b) > len(p.buf) && len(p.buf) < p.limit {
		p.growLocked(p.n + len(b))
	}
	room := len(p.buf) - p.n
	take := len(b)
	if take > room {
		take = room
	}
	if take > 0 {
		w := (p.r + p.n) % len(p.buf)
		c := copy(p.buf[w:], b[:take])
		if c < take {
			copy(p.buf, b[c:take])
		}
	}
	p.n += take
	p.written += uint64(take)
	p.fresh = true
	p.mu.Unlock()
	if drop := len(b) - take; drop > 0 {
		p.dropped.Add(uint64(drop))
		if p.OnOverflow != nil {
			p.OnOverflow(drop)
		}
	}
	return take
}

// ReadFrame fills dst (one frame) with the next audio to play and reports
// whether there was any; when false, dst is untouched and the caller plays
// silence. A partial frame is held back for one tick in case the rest is on
// its way, then played padded with silence.
func (p *Playout) ReadFrame(dst []byte) bool {
	p.mu.Lock()
	want := len(dst)
	got := false
	if p.n >= want || (p.n > 0 && !p.fresh) {
		take := want
		if p.n < take {
			take = p.n
		}
		c := copy(dst, p.buf[p.r:min(p.r+take, len(p.buf))])
		if c < take {
			copy(dst[c:], p.buf[:take-c])
		}
		for i := take; i < want; i++ {
			dst[i] = 0xFF
		}
		p.r = (p.r + take) % len(p.buf)
		p.n -= take
		p.played += uint64(take)
		got = true
		if p.n == 0 {
			p.emptiedLocked()
		}
	}
	p.fresh = false
	var fired []string
	if p.pendingLocked() > 0 {
		p.collectLocked()
		fired = append(fired, p.fired...) // marks are rare: a copy is fine
		p.fired = p.fired[:0]
	}
	p.mu.Unlock()
	p.report(fired)
	return got
}

// emptiedLocked rewinds an empty ring, so the next audio is written from its
// start and only the pages in use stay resident, and releases a ring grown
// large for a burst.
func (p *Playout) emptiedLocked() {
	p.r = 0
	if len(p.buf) > keepBytes {
		p.buf = nil
	}
}

// collectLocked moves reached marks to p.fired.
func (p *Playout) collectLocked() {
	for p.pendingLocked() > 0 && p.marks[p.markHd].pos <= p.played {
		p.fired = append(p.fired, p.popMarkLocked())
	}
}

func (p *Playout) pendingLocked() int { return len(p.marks) - p.markHd }

// popMarkLocked removes the oldest pending mark and returns its name.
func (p *Playout) popMarkLocked() string {
	m := &p.marks[p.markHd]
	name := m.name
	m.name = ""
	p.markHd++
	p.markLen -= len(name)
	switch {
	case p.markHd == len(p.marks):
		p.marks, p.markHd = p.marks[:0], 0
	case p.markHd > 64 && p.markHd*2 > len(p.marks):
		// Slide the pending marks to the front now and then, so the slice
		// does not grow with marks long gone.
		n := copy(p.marks, p.marks[p.markHd:])
		clear(p.marks[n:])
		p.marks, p.markHd = p.marks[:n], 0
	}
	return name
}

// ReadLateFrame is ReadFrame for a second look within the same tick (the
// call's clock grants a playing source a few ms of grace): it plays only a
// whole frame, so a partial frame keeps its full tick to be completed.
func (p *Playout) ReadLateFrame(dst []byte) bool {
	p.mu.Lock()
	whole := p.n >= len(dst)
	p.mu.Unlock()
	return whole && p.ReadFrame(dst)
}

func (p *Playout) report(names []string) {
	if p.OnMark == nil {
		return
	}
	for _, n := range names {
		p.OnMark(n)
	}
}

// Clear drops every queued byte at once; pending marks are reported now.
func (p *Playout) Clear() {
	p.mu.Lock()
	p.played += uint64(p.n)
	p.r, p.n = 0, 0
	p.emptiedLocked()
	p.fresh = false
	p.collectLocked()
	fired := append([]string(nil), p.fired...)
	p.fired = p.fired[:0]
	p.mu.Unlock()
	p.report(fired)
}

// Mark queues a mark after the audio written so far. When more marks than
// MaxMarks (or more than 1 MiB of names) would be pending, the oldest are
// reported at once through OnMark, as if their audio had played; Mark
// returns how many were.
func (p *Playout) Mark(name string) (early int) {
	limit := p.markLimit()
	p.mu.Lock()
	p.marks = append(p.marks, mark{pos: p.written, name: name})
	p.markLen += len(name)
	for p.pendingLocked() > 1 && ((limit > 0 && p.pendingLocked() > limit) || p.markLen > maxMarkBytes) {
		p.fired = append(p.fired, p.popMarkLocked())
		early++
	}
	var fired []string
	if early > 0 {
		fired = append(fired, p.fired...)
		p.fired = p.fired[:0]
	}
	p.mu.Unlock()
	p.report(fired)
	return early
}

// markLimit returns the bound on pending marks (negative: none).
func (p *Playout) markLimit() int {
	if p.MaxMarks == 0 {
		return DefaultMaxMarks
	}
	return p.MaxMarks
}

// PendingMarks returns the marks waiting for their audio.
func (p *Playout) PendingMarks() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pendingLocked()
}

// Buffered returns the audio waiting to be played.
func (p *Playout) Buffered() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return time.Duration(p.n) * time.Second / 8000
}

// Dropped returns the bytes dropped because the buffer was full.
func (p *Playout) Dropped() uint64 { return p.dropped.Load() }
