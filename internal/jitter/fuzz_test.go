package jitter

import (
	"encoding/binary"
	"testing"
	"time"
)

// wide is a Divisible codec of four bytes per timestamp unit, so a test
// sender can write each unit's own timestamp into the audio and a check can
// read back which timestamps a slot holds.
func wide(delay time.Duration) Config {
	return Config{SamplesPerFrame: 160, MaxPayload: 640, Divisible: true, Silence: make([]byte, 640), Delay: delay}
}

// stamped returns the audio of units timestamp units from ts, each unit
// its timestamp, little-endian.
func stamped(ts uint32, units int) []byte {
	out := make([]byte, 4*units)
	for i := range units {
		binary.LittleEndian.PutUint32(out[4*i:], ts+uint32(i))
	}
	return out
}

// FuzzJitter drives a Buffer with arbitrary sequences of packets (any
// timestamps, sequence numbers, sources, marker bits, lengths, arrival
// times, duplicates) and pops (in order, repeated, jumping ahead). Nothing
// may panic, and:
//   - a slot's audio is never returned twice (a repeated Pop is Stale);
//   - a slot of Audio holds consecutive timestamps, every one of them sent
//     by some packet: the bytes Put for that timestamp;
//   - within one timeline (no new anchor in between) no timestamp plays twice;
//   - every Pop is counted once: Frames + Covered + Concealed + NotStarted + Stale.
func FuzzJitter(f *testing.F) {
	f.Add([]byte{0, 0, 1, 0, 0, 1, 5, 0, 0, 0, 0, 1, 5, 1, 30, 0, 0, 0, 0, 0, 0, 0, 1, 3, 1, 200, 0, 0, 0, 0})
	f.Add([]byte{1, 8, 0, 0, 0, 2, 3, 0, 0, 2, 0, 0, 1, 0, 1, 5, 0, 0, 0, 0, 1, 0, 0, 3, 0, 7, 0, 0, 2, 0, 1, 60, 0, 0, 0, 0})
	f.Add([]byte{2, 12, 1, 0, 0, 1, 2, 20, 0, 1, 9, 0, 0, 5, 1, 10, 0, 0, 4, 200, 100, 0, 3, 0, 7, 1, 255, 3, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 1 {
			return
		}
		cfg := []Config{wide(0), wide(60 * ms), pcmu(0), {SamplesPerFrame: 960, MaxPayload: 400}}[int(data[0])%4]
		data = data[1:]
		b, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		checkTS := cfg.MaxPayload == 640
		sent := map[uint32]bool{} // half-slot (80 unit) timestamps sent, checkTS only
		played := map[uint32]uint64{}
		var (
			seq                 uint16 = 1
			ts                  uint32 = 0xFFFFF000
			ssrc                uint32 = 1
			now                 time.Duration
			next                uint64
			notStarted, stale   uint64
			pops                uint64
			last                Packet
			lastAt              time.Duration
			units               = 160
			reanchorsAtLastPlay uint64
		)
		pop := func(n uint64) {
			pops++
			p, st := b.Pop(n)
			switch st {
			case NotStarted:
				notStarted++
			case Stale:
				stale++
				if p != nil {
					t.Fatalf("stale pop of slot %d returned audio", n)
				}
			case Audio:
				if !checkTS {
					return
				}
				first := binary.LittleEndian.Uint32(p)
				ra := b.Stats().Reanchors
				if ra != reanchorsAtLastPlay {
					clear(played)
					reanchorsAtLastPlay = ra
				}
				for i := range 160 {
					u := binary.LittleEndian.Uint32(p[4*i:])
					if u != first+uint32(i) {
						t.Fatalf("slot %d: unit %d holds ts %d after %d", n, i, u, first)
					}
					if i%80 == 0 && !sent[u/80] {
						t.Fatalf("slot %d holds ts %d, which no packet sent", n, u)
					}
				}
				if at, ok := played[first]; ok {
					t.Fatalf("ts %d played in slot %d and again in slot %d", first, at, n)
				}
				played[first] = n
			}
		}
		for len(data) >= 6 {
			op, a, c, d, e, g := data[0], data[1], data[2], data[3], data[4], data[5]
			data = data[6:]
			switch op % 4 {
			case 0: // time passes; the clock pops what is due
				now += time.Duration(a) * ms
				for ; time.Duration(next)*SlotDuration <= now; next++ {
					pop(next)
				}
			case 1: // the clock misbehaves: a repeated pop or a jump ahead
				if c&1 == 0 && next > 0 {
					pop(next - 1)
				} else {
					next += uint64(a)
					now = max(now, time.Duration(next)*SlotDuration)
				}
			case 2: // a copy of the last packet, now
				if last.Payload != nil {
					b.Put(last, now+time.Duration(int8(a))*ms)
				}
			default: // the next packet
				if op&4 != 0 { // a jump in timestamps
					ts += uint32(int16(uint16(a)|uint16(c)<<8)) * 80
				}
				if op&8 != 0 {
					ssrc ^= 3
				}
				seq += uint16(int8(d)) + 1
				if cfg.Divisible {
					units = (int(e)%6 + 1) * 80
				} else {
					units = (int(e)%3 + 1) * 960
				}
				p := Packet{Seq: seq, TS: ts, SSRC: ssrc, Marker: op&16 != 0, Units: uint32(units)}
				switch {
				case checkTS:
					p.Payload = stamped(ts, units)
					for h := 0; h < units; h += 80 {
						sent[(ts+uint32(h))/80] = true
					}
				case cfg.Divisible:
					p.Payload = make([]byte, units)
				default:
					p.Payload = make([]byte, 1+int(e)%400)
				}
				lastAt = now + time.Duration(int8(g))*ms
				b.Put(p, lastAt)
				last = p
				ts += uint32(units)
			}
		}
		st := b.Stats()
		if got := st.Frames + st.Covered + st.Concealed + notStarted + stale; got != pops {
			t.Fatalf("%d pops, counted %d: %+v, %d not started, %d stale", pops, got, st, notStarted, stale)
		}
		if st.Delay < 20*ms || st.Delay > 200*ms {
			t.Fatalf("delay %v", st.Delay)
		}
		if st.Lost > st.Concealed+st.Resizes {
			t.Fatalf("lost %d > concealed %d + resizes %d", st.Lost, st.Concealed, st.Resizes)
		}
	})
}
