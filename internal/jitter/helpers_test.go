package jitter

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

const ms = time.Millisecond

// pcmu is the configuration of a PCMU (or PCMA, G.722) call.
func pcmu(delay time.Duration) Config {
	return Config{SamplesPerFrame: 160, MaxPayload: 160, Divisible: true, Silence: bytes.Repeat([]byte{0xFF}, 160), Delay: delay}
}

// pattern is the byte a test sender puts at timestamp unit u: a hash, so
// 160 bytes from one timestamp never equal those from another.
func pattern(u uint32) byte {
	u ^= u >> 16
	u *= 0x7feb352d
	u ^= u >> 15
	u *= 0x846ca68b
	u ^= u >> 16
	return byte(u)
}

// audioAt returns n bytes of test audio starting at timestamp ts, bpu bytes per unit.
func audioAt(ts uint32, n, bpu int) []byte {
	out := make([]byte, n)
	for i := range out {
		out[i] = pattern(ts + uint32(i/bpu))
	}
	return out
}

// sent is one packet of a simulated caller and when it reaches the buffer.
type sent struct {
	Packet
	at    time.Duration // arrival on the clock's time line
	spurt int           // talkspurt index, for expectations
}

// stream builds a caller's packets: frames frames of ptime each starting
// at first (seq0, ts0), sent at start + i × ptime and arriving netDelay later.
type stream struct {
	ssrc     uint32
	seq0     uint16
	ts0      uint32
	spf      int           // timestamp units per 20 ms
	bpu      int           // bytes per timestamp unit
	ptime    time.Duration // packet duration
	start    time.Duration // send time of the first packet
	netDelay time.Duration
}

// packets returns n packets of s, the first with the marker bit.
func (s stream) packets(n int) []sent {
	units := int(s.ptime) * s.spf / int(SlotDuration)
	out := make([]sent, n)
	for i := range out {
		ts := s.ts0 + uint32(i*units)
		out[i] = sent{
			Packet: Packet{Seq: s.seq0 + uint16(i), TS: ts, SSRC: s.ssrc, Marker: i == 0, Payload: audioAt(ts, units*s.bpu, s.bpu)},
			at:     s.start + time.Duration(i)*s.ptime + s.netDelay,
		}
	}
	return out
}

// popped is what Pop returned for one slot.
type popped struct {
	status  Status
	payload []byte
}

// sim is a Buffer driven the way a call drives it, with simulated time.
type sim struct {
	b        *Buffer
	out      []popped        // by slot
	verdicts map[int]Verdict // by index into the packets given
	delays   map[int]time.Duration
}

// simulate runs a call of slots slots: before Pop(n), at n × 20 ms, every
// packet that arrived before that is Put, in arrival order (ties in the
// order given).
func simulate(t testing.TB, cfg Config, pkts []sent, slots int) *sim {
	t.Helper()
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := &sim{b: b, out: make([]popped, slots), verdicts: map[int]Verdict{}, delays: map[int]time.Duration{}}
	order := make([]int, len(pkts))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(x, y int) int { return int(pkts[x].at - pkts[y].at) })
	next := 0
	for n := range slots {
		due := time.Duration(n) * SlotDuration
		for next < len(order) && pkts[order[next]].at < due {
			i := order[next]
			s.verdicts[i] = b.Put(pkts[i].Packet, pkts[i].at)
			s.delays[i] = b.Stats().Delay
			next++
		}
		p, st := b.Pop(uint64(n))
		s.out[n] = popped{st, bytes.Clone(p)}
	}
	return s
}

// anchorSlot is where a timeline anchored at a packet arriving at `at`
// with delay d starts (the package documentation's rule).
func anchorSlot(at, d time.Duration) int {
	return int(ceilDiv(int64(at+d/2), int64(SlotDuration)))
}

// checked is what expectOwnSlots found.
type checked struct {
	late  int      // packets dropped late
	spans [][2]int // by talkspurt: the first and last slot of its audio
}

