package sipcaller

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/pion/rtp"

	"github.com/callstream/callstream/internal/codec"
)

// ErrBadPlan means a Plan's impairments do not fit its frames.
var ErrBadPlan = errors.New("sipcaller: bad send plan")

// Plan is a deterministic send schedule for the caller's audio, with the
// network and phone behaviours a jitter buffer must cope with. Frame i
// (from 0) is due StartDelay + i×20 ms after the ACK and carries RTP
// timestamp ts0 + i×FrameTicks, whatever happens to its packet on the way;
// sequence numbers count the packets of a source in frame order. The zero
// impairments send Frames frames on time.
type Plan struct {
	Frames int // 20 ms frames of the plan
	// StartDelay holds the first frame this long after the ACK (media
	// that starts late).
	StartDelay time.Duration
	// Stalls hold the packets due during each stall and send them in one
	// burst when it ends, in frame order, timestamps continuous.
	Stalls []Stall
	// Silences are talkspurt gaps (silence suppression): their frames are
	// not sent, so the timestamp jumps over them, and the first packet
	// after each carries the marker bit.
	Silences []Span
	// Reorder lists frames i whose packet leaves after frame i+1's (at
	// frame i+1's time): the two swap on the wire.
	Reorder []int
	// Duplicate lists frames whose packet is sent twice in a row.
	Duplicate []int
	// Sources switch the SSRC mid-call: from frame At on, packets carry a
	// new source's SSRC, sequence numbers and timestamps.
	Sources []Source
	// Payload writes frame i's payload into dst and returns it; default
	// FramePayload (G.711, G.722) or the codec's silence (opus).
	Payload func(i int, dst []byte) []byte
}

// Stall holds the packets due from frame At's time for For.
type Stall struct {
	At  int
	For time.Duration
}

// Span is the frames [From, To).
type Span struct{ From, To int }

// Source is a new RTP source from frame At on: its SSRC, the sequence
// number of its first packet and the timestamp of frame At.
type Source struct {
	At   int
	SSRC uint32
	Seq  uint16
	TS   uint32
}

// Wire is one packet of a Plan as it leaves: the frame it carries, when
// (after the ACK) and its RTP header fields.
type Wire struct {
	Frame  int
	Due    time.Duration
	Seq    uint16
	TS     uint32
	SSRC   uint32
	Marker bool
}

// Wire computes the packets of p in the order they leave, for a call
// whose first packet has sequence number seq, timestamp ts and SSRC ssrc,
// in codec f (the timestamp steps by f.FrameTicks() per frame). The first
// packet of the plan, the first after each silence and the first of each
// new source carry the marker bit.
func (p Plan) Wire(f codec.Format, seq uint16, ts, ssrc uint32) ([]Wire, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	step := uint32(f.FrameTicks())
	if step == 0 {
		return nil, fmt.Errorf("%w: codec %s unknown", ErrBadPlan, f)
	}
	src := Source{At: 0, SSRC: ssrc, Seq: seq, TS: ts}
	sources := slices.Clone(p.Sources)
	slices.SortFunc(sources, func(a, b Source) int { return a.At - b.At })
	out := make([]Wire, 0, p.Frames+len(p.Duplicate))
	sent, prev := 0, -2 // packets of the current source; last frame sent
	for i := range p.Frames {
		newSource := false
		for len(sources) > 0 && sources[0].At <= i {
			src, sources, sent, newSource = sources[0], sources[1:], 0, true
		}
		if p.silent(i) {
			continue
		}
		w := Wire{
			Frame:  i,
			Due:    p.StartDelay + time.Duration(i)*frameDuration,
			Seq:    src.Seq + uint16(sent),
			TS:     src.TS + uint32(i-src.At)*step,
			SSRC:   src.SSRC,
			Marker: prev != i-1 || newSource,
		}
		sent++
		prev = i
		for _, s := range p.Stalls {
			from := p.StartDelay + time.Duration(s.At)*frameDuration
			if w.Due >= from && w.Due < from+s.For {
				w.Due = from + s.For
			}
		}
		out = append(out, w)
		if slices.Contains(p.Duplicate, i) {
			out = append(out, w)
		}
	}
	for _, i := range p.Reorder {
		a := slices.IndexFunc(out, func(w Wire) bool { return w.Frame == i })
		b := slices.IndexFunc(out, func(w Wire) bool { return w.Frame == i+1 })
		if a < 0 || b < 0 || b != a+1 {
			return nil, fmt.Errorf("%w: reorder %d: frames %d and %d are not adjacent packets", ErrBadPlan, i, i, i+1)
		}
		out[a], out[b] = out[b], out[a]
		out[b].Due = out[a].Due
	}
	slices.SortStableFunc(out, func(a, b Wire) int { return int(a.Due - b.Due) })
	return out, nil
}

