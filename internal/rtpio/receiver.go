package rtpio

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"

	"github.com/callstream/callstream/internal/jitter"
	"github.com/callstream/callstream/internal/limit"
)

const (
	// defaultWindow is the reordering window used when ReceiverConfig.Window is 0.
	defaultWindow = 2
	// maxWindow caps ReceiverConfig.Window.
	maxWindow = 32
	// resetJump is the most missing sequence numbers treated as loss; a
	// larger forward jump restarts sequence tracking.
	resetJump = 50
	// maxLostFrames caps the lost frames reported for one gap.
	maxLostFrames = 50
	// historyLen is how many handed-on positions are remembered to tell a
	// duplicate from a late packet.
	historyLen = 64
	// eventMaxAge is how far back (in 8 kHz timestamp units, 10 s) a
	// telephone-event timestamp counts as an old event rather than a new one.
	eventMaxAge = 10 * 8000
)

// Handler receives what a Receiver reads. Its methods are called from the
// goroutine running Receiver.Run and must not block for long.
type Handler interface {
	// HandleFrame gets each in-order 20 ms frame of the audio payload type; lost is true for a frame that was
	// declared lost (payload is then nil and the consumer substitutes silence). payload is valid only during the call.
	HandleFrame(payload []byte, payloadType uint8, lost bool)
	// HandleDTMF gets each RFC 4733 event once (one digit per event, not per packet), on its first packet.
	HandleDTMF(digit byte) // '0'-'9', '*', '#', 'A'-'D'
}

// ReceiverConfig configures a Receiver. The zero value accepts PCMU without
// DTMF from the first source that sends it.
type ReceiverConfig struct {
	AudioTypes []uint8      // accepted audio payload types, e.g. {0} or {8}; default {0}
	DTMFType   uint8        // telephone-event payload type; 0 = none
	Window     int          // reordering window in packets (20 ms each); default 2 (= 40 ms), at most 32
	Logger     *slog.Logger // default: discard
	// Remote is the caller's RTP address from its SDP: the source latch
	// prefers it (see Receiver). Zero: the first source latches.
	Remote netip.AddrPort
	// Refusals counts each datagram dropped for its source as
	// limit.RTPSource (nil: not counted). It runs on the read loop and
	// must not block.
	Refusals limit.Counter
	// Jitter, when set, takes every audio packet (Put, with its arrival
	// time from Arrival): the buffer places audio by RTP timestamp, so the
	// Receiver neither orders nor frames it and never calls HandleFrame.
	// Telephone events are handled as without it. Borrowed.
	Jitter *jitter.Buffer
	// Arrival returns the time to Put a packet with: how long after slot
	// 0 of the jitter buffer's clock it arrived. Required with Jitter.
	Arrival func() time.Duration
}

// ReceiverStats is a snapshot of a Receiver's counters.
type ReceiverStats struct {
	Packets    uint64 // valid RTP packets of an accepted payload type and source
	Frames     uint64 // 20 ms frames handed on with audio
	Lost       uint64 // 20 ms frames declared lost
	Late       uint64 // packets dropped because their place was already declared lost
	Duplicates uint64 // packets dropped because they were already handed on or held
	Reordered  uint64 // packets that arrived after a later one and were still put in order
	DTMF       uint64 // digits reported
	Invalid    uint64 // datagrams dropped: not RTP v2, too large, unknown payload type, short event, filtered source
	Foreign    uint64 // datagrams dropped because they came from a source other than the latched one
}