// expectOwnSlots checks the contract for a stream of packets whose
// talkspurt k is anchored at its first arriving packet: every packet that
// arrived before its slot's deadline is in its own slot, byte for byte;
// every other one was dropped Late (or Duplicate); and no slot holds audio
// that is not its own. A talkspurt that began with a packet on probation
// starts no earlier than the slot after the one popped when the next packet
// confirmed it.
func expectOwnSlots(t *testing.T, s *sim, pkts []sent, spf int) checked {
	t.Helper()
	type anchor struct {
		ts    uint32
		slot  int
		first int // index of the anchor packet
	}
	anchors := map[int]*anchor{}
	order := make([]int, len(pkts))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(x, y int) int { return int(pkts[x].at - pkts[y].at) })
	for _, i := range order {
		p := pkts[i]
		a, ok := anchors[p.spurt]
		switch {
		case !ok:
			anchors[p.spurt] = &anchor{p.TS, anchorSlot(p.at, s.delays[i]), i}
		case s.verdicts[a.first] == Probation && a.first != -1:
			confirmedAfter := int(floorDiv(int64(p.at-1), int64(SlotDuration)))
			a.slot, a.first = max(a.slot, confirmedAfter+1), -1
		}
	}
	var c checked
	want := make([][]byte, len(s.out))
	for i, p := range pkts {
		a := anchors[p.spurt]
		slot := a.slot + int(int32(p.TS-a.ts))/spf
		if slot < 0 || slot >= len(s.out) {
			continue
		}
		for len(c.spans) <= p.spurt {
			c.spans = append(c.spans, [2]int{len(s.out), -1})
		}
		c.spans[p.spurt] = [2]int{min(c.spans[p.spurt][0], slot), max(c.spans[p.spurt][1], slot)}
		onTime := p.at < time.Duration(slot)*SlotDuration
		switch v := s.verdicts[i]; {
		case onTime && want[slot] == nil:
			if v != Placed && v != Probation {
				t.Errorf("packet seq %d ts %d (arrived %v, slot %d due %v): %v, want placed", p.Seq, p.TS, p.at, slot, time.Duration(slot)*SlotDuration, v)
			}
			want[slot] = p.Payload
		case onTime:
			if v != Duplicate {
				t.Errorf("packet seq %d again: %v, want duplicate", p.Seq, v)
			}
		case v == Late:
			c.late++
		case v != Duplicate:
			t.Errorf("packet seq %d ts %d arrived %v after its slot %d was due: %v, want late", p.Seq, p.TS, p.at, slot, v)
		}
	}
	for n, o := range s.out {
		switch {
		case want[n] != nil && (o.status != Audio || !bytes.Equal(o.payload, want[n])):
			t.Errorf("slot %d: %v %x..., want its own audio %x...", n, o.status, head(o.payload), head(want[n]))
		case want[n] == nil && (o.status == Audio || o.status == Partial):
			t.Errorf("slot %d: %v %x... where no audio belongs", n, o.status, head(o.payload))
		}
	}
	return c
}

// lostInSpans counts the slots popped Lost inside the talkspurts' spans.
func lostInSpans(out []popped, spans [][2]int) int {
	c := 0
	for _, sp := range spans {
		c += countStatus(out, sp[0], sp[1]+1, Lost)
	}
	return c
}

func head(b []byte) []byte { return b[:min(len(b), 4)] }

// countStatus counts the slots in out[from:to] with status st.
func countStatus(out []popped, from, to int, st Status) int {
	c := 0
	for _, o := range out[from:min(to, len(out))] {
		if o.status == st {
			c++
		}
	}
	return c
}

// jittered adds a network delay drawn uniformly from [0, spread) to each packet.
func jittered(pkts []sent, spread time.Duration, seed uint64) []sent {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := slices.Clone(pkts)
	for i := range out {
		out[i].at += time.Duration(r.Int64N(int64(spread)))
	}
	return out
}
