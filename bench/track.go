package bench

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/callstream/callstream/internal/sipcaller"
)

// epoch is the origin of the generator's process clock: every send and
// arrival time is measured from it on the monotonic clock.
var epoch = time.Now()

// now returns the time on the process clock in ns.
func now() int64 { return int64(time.Since(epoch)) }

// ringLen is how many recent frames a call remembers (10.24 s); a frame
// arriving after its slot was reused counts as late (and lost).
const ringLen = 512

// Slot meta layout: the frame number plus one above bit 17, the "sent
// late" flag at bit 16, the send window plus one in the low 16 bits.
const (
	metaLate  = 1 << 16
	metaShift = 17
)

// sentSlot remembers when one frame was sent, and when the app echoed it.
type sentSlot struct {
	meta atomic.Uint64
	at   atomic.Int64
	echo atomic.Int64 // 0: not echoed
}

// path tracks the frames of one call arriving on one way back: at the app
// (WebSocket) or at the caller (RTP echo).
type path struct {
	got     [ringLen / 64]atomic.Uint64 // frame received, by slot
	maxSeen int64                       // highest frame number received; the receiving goroutine only
	// RTP only: the previous packet, for gaps and underruns, and the
	// target's tick grid: tick k (timestamp ts0 + k*160) is due at
	// grid + k*20 ms, grid being the earliest arrival seen minus its k.
	lastAt   int64
	haveLast bool
	ts0      uint32
	grid     int64
	// The last packet that played a generator frame: with continuous RTP
	// the target fills a tick without audio with silence (or CN), which
	// is an empty tick all the same.
	frameTS   uint32
	haveFrame bool
	// WebSocket only: the target's slot grid: chunk k (from 1) is due at
	// slotGrid + (k-1)*20 ms, slotGrid being the earliest arrival seen
	// minus its chunk's offset.
	slotGrid int64
	haveSlot bool
}

// frameSender sends one RTP frame; *sipcaller.Call is one.
type frameSender interface {
	SendFrame(payload []byte) error
}

// benchCall is one generated call.
type benchCall struct {
	idx     int
	up      chan struct{} // closed on the stream's start message
	upOnce  atomic.Bool
	stopped atomic.Bool
	sender  frameSender     // set before the call joins a send group
	sc      *sipcaller.Call // nil in tests without SIP
	nextSeq uint32          // send group goroutine only
	sent    [ringLen]sentSlot
	ws      path
	rtp     path
}

func newBenchCall(idx int) *benchCall {
	c := &benchCall{idx: idx, up: make(chan struct{})}
	c.ws.maxSeen, c.rtp.maxSeen = -1, -1
	return c
}

// markUp closes up once.
func (c *benchCall) markUp() {
	if c.upOnce.CompareAndSwap(false, true) {
		close(c.up)
	}
}

// counters are the frame counts of a window (or of the whole run).
type counters struct {
	sent      atomic.Uint64 // frames sent
	sendErr   atomic.Uint64 // frames the caller failed to send
	recv      atomic.Uint64 // distinct inbound frames at the app, by send window
	dup       atomic.Uint64 // inbound frames received again
	reordered atomic.Uint64 // inbound frames arriving after a later one
	corrupt   atomic.Uint64 // frames of a wrong call or altered, by arrival
	late      atomic.Uint64 // frames arriving after their slot was reused, by arrival
	foreign   atomic.Uint64 // inbound media that is no generator frame (silence fill), by arrival
	outbound  atomic.Uint64 // outbound-track media messages at the app, by arrival
	echo      atomic.Uint64 // distinct frames back at the caller, by send window
	echoDup   atomic.Uint64
	echoReord atomic.Uint64
	underGW   atomic.Uint64 // playback underruns while the target had the audio, by arrival
	underLate atomic.Uint64 // playback underruns because the audio reached the target after the tick, by arrival
	underGen  atomic.Uint64 // playback underruns after a late send by the generator, by arrival
	skipped   atomic.Uint64 // generator ticks skipped after a stall
}

// window holds what is measured in one step's window.
type window struct {
	counters
	lat     Histogram // RTP sent -> media message at the app
	hold    Histogram // RTP sent -> its chunk's slot on the target's grid (jitter buffer hold)
	proc    Histogram // the chunk's slot -> media message at the app (processing)
	rtt     Histogram // RTP sent -> echo back at the caller (bidi)
	gaps    Histogram // caller inter-arrival (any mode where the target sends RTP)
	sendLag Histogram // generator: actual send - scheduled send
}

// tracker routes measurements to the open window and the run totals.
type tracker struct {
	all     counters
	windows []*window    // one per step
	open    atomic.Int32 // index of the open window, -1 when none
	calls   []atomic.Pointer[benchCall]
	mode    Mode
	log     *slog.Logger // debug: each underrun blamed on the target
}