// silent reports whether frame i falls in a silence.
func (p Plan) silent(i int) bool {
	for _, s := range p.Silences {
		if i >= s.From && i < s.To {
			return true
		}
	}
	return false
}

// check reports impairments that name frames outside the plan.
func (p Plan) check() error {
	in := func(i int) bool { return i >= 0 && i < p.Frames }
	switch {
	case p.Frames <= 0:
		return fmt.Errorf("%w: %d frames", ErrBadPlan, p.Frames)
	case p.StartDelay < 0:
		return fmt.Errorf("%w: start delay %v", ErrBadPlan, p.StartDelay)
	}
	for _, s := range p.Stalls {
		if !in(s.At) || s.For <= 0 {
			return fmt.Errorf("%w: stall at frame %d for %v", ErrBadPlan, s.At, s.For)
		}
	}
	for _, s := range p.Silences {
		if !in(s.From) || s.To <= s.From || s.To > p.Frames {
			return fmt.Errorf("%w: silence [%d, %d)", ErrBadPlan, s.From, s.To)
		}
	}
	for _, i := range p.Reorder {
		if !in(i) || !in(i+1) {
			return fmt.Errorf("%w: reorder of frame %d", ErrBadPlan, i)
		}
	}
	for _, i := range p.Duplicate {
		if !in(i) {
			return fmt.Errorf("%w: duplicate of frame %d", ErrBadPlan, i)
		}
	}
	for _, s := range p.Sources {
		if !in(s.At) {
			return fmt.Errorf("%w: source from frame %d", ErrBadPlan, s.At)
		}
	}
	return nil
}

// Frame payload identity: two magic bytes and the frame number (uint32,
// big-endian), then a pattern derived from the number, so a frame shifted,
// mixed or altered on the way is told apart.
const (
	frameMagic0 = 0x5C
	frameMagic1 = 0xA3
	frameIDLen  = 6
)

// FramePayload writes the identifiable 160-byte payload of frame i to dst
// and returns it: for G.711 (and G.722) calls whose bytes reach a stream
// unchanged (µ-law to a µ-law socket, A-law to an A-law one).
func FramePayload(dst []byte, i int) []byte {
	dst = append(dst[:0], make([]byte, frameBytes)...)
	dst[0], dst[1] = frameMagic0, frameMagic1
	binary.BigEndian.PutUint32(dst[2:frameIDLen], uint32(i))
	for k := frameIDLen; k < frameBytes; k++ {
		dst[k] = byte(i)*7 + byte(k)
	}
	return dst
}

// FrameNumber reads the frame number of a payload FramePayload wrote; ok
// is false for any other payload (silence, concealment, an altered frame).
func FrameNumber(p []byte) (i int, ok bool) {
	if len(p) != frameBytes || p[0] != frameMagic0 || p[1] != frameMagic1 {
		return 0, false
	}
	i = int(binary.BigEndian.Uint32(p[2:frameIDLen]))
	for k := frameIDLen; k < frameBytes; k++ {
		if p[k] != byte(i)*7+byte(k) {
			return 0, false
		}
	}
	return i, true
}

