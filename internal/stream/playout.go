package stream

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callstream/callstream/internal/codec"
)

// DefaultPlayoutLimit bounds the app audio queued ahead of real time on a
// bidirectional stream.
const DefaultPlayoutLimit = 60 * time.Second

// DefaultMaxMarks bounds the marks waiting for their audio on one playout.
const DefaultMaxMarks = 1000

// maxMarkBytes bounds the bytes of the names of the marks waiting, so that
// long names cannot make the pending marks large either.
const maxMarkBytes = 1 << 20

// Playout holds the audio an app sends to be played into a call. The app
// sends it in its stream's wire format; Write converts it once into the
// call's format (the bytes themselves when both are the same encoding, e.g.
// µ-law to a PCMU caller, A-law to a PCMA one). The app may send any chunk
// size at any speed; the call's media clock takes exactly one
// 20 ms frame per tick with ReadFrame, so playback is paced by the call, not
// by the app. Audio beyond the limit is dropped and counted. Clear drops what
// is queued at once. Marks are reported when the audio queued before them has
// been played, or at once on Clear; past MaxMarks pending marks (or 1 MiB
// of their names) the oldest is reported at once, as if its audio had played.
//
// Write, Clear and Mark are called from the socket's reader; ReadFrame from
// the call's media clock.
type Playout struct {
	wire, call codec.Format
	frame      int    // bytes of one 20 ms frame in the call's format
	silence    []byte // one frame of silence in the call's format: pads a short frame

	// convMu serializes Write, Clear and SetWire around the converter
	// (nil: the formats are the same encoding); out is the converted audio
	// of one Write.
	convMu sync.Mutex
	conv   codec.Writer[[]byte]
	out    []byte

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
	// Write that did not fit, in the call's format.
	OnOverflow func(dropped int)
	// MaxMarks bounds the marks waiting for their audio (0: DefaultMaxMarks;
	// negative: no bound). Set it before the playout is used.
	MaxMarks int
}

type mark struct {
	pos  uint64
	name string
}

// NewPlayout returns a playout buffer taking app audio in the wire format
// and holding at most limit of it in the call's format, in which ReadFrame
// hands out frames. An error says the formats cannot be converted.
func NewPlayout(limit time.Duration, wire, call codec.Format) (*Playout, error) {
	if limit <= 0 {
		limit = DefaultPlayoutLimit
	}
	frame := call.MaxFrameBytes()
	if frame <= 0 || frame > MaxFrameBytes || call.Name == codec.NameOpus {
		return nil, fmt.Errorf("playout into a %v call: %w", call, codec.ErrUnknownFormat)
	}
	p := &Playout{wire: wire, call: call, frame: frame, silence: codec.Silence(call, nil)}
	p.limit = int(limit/FrameDuration) * frame
	if !wire.SameEncoding(call) {
		w, err := codec.Convert(wire, call, codec.NewSink("playout", call.Rate, p.appendOut))
		if err != nil {
			return nil, fmt.Errorf("playout of %v audio into a %v call: %w", wire, call, err)
		}
		p.conv = w
	}
	return p, nil
}

// SetWire makes Write take audio of wire from now on (an app that starts
// its stream again in another format); what is queued stays. An error says
// wire cannot be converted to the call's format; the playout is unchanged
// then.
func (p *Playout) SetWire(wire codec.Format) error {
	p.convMu.Lock()
	defer p.convMu.Unlock()
	if wire == p.wire {
		return nil
	}
	var w codec.Writer[[]byte]
	if !wire.SameEncoding(p.call) {
		var err error
		w, err = codec.Convert(wire, p.call, codec.NewSink("playout", p.call.Rate, p.appendOut))
		if err != nil {
			return fmt.Errorf("playout of %v audio into a %v call: %w", wire, p.call, err)
		}
	}
	p.wire, p.conv = wire, w
	return nil
}

// appendOut is the sink of the converter: it gathers what one Write converts.
func (p *Playout) appendOut(b []byte) error {
	p.out = append(p.out, b...)
	return nil
}

// Wire returns the format Write takes.
func (p *Playout) Wire() codec.Format {
	p.convMu.Lock()
	defer p.convMu.Unlock()
	return p.wire
}

// Format returns the format ReadFrame hands out: the call's.
func (p *Playout) Format() codec.Format { return p.call }

// FrameBytes returns the size of one 20 ms frame ReadFrame fills.
func (p *Playout) FrameBytes() int { return p.frame }

// Ring sizes of a playout: it starts small (minRingFrames) and doubles as
// the app queues more audio, so a call holds memory for what is queued, not
// for the limit; once it runs empty a ring grown past keepBytes is released.
const (
	minRingFrames = 16 // 320 ms
	keepBytes     = 64 << 10
)

// growLocked makes room for need queued bytes (never more than the limit).
func (p *Playout) growLocked(need int) {
	size := len(p.buf)
	if size == 0 {
		size = minRingFrames * p.frame
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

// Write queues audio in the wire format. It returns the bytes accepted, in
// the call's format; the rest was dropped because the buffer was full. A
// payload the converter cannot read (a corrupt Opus packet) is dropped.
func (p *Playout) Write(b []byte) int {
	p.convMu.Lock()
	defer p.convMu.Unlock()
	if p.conv == nil {
		return p.write(b)
	}
	p.out = p.out[:0]
	if err := p.conv.WriteFrame(b); err != nil {
		p.out = p.out[:0]
	}
	return p.write(p.out)
}

// write queues audio in the call's format.
func (p *Playout) write(b []byte) int {
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
	want := min(len(dst), p.frame)
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
		copy(dst[take:want], p.silence[min(take, len(p.silence)):])
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
	whole := p.n >= min(len(dst), p.frame)
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
// The converter forgets the audio before, so none of it leaks into what
// the app sends next.
func (p *Playout) Clear() {
	p.convMu.Lock()
	if r, ok := p.conv.(codec.Resetter); ok {
		r.Reset()
	}
	p.convMu.Unlock()
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
	return time.Duration(p.n) * FrameDuration / time.Duration(p.frame)
}

// Dropped returns the bytes dropped because the buffer was full, counted
// in the call's format.
func (p *Playout) Dropped() uint64 { return p.dropped.Load() }