func newTracker(mode Mode, steps, maxCalls int) *tracker {
	t := &tracker{mode: mode, windows: make([]*window, steps), calls: make([]atomic.Pointer[benchCall], maxCalls),
		log: slog.New(slog.DiscardHandler)}
	for i := range t.windows {
		t.windows[i] = &window{}
	}
	t.open.Store(-1)
	return t
}

// current returns the open window, nil when none.
func (t *tracker) current() *window { return t.at(int(t.open.Load())) }

func (t *tracker) at(w int) *window {
	if w < 0 || w >= len(t.windows) {
		return nil
	}
	return t.windows[w]
}

func (t *tracker) call(i int) *benchCall {
	if i < 0 || i >= len(t.calls) {
		return nil
	}
	return t.calls[i].Load()
}

// recordSend stores frame seq of c as sent at time at, in window w; late
// says the generator sent it more than lateSend after its schedule.
func (t *tracker) recordSend(c *benchCall, seq uint32, at int64, w int32, late bool) {
	slot := seq % ringLen
	bit := uint64(1) << (slot % 64)
	c.ws.got[slot/64].And(^bit)
	c.rtp.got[slot/64].And(^bit)
	meta := (uint64(seq)+1)<<metaShift | uint64(uint16(w+1))
	if late {
		meta |= metaLate
	}
	c.sent[slot].at.Store(at)
	c.sent[slot].echo.Store(0)
	c.sent[slot].meta.Store(meta)
}

// lookup returns when frame seq of c was sent and in which window.
func lookup(c *benchCall, seq uint32) (at int64, w int, late, ok bool) {
	s := &c.sent[seq%ringLen]
	m := s.meta.Load()
	at = s.at.Load()
	if m>>metaShift != uint64(seq)+1 || s.meta.Load() != m {
		return 0, 0, false, false
	}
	return at, int(m&0xFFFF) - 1, m&metaLate != 0, true
}

// add increments a counter of the run totals and of window w.
func (t *tracker) add(w *window, pick func(*counters) *atomic.Uint64) {
	pick(&t.all).Add(1)
	if w != nil {
		pick(&w.counters).Add(1)
	}
}

// frameArrived handles a generator frame back on path p of call c at time
// at; it returns the send window (nil when outside every window) and the
// delay, and ok false when the frame was a duplicate, late or foreign.
func (t *tracker) frameArrived(c *benchCall, p *path, payload []byte, at int64, echo bool) (w *window, delay time.Duration, late, ok bool) {
	arrival := t.current()
	call, seq, isFrame, intact := FrameID(payload)
	switch {
	case !isFrame:
		if !echo {
			t.add(arrival, func(k *counters) *atomic.Uint64 { return &k.foreign })
		}
		return nil, 0, false, false
	case call != c.idx || !intact:
		t.add(arrival, func(k *counters) *atomic.Uint64 { return &k.corrupt })
		return nil, 0, false, false
	}
	sentAt, sw, sentLate, found := lookup(c, seq)
	if !found {
		t.add(arrival, func(k *counters) *atomic.Uint64 { return &k.late })
		return nil, 0, false, false
	}
	w = t.at(sw)
	slot := seq % ringLen
	bit := uint64(1) << (slot % 64)
	if p.got[slot/64].Or(bit)&bit != 0 {
		if echo {
			t.add(w, func(k *counters) *atomic.Uint64 { return &k.echoDup })
		} else {
			t.add(w, func(k *counters) *atomic.Uint64 { return &k.dup })
		}
		return nil, 0, false, false
	}
	if int64(seq) < p.maxSeen {
		if echo {
			t.add(w, func(k *counters) *atomic.Uint64 { return &k.echoReord })
		} else {
			t.add(w, func(k *counters) *atomic.Uint64 { return &k.reordered })
		}
	} else {
		p.maxSeen = int64(seq)
	}
	if echo {
		t.add(w, func(k *counters) *atomic.Uint64 { return &k.echo })
	} else {
		t.add(w, func(k *counters) *atomic.Uint64 { return &k.recv })
	}
	return w, time.Duration(at - sentAt), sentLate, true
}

// streamStarted implements sink.
func (t *tracker) streamStarted(call int) {
	if c := t.call(call); c != nil {
		c.markUp()
	}
}