// SendPlan sends p's frames on the call, each packet at its Due after the
// ACK (absolute deadlines; a packet already late leaves at once), and
// returns the packets as they left. The call's sequence number, timestamp
// and SSRC continue after the plan's last packet.
func (c *Call) SendPlan(ctx context.Context, p Plan) ([]Wire, error) {
	c.sendMu.Lock()
	wire, err := p.Wire(c.format, c.seq, c.ts, c.ssrc)
	if err == nil {
		// Later frames continue the source of the plan's last frame.
		last := wire[0]
		for _, w := range wire {
			if w.Frame > last.Frame {
				last = w
			}
		}
		c.seq, c.ssrc = last.Seq+1, last.SSRC
		c.ts = last.TS + uint32(p.Frames-last.Frame)*uint32(c.format.FrameTicks())
		c.started = true
	}
	c.sendMu.Unlock()
	if err != nil {
		return nil, err
	}
	payload := p.Payload
	if payload == nil {
		payload = c.defaultPayload
	}
	start := c.acked
	if start.IsZero() {
		start = time.Now()
	}
	remote := c.RemoteRTP()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	buf := make([]byte, 0, maxPayload)
	for k, w := range wire {
		if err := c.waitUntil(ctx, timer, start.Add(w.Due)); err != nil {
			return wire[:k], err
		}
		buf = payload(w.Frame, buf[:0])
		if len(buf) > maxPayload {
			return wire[:k], fmt.Errorf("sipcaller: frame %d of %d bytes exceeds %d", w.Frame, len(buf), maxPayload)
		}
		h := rtp.Header{Version: 2, PayloadType: c.pt, SequenceNumber: w.Seq, Timestamp: w.TS, SSRC: w.SSRC, Marker: w.Marker}
		c.sendMu.Lock()
		err := c.writeRTP(remote, &h, buf)
		c.sendMu.Unlock()
		if err != nil {
			return wire[:k], err
		}
	}
	return wire, nil
}

// defaultPayload is FramePayload for codecs cut by bytes, else silence.
func (c *Call) defaultPayload(i int, dst []byte) []byte {
	if byteStream(c.format) {
		return FramePayload(dst, i)
	}
	return append(dst, c.silence...)
}

// ErrMisplaced means a frame FramePayload wrote reached a stream at a slot
// other than its own, or twice.
var ErrMisplaced = errors.New("sipcaller: frame misplaced")

// Placement checks where a plan's frames reached a stream (in a
// pass-through format, µ-law for a PCMU call): slots[k] is media message
// k's slot (its chunk number, or its timestamp over 20 ms) and payloads[k]
// its payload. Every payload FramePayload wrote must sit at slot s0 + its
// frame number, s0 fixed by the first one found: a frame shifted by a slot,
// appended out of place or delivered twice is an ErrMisplaced naming it.
// Other payloads (silence, concealment) are skipped. It returns the frame
// numbers found, in message order.
func Placement(slots []uint64, payloads [][]byte) ([]int, error) {
	if len(slots) != len(payloads) {
		return nil, fmt.Errorf("sipcaller: placement of %d slots and %d payloads", len(slots), len(payloads))
	}
	var (
		found []int
		base  int64
		seen  = map[int]bool{}
	)
	for k, p := range payloads {
		i, ok := FrameNumber(p)
		if !ok {
			continue
		}
		if len(found) == 0 {
			base = int64(slots[k]) - int64(i)
		}
		if want := base + int64(i); int64(slots[k]) != want {
			return found, fmt.Errorf("%w: frame %d at slot %d, want %d (message %d)", ErrMisplaced, i, slots[k], want, k)
		}
		if seen[i] {
			return found, fmt.Errorf("%w: frame %d twice (message %d)", ErrMisplaced, i, k)
		}
		seen[i] = true
		found = append(found, i)
	}
	return found, nil
}