// Receiver turns the RTP packets arriving on a Conn into in-order 20 ms frames
// and DTMF digits. Run is the read loop; it runs on the caller's goroutine.
//
// Ordering: a packet with the next expected sequence number is handed on at
// once. A packet ahead of a gap is held in a fixed ring; when the missing
// packets arrive they and the held ones are handed on in order. The hold may
// span Window sequence numbers past the first missing one: when a packet
// arrives further ahead, every missing packet before it is declared lost
// (HandleFrame(nil, pt, true) per lost 20 ms frame) and the held packets and
// the new one are handed on, so audio is never delayed by more than Window
// packets. There are no timers: every decision is taken when a packet
// arrives. Duplicates and packets whose place was already declared lost
// (late) are dropped. Sequence numbers wrap from 65535 to 0.
//
// Resets: a forward jump over more than 50 missing sequence numbers, a new
// SSRC, or two consecutive packets far behind the expected number (RFC 3550
// probation) restart sequence tracking without reporting loss. One gap is
// reported as at most 50 lost frames (1 s), however long the lost packets were.
//
// Framing: payloads are cut into 160-byte (20 ms) frames. A 240-byte (30 ms)
// payload gives one frame and carries 80 bytes over to the next packet;
// smaller payloads are accumulated until a frame is full. Lost audio is
// counted in samples from the length of the last audio payload; whole lost
// frames are reported with lost set, and a frame that is only partly lost is
// completed with G.711 silence (0xFF for PCMU, 0xD5 for PCMA). Datagrams over
// 1500 bytes are dropped as Invalid.
//
// DTMF: telephone-event packets (RFC 4733) are keyed by their RTP timestamp:
// the first packet of an event that arrives reports its digit at once; the
// updates and the repeated end packets of the same event are ignored, as are
// late packets of an older event. Events take part in sequence tracking but
// carry no audio.
//
// Source latch: the first valid packet latches the Receiver to its source
// address and port, and datagrams from any other source are dropped
// (Foreign) before they are parsed, so a third party can neither put
// audio or digits into the call nor keep it alive (LastPacket). When the
// first source is not the caller's SDP address (ReceiverConfig.Remote), a
// valid packet from the SDP address within 2 s takes the latch over.
// Relatch opens the latch again when the caller moves. See latch for the
// rule in full.
type Receiver struct {
	conn   *Conn // borrowed; closing it ends Run
	log    *slog.Logger
	audio  [128]bool // accepted audio payload types
	dtmfPT uint8
	window int

	filter   atomic.Pointer[netip.AddrPort] // nil: accept any source
	last     atomic.Int64                   // arrival of the last valid packet, Unix ns
	running  atomic.Bool
	refusals limit.Counter  // borrowed; may be nil
	jb       *jitter.Buffer // borrowed; nil: order and frame audio here
	arrival  func() time.Duration
	expect   atomic.Pointer[netip.AddrPort] // the SDP address Relatch gave; read by the loop on a new generation
	relatch  atomic.Uint64                  // Relatch generation
	source   atomic.Pointer[netip.AddrPort] // the latched source, for Source; nil: not latched

	packets, frames, lost, late, dups, reordered, digits, invalid, foreign atomic.Uint64

	// Read-loop state, owned by the goroutine in Run.
	h   Handler
	pkt rtp.Packet
	buf [maxPacket + 1]byte
	lt  latch

	// Sequence tracking.
	started  bool
	ssrc     uint32
	next     uint16 // next sequence number to hand on
	hist     uint64 // bit i: position next-1-i was handed on (1) or declared lost (0)
	histLen  int    // valid bits in hist
	badSeq   uint16 // probation: a far-behind packet's seq+1
	badSeqOK bool
	ring     []slot // held packets, indexed by seq&mask
	mask     uint16
	held     int    // used slots in ring
	top      uint16 // highest held sequence number when held > 0
	lastLen  int    // last audio payload length, for sizing losses

	// Framing.
	carry  [frameSamples]byte
	carryN int
	pt     uint8 // payload type of the bytes in carry / of the last audio

	// DTMF.
	eventSeen bool
	eventTS   uint32
}

// slot is one held packet.
type slot struct {
	used bool
	dtmf bool // a telephone-event packet: a sequence position without audio
	seq  uint16
	pt   uint8
	n    int
	buf  []byte // maxPacket bytes, allocated the first time the slot holds a packet
}

