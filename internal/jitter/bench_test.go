package jitter

import (
	"testing"
	"time"
)

// feeder produces a steady 20 ms stream and pops each slot as a call does:
// one Put and one Pop per step, in the same buffers every time.
type feeder struct {
	b       *Buffer
	payload []byte
	units   uint32
	seq     uint16
	ts      uint32
	n       uint64
	swap    bool // send packets in swapped pairs
	held    Packet
}

func newFeeder(tb testing.TB, cfg Config, payloadBytes int, units uint32) *feeder {
	tb.Helper()
	b, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return &feeder{b: b, payload: make([]byte, payloadBytes), units: units, ts: 0xFFFF0000, seq: 65000}
}

// step puts the next packet (its arrival 5 ms into the slot before the one
// popped) and pops one slot.
func (f *feeder) step() {
	at := time.Duration(f.n)*SlotDuration + 5*time.Millisecond
	p := Packet{Seq: f.seq, TS: f.ts, SSRC: 42, Payload: f.payload}
	f.seq++
	f.ts += f.units
	switch {
	case !f.swap:
		f.b.Put(p, at)
	case f.seq%2 == 0:
		f.held = p
	default:
		f.b.Put(p, at)
		f.b.Put(f.held, at)
	}
	f.n++
	f.b.Pop(f.n)
}

func TestPutPopDoNotAllocate(t *testing.T) {
	cases := map[string]*feeder{
		"PCMU 20 ms":        newFeeder(t, pcmu(0), 160, 160),
		"PCMU 30 ms":        newFeeder(t, pcmu(0), 240, 240),
		"PCMU 20 ms, fixed": newFeeder(t, pcmu(60*time.Millisecond), 160, 160),
		"opus":              newFeeder(t, Config{SamplesPerFrame: 960, MaxPayload: 320}, 80, 960),
	}
	swapped := newFeeder(t, pcmu(0), 160, 160)
	swapped.swap = true
	cases["PCMU reordered"] = swapped
	for name, f := range cases {
		for range 200 { // past the first packets and any resize
			f.step()
		}
		if a := testing.AllocsPerRun(1000, f.step); a != 0 {
			t.Errorf("%s: %v allocations per Put and Pop", name, a)
		}
		if st := f.b.Stats(); st.Frames < 1000 {
			t.Errorf("%s: only %d frames: %+v", name, st.Frames, st)
		}
	}
	// Probation, a new timeline and the lost and late paths allocate nothing either.
	f := newFeeder(t, pcmu(0), 160, 160)
	for range 50 {
		f.step()
	}
	if a := testing.AllocsPerRun(100, func() {
		f.ts += 50_000 // a jump: probation, then a new timeline
		f.step()
		f.step()
		f.seq += 3 // three packets lost
		f.ts += 3 * 160
		f.step()
		f.b.Put(Packet{Seq: f.seq - 10, TS: f.ts - 1600, SSRC: 42, Payload: f.payload}, time.Duration(f.n)*SlotDuration) // late
		f.b.Stats()
	}); a != 0 {
		t.Errorf("%v allocations on the rarer paths", a)
	}
}

func BenchmarkPutPop(b *testing.B) {
	cases := []struct {
		name  string
		cfg   Config
		bytes int
		units uint32
		swap  bool
	}{
		{"PCMU/20ms", pcmu(0), 160, 160, false},
		{"PCMU/30ms", pcmu(0), 240, 240, false},
		{"PCMU/reordered", pcmu(0), 160, 160, true},
		{"PCMU/fixed60ms", pcmu(60 * time.Millisecond), 160, 160, false},
		{"opus", Config{SamplesPerFrame: 960, MaxPayload: 320}, 80, 960, false},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			f := newFeeder(b, c.cfg, c.bytes, c.units)
			f.swap = c.swap
			b.ReportAllocs()
			for b.Loop() {
				f.step()
			}
		})
	}
}