// media implements sink: a media message at the app. With a chunk number,
// the added latency is split at the frame's slot on the target's media
// clock (chunk k due at the earliest arrival's offset + (k-1)*20 ms): the
// hold before it (a jitter buffer's deliberate delay, plus the phase of
// the slot) and the processing after it (slot to WebSocket).
func (t *tracker) media(call int, inbound bool, chunk uint64, payload []byte, at int64) {
	c := t.call(call)
	if c == nil {
		return
	}
	if !inbound {
		t.add(t.current(), func(k *counters) *atomic.Uint64 { return &k.outbound })
		return
	}
	var slot int64
	if chunk > 0 {
		p := &c.ws
		origin := at - int64(chunk-1)*int64(frameDuration)
		if !p.haveSlot || origin < p.slotGrid {
			p.slotGrid, p.haveSlot = origin, true
		}
		slot = p.slotGrid + int64(chunk-1)*int64(frameDuration)
	}
	w, d, _, ok := t.frameArrived(c, &c.ws, payload, at, false)
	if !ok || w == nil {
		return
	}
	w.lat.Add(d)
	if chunk > 0 {
		// Processing runs from the later of the frame's send and its
		// slot: a target that writes on arrival (no jitter buffer, the
		// baseline) has no hold, its slot grid being only the fastest
		// arrivals, and all its latency is processing.
		proc := min(d, time.Duration(at-slot))
		w.hold.Add(d - proc)
		w.proc.Add(proc)
	}
}

// echoed implements sink: the app wrote the echo of a media payload.
func (t *tracker) echoed(call int, payload []byte, at int64) {
	c := t.call(call)
	if c == nil {
		return
	}
	id, seq, ok, _ := FrameID(payload)
	if !ok || id != c.idx {
		return
	}
	if _, _, _, found := lookup(c, seq); found {
		c.sent[seq%ringLen].echo.Store(at)
	}
}

// echoMargin is how long before an empty tick the app must have sent the
// audio due at it for the underrun to be blamed on the target: enough for
// loopback TCP and a read.
const echoMargin = 2 * time.Millisecond

// rtpArrived handles an RTP packet back at the caller of c: gaps and
// underruns by arrival, round trip of echoed frames by send window.
func (t *tracker) rtpArrived(c *benchCall, ts uint32, payload []byte, at int64) {
	p := &c.rtp
	arrival := t.current()
	prevAt, had := p.lastAt, p.haveLast
	p.lastAt, p.haveLast = at, true
	if !had {
		p.ts0, p.grid = ts, at
	}
	tick := int64(int32(ts-p.ts0)) / FrameBytes
	p.grid = min(p.grid, at-tick*int64(frameDuration))
	if had && arrival != nil {
		arrival.gaps.Add(time.Duration(at - prevAt))
	}
	w, d, sentLate, ok := t.frameArrived(c, p, payload, at, true)
	if ok && w != nil {
		w.rtt.Add(d)
	}
	if _, _, isFrame, _ := FrameID(payload); !isFrame || t.mode != ModeBidi {
		return // silence: an empty tick, counted at the next frame
	}
	prevFrameTS, hadFrame := p.frameTS, p.haveFrame
	p.frameTS, p.haveFrame = ts, true
	if !hadFrame {
		return
	}
	// Each 20 ms tick of the sender's clock advances the RTP timestamp by
	// 160; a tick with nothing to play sends nothing, or silence.
	ticks := (ts - prevFrameTS) / FrameBytes
	if ticks <= 1 || ticks > 50*60 {
		return
	}
	// The frame played after the gap (this one) was due at the first
	// empty tick, on the target's grid missing ticks before this one.
	missing := ticks - 1
	due := p.grid + (tick-int64(missing))*int64(frameDuration)
	var echoAt int64
	if _, seq, isFrame, _ := FrameID(payload); isFrame && ok {
		echoAt = c.sent[seq%ringLen].echo.Load()
	}
	switch {
	case ok && sentLate:
		// The frame left the generator late.
		t.addN(arrival, missing, func(k *counters) *atomic.Uint64 { return &k.underGen })
	case echoAt != 0 && echoAt+int64(echoMargin) <= due:
		// The app had sent the audio in time: the target had it (at
		// least in its socket) and played nothing.
		t.addN(arrival, missing, func(k *counters) *atomic.Uint64 { return &k.underGW })
		if arrival != nil && t.log.Enabled(context.Background(), slog.LevelDebug) {
			t.log.Debug("bench: underrun blamed on the target", "call", c.idx, "ticks_missing", missing,
				"gap", time.Duration(at-prevAt), "round_trip", d, "echo_before_tick", time.Duration(due-echoAt), "at", time.Duration(at))
		}
	default:
		// The audio reached the target after the tick was due: delayed on
		// its way to the app (the target's inbound relay, the generator's
		// reading) or, once per call, an echo landing just after a tick of
		// the target's clock, which is not synchronised with the caller's.
		t.addN(arrival, missing, func(k *counters) *atomic.Uint64 { return &k.underLate })
	}
}

// addN adds n to a counter of the run totals and of window w.
func (t *tracker) addN(w *window, n uint32, pick func(*counters) *atomic.Uint64) {
	pick(&t.all).Add(uint64(n))
	if w != nil {
		pick(&w.counters).Add(uint64(n))
	}
}