// NewReceiver returns a Receiver reading from c. It allocates what the read
// loop needs up front, except the reorder slots' buffers, allocated once
// each the first time packets arrive out of order.
func NewReceiver(c *Conn, cfg ReceiverConfig) *Receiver {
	w := cfg.Window
	if w <= 0 {
		w = defaultWindow
	}
	w = min(w, maxWindow)
	size := 1
	for size < w {
		size <<= 1
	}
	r := &Receiver{
		conn:     c,
		log:      cfg.Logger,
		dtmfPT:   cfg.DTMFType & 0x7f,
		window:   w,
		ring:     make([]slot, size),
		mask:     uint16(size - 1),
		lastLen:  frameSamples,
		refusals: cfg.Refusals,
		lt:       latch{expect: sdpAddr(cfg.Remote)},
		jb:       cfg.Jitter,
		arrival:  cfg.Arrival,
	}
	if r.jb != nil && r.arrival == nil {
		start := time.Now()
		r.arrival = func() time.Duration { return time.Since(start) }
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	types := cfg.AudioTypes
	if len(types) == 0 {
		types = []uint8{0}
	}
	for _, pt := range types {
		r.audio[pt&0x7f] = true
	}
	r.pt = types[0] & 0x7f
	// Room for the most CSRCs and some header extensions, so parsing does not allocate.
	r.pkt.CSRC = make([]uint32, 0, 15)
	r.pkt.Extensions = make([]rtp.Extension, 0, 16)
	return r
}

// Run reads packets and calls h (not nil) until the Conn is closed, then hands
// on any held packets and returns nil. Any other read error is returned. Only
// one Run may be active at a time (ErrRunning otherwise).
func (r *Receiver) Run(h Handler) error {
	if !r.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer r.running.Store(false)
	r.h = h
	defer func() { r.h = nil }()
	for {
		n, from, err := r.conn.uc.ReadFromUDPAddrPort(r.buf[:])
		if err != nil {
			r.flushHeld()
			r.reportForeign()
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("rtpio: read rtp: %w", err)
		}
		r.handlePacket(r.buf[:n], from)
	}
}

// LastPacket returns when the last valid RTP packet arrived; zero if none has.
func (r *Receiver) LastPacket() time.Time {
	ns := r.last.Load()
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

// Stats returns a snapshot of the counters. Safe to call from any goroutine.
func (r *Receiver) Stats() ReceiverStats {
	return ReceiverStats{
		Packets:    r.packets.Load(),
		Frames:     r.frames.Load(),
		Lost:       r.lost.Load(),
		Late:       r.late.Load(),
		Duplicates: r.dups.Load(),
		Reordered:  r.reordered.Load(),
		DTMF:       r.digits.Load(),
		Invalid:    r.invalid.Load(),
		Foreign:    r.foreign.Load(),
	}
}

// SetRemoteFilter makes the Receiver drop (and count as Invalid) packets from
// any source but addr; the zero AddrPort removes the filter (the source
// latch still applies). Safe to call from any goroutine.
func (r *Receiver) SetRemoteFilter(addr netip.AddrPort) {
	if !addr.IsValid() {
		r.filter.Store(nil)
		return
	}
	a := netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	r.filter.Store(&a)
}

// handlePacket parses and dispatches one datagram. It does not allocate for
// valid packets.
func (r *Receiver) handlePacket(b []byte, from netip.AddrPort) {
	if len(b) > maxPacket {
		r.invalid.Add(1)
		return
	}
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	if f := r.filter.Load(); f != nil && from != *f {
		r.invalid.Add(1)
		return
	}
	if g := r.relatch.Load(); g != r.lt.gen {
		r.reopenLatch(g)
	}
	ok, takeover := r.admits(from)
	if !ok {
		r.dropForeign(from)
		return
	}
	if err := r.pkt.Unmarshal(b); err != nil || r.pkt.Version != 2 {
		r.invalid.Add(1)
		return
	}
	pt := r.pkt.PayloadType
	isEvent := r.dtmfPT != 0 && pt == r.dtmfPT
	if (!isEvent && !r.audio[pt]) || (isEvent && len(r.pkt.Payload) < 4) {
		r.invalid.Add(1)
		return
	}
	if !r.lt.latched || takeover {
		r.latchTo(from)
	}
	r.last.Store(time.Now().UnixNano())
	if r.started && r.pkt.SSRC != r.ssrc {
		r.log.Debug("rtp source changed", "old_ssrc", r.ssrc, "ssrc", r.pkt.SSRC)
		r.restartStream()
	}
	if isEvent {
		r.handleEvent(r.pkt.Timestamp, r.pkt.Payload[0])
	}
	if r.jb != nil {
		// The jitter buffer places audio by timestamp; events carry none.
		if !isEvent {
			r.jb.Put(jitter.Packet{
				Seq: r.pkt.SequenceNumber, TS: r.pkt.Timestamp, SSRC: r.pkt.SSRC,
				Marker: r.pkt.Marker, Payload: r.pkt.Payload,
			}, r.arrival())
		}
		r.packets.Add(1)
		return
	}
	r.track(r.pkt.SequenceNumber, pt, r.pkt.Payload, isEvent)
	r.packets.Add(1)
}

// track puts one packet in sequence order.
func (r *Receiver) track(seq uint16, pt uint8, payload []byte, isEvent bool) {
	if !r.started {
		r.started = true
		r.ssrc = r.pkt.SSRC
		r.restart(seq)
		r.handOn(pt, payload, isEvent)
		return
	}
	d := int(int16(seq - r.next))
	switch {
	case d == 0:
		if r.held > 0 {
			r.reordered.Add(1)
		}
		r.handOn(pt, payload, isEvent)
		r.drain()
	case d < 0:
		r.older(seq, -d, pt, payload, isEvent)
	case d > resetJump:
		r.log.Debug("rtp sequence jump, restarting", "expected", r.next, "seq", seq)
		r.flushHeld()
		r.restart(seq)
		r.handOn(pt, payload, isEvent)
	case d > r.window:
		// Holding seq would span more than the window: give up on the
		// missing packets, hand on what is held, then seq itself.
		r.advanceTo(seq)
		r.handOn(pt, payload, isEvent)
	default:
		r.hold(seq, pt, payload, isEvent)
	}
}

// older handles a packet back positions behind the next expected one.
func (r *Receiver) older(seq uint16, back int, pt uint8, payload []byte, isEvent bool) {
	if back <= r.histLen {
		if r.hist>>(back-1)&1 == 1 {
			r.dups.Add(1)
		} else {
			r.late.Add(1)
		}
		return
	}
	if r.badSeqOK && seq == r.badSeq {
		r.log.Debug("rtp sequence restarted behind", "expected", r.next, "seq", seq)
		r.flushHeld()
		r.restart(seq)
		r.handOn(pt, payload, isEvent)
		return
	}
	r.badSeq, r.badSeqOK = seq+1, true
	r.late.Add(1)
}

// restart makes seq the next expected sequence number and forgets the
// history. Nothing may be held.
func (r *Receiver) restart(seq uint16) {
	r.next = seq
	r.hist, r.histLen = 0, 0
	r.badSeqOK = false
}

// hold stores a packet that arrived ahead of a gap.
func (r *Receiver) hold(seq uint16, pt uint8, payload []byte, isEvent bool) {
	s := &r.ring[seq&r.mask]
	if s.used {
		r.dups.Add(1) // the same seq: positions in the window map to distinct slots
		return
	}
	if r.held > 0 && int16(seq-r.top) < 0 {
		r.reordered.Add(1)
	}
	if r.held == 0 || int16(seq-r.top) > 0 {
		r.top = seq
	}
	s.used, s.dtmf, s.seq, s.pt = true, isEvent, seq, pt
	if s.buf == nil {
		// Reordering is rare: a call that never sees it holds no buffers.
		s.buf = make([]byte, maxPacket)
	}
	s.n = copy(s.buf, payload)
	r.held++
}

// handOn passes on the packet at position next and advances it.
func (r *Receiver) handOn(pt uint8, payload []byte, isEvent bool) {
	r.hist = r.hist<<1 | 1
	r.histLen = min(r.histLen+1, historyLen)
	r.next++
	if isEvent {
		return
	}
	if len(payload) > 0 {
		r.lastLen = len(payload)
	}
	r.push(pt, payload)
}

// drain hands on held packets that follow next without a gap.
func (r *Receiver) drain() {
	for r.held > 0 {
		s := &r.ring[r.next&r.mask]
		if !s.used || s.seq != r.next {
			return
		}
		s.used = false
		r.held--
		r.handOn(s.pt, s.buf[:s.n], s.dtmf)
	}
}

// advanceTo moves next up to target, handing on held packets and declaring
// the missing positions lost.
func (r *Receiver) advanceTo(target uint16) {
	missing := 0
	for int16(target-r.next) > 0 {
		if s := &r.ring[r.next&r.mask]; r.held > 0 && s.used && s.seq == r.next {
			r.loseSamples(missing * r.lastLen)
			missing = 0
			s.used = false
			r.held--
			r.handOn(s.pt, s.buf[:s.n], s.dtmf)
			continue
		}
		missing++
		r.hist <<= 1
		r.histLen = min(r.histLen+1, historyLen)
		r.next++
	}
	r.loseSamples(missing * r.lastLen)
}

// flushHeld hands on every held packet, declaring the gaps between them lost.
func (r *Receiver) flushHeld() {
	if r.held > 0 {
		r.advanceTo(r.top + 1)
	}
}

// push cuts in-order audio into 160-byte frames, carrying a remainder over.
func (r *Receiver) push(pt uint8, p []byte) {
	if r.carryN > 0 && pt != r.pt {
		fillSilence(r.carry[r.carryN:], r.pt)
		r.carryN = 0
		r.frame(r.carry[:], r.pt)
	}
	r.pt = pt
	if r.carryN > 0 {
		c := copy(r.carry[r.carryN:], p)
		r.carryN += c
		p = p[c:]
		if r.carryN < frameSamples {
			return
		}
		r.carryN = 0
		r.frame(r.carry[:], pt)
	}
	for len(p) >= frameSamples {
		r.frame(p[:frameSamples], pt)
		p = p[frameSamples:]
	}
	r.carryN = copy(r.carry[:], p)
}

// loseSamples reports n lost samples: a partly filled frame is completed with
// silence, whole frames are reported lost (at most maxLostFrames), and a
// remainder starts the next frame as silence.
func (r *Receiver) loseSamples(n int) {
	if n <= 0 {
		return
	}
	pt := r.pt
	if r.carryN > 0 {
		fill := min(frameSamples-r.carryN, n)
		fillSilence(r.carry[r.carryN:r.carryN+fill], pt)
		r.carryN += fill
		n -= fill
		if r.carryN < frameSamples {
			return
		}
		r.carryN = 0
		r.frame(r.carry[:], pt)
	}
	frames, rem := n/frameSamples, n%frameSamples
	if frames > maxLostFrames {
		frames, rem = maxLostFrames, 0
	}
	for range frames {
		r.lost.Add(1)
		r.h.HandleFrame(nil, pt, true)
	}
	fillSilence(r.carry[:rem], pt)
	r.carryN = rem
}

// frame hands on one complete frame.
func (r *Receiver) frame(p []byte, pt uint8) {
	r.frames.Add(1)
	r.h.HandleFrame(p, pt, false)
}

// fillSilence fills b with the G.711 silence byte of payload type pt.
func fillSilence(b []byte, pt uint8) {
	v := byte(0xFF) // PCMU
	if pt == 8 {
		v = 0xD5 // PCMA
	}
	for i := range b {
		b[i] = v
	}
}

// handleEvent reports the digit of a telephone-event packet if it starts a
// new event, keyed by the RTP timestamp.
func (r *Receiver) handleEvent(ts uint32, event byte) {
	if r.eventSeen && r.eventTS-ts <= eventMaxAge {
		return // the same event, or a late packet of an older one
	}
	r.eventSeen, r.eventTS = true, ts
	if d := EventDigit(event); d != 0 {
		r.digits.Add(1)
		r.h.HandleDTMF(d)
	}
}
