package jitter

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestContinuousStream(t *testing.T) {
	cases := map[string]struct {
		cfg    Config
		spf    int
		bpu    int
		ts0    uint32
		arrive time.Duration // arrival of the first packet
	}{
		"PCMU":                   {cfg: pcmu(0), spf: 160, bpu: 1, ts0: 1234, arrive: 13700 * time.Microsecond},
		"PCMU, arrival on tick":  {cfg: pcmu(0), spf: 160, bpu: 1, ts0: 99, arrive: 40 * ms},
		"PCMU, just before tick": {cfg: pcmu(0), spf: 160, bpu: 1, ts0: 7, arrive: 59900 * time.Microsecond},
		"G.722 (8000 clock)":     {cfg: pcmu(0), spf: 160, bpu: 1, ts0: 4e9, arrive: 3 * ms},
		"L16/16000": {cfg: Config{SamplesPerFrame: 320, MaxPayload: 640, Divisible: true, Silence: make([]byte, 640)},
			spf: 320, bpu: 2, ts0: 5, arrive: 21 * ms},
		"opus": {cfg: Config{SamplesPerFrame: 960, MaxPayload: 320}, spf: 960, bpu: 0, ts0: 70000, arrive: 5 * ms},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := stream{ssrc: 1, seq0: 100, ts0: tc.ts0, spf: tc.spf, bpu: tc.bpu, ptime: 20 * ms, start: tc.arrive}
			var pkts []sent
			if tc.bpu == 0 { // opus-like: 60 bytes whatever the duration
				pkts = s.withBPU(1).packets(100)
				for i := range pkts {
					pkts[i].Payload = audioAt(pkts[i].TS, 60, 1)
				}
			} else {
				pkts = s.packets(100)
			}
			sm := simulate(t, tc.cfg, pkts, 110)
			if c := expectOwnSlots(t, sm, pkts, tc.spf); c.late != 0 {
				t.Errorf("%d late packets in a clean stream", c.late)
			}
			first := anchorSlot(tc.arrive, 20*ms)
			if hold := time.Duration(first)*SlotDuration - tc.arrive; hold < 10*ms || hold >= 30*ms {
				t.Errorf("first packet waits %v, want [10ms, 30ms): half the delay, then to the next slot", hold)
			}
			if got := countStatus(sm.out, first, first+100, Audio); got != 100 {
				t.Errorf("%d slots of audio, want 100", got)
			}
			st := sm.b.Stats()
			if st.Delay != 20*ms || st.Late != 0 || st.Lost != 0 || st.Concealed != uint64(110-first-100) || st.Frames != 100 || st.Placed != 100 {
				t.Errorf("stats %+v", st)
			}
			if st.Jitter != 0 {
				t.Errorf("jitter %v of a perfectly paced stream", st.Jitter)
			}
			for n := range first {
				if sm.out[n].status != NotStarted {
					t.Errorf("slot %d before the first packet's: %v", n, sm.out[n].status)
				}
			}
		})
	}
}

func (s stream) withBPU(bpu int) stream { s.bpu = bpu; return s }

// stalled holds every packet arriving in [from, from+d) until from+d and
// then lets them in as a burst, 50 µs apart, in sending order.
func stalled(pkts []sent, from, d time.Duration) []sent {
	out := append([]sent(nil), pkts...)
	k := 0
	for i := range out {
		if out[i].at >= from && out[i].at < from+d {
			out[i].at = from + d + time.Duration(k)*50*time.Microsecond
			k++
		}
	}
	return out
}

// talkspurts builds spurts talkspurts of frames 20 ms frames each,
// separated by pause of silence (the timestamps advance over it). With
// marker the first packet of each carries the marker bit.
func talkspurts(base stream, spurts, frames int, pause time.Duration, marker bool) []sent {
	var out []sent
	for k := range spurts {
		s := base
		offset := time.Duration(k) * (time.Duration(frames)*20*ms + pause)
		s.start += offset
		s.ts0 += uint32(offset / SlotDuration * time.Duration(base.spf))
		s.seq0 += uint16(k * frames)
		p := s.packets(frames)
		for i := range p {
			p[i].spurt = k
		}
		p[0].Marker = marker || k == 0
		out = append(out, p...)
	}
	return out
}

// TestStallThenBurst is issue 11's defect: a caller's packets stall and
// then arrive in a burst. Every packet that arrived before its deadline
// must be in its own slot, the others counted late, and no silence may be
// inserted before the audio that follows.
func TestStallThenBurst(t *testing.T) {
	for _, stall := range []time.Duration{40 * ms, 60 * ms, 120 * ms, 250 * ms} {
		for _, lateStart := range []bool{false, true} {
			for _, mode := range []string{"continuous", "marker bits", "timestamp gaps"} {
				for _, after := range []int{2, 16} {
					name := fmt.Sprintf("%v stall after %d packets, late start %v, %s", stall, after, lateStart, mode)
					t.Run(name, func(t *testing.T) { testStallThenBurst(t, stall, after, lateStart, mode) })
				}
			}
		}
	}
}

func testStallThenBurst(t *testing.T, stall time.Duration, after int, lateStart bool, mode string) {
	base := stream{ssrc: 0xdeadbeef, seq0: 65500, ts0: 0xFFFFF000, spf: 160, bpu: 1, ptime: 20 * ms,
		start: 3700 * time.Microsecond, netDelay: 2 * ms}
	if lateStart {
		base.start = 500 * ms
	}
	var pkts []sent
	stallAt := base.start + base.netDelay + time.Duration(after)*20*ms - 100*time.Microsecond
	if mode == "continuous" {
		pkts = base.packets(100)
	} else {
		pkts = talkspurts(base, 3, 40, 360*ms, mode == "marker bits")
		stallAt += 40*20*ms + 360*ms // in the second talkspurt
	}
	pkts = stalled(pkts, stallAt, stall)
	sm := simulate(t, pcmu(0), pkts, 200+int(base.start/SlotDuration))
	c := expectOwnSlots(t, sm, pkts, 160)
	st := sm.b.Stats()
	if want := int(stall/(20*ms)) - 1; c.late < want || c.late > want+1 {
		t.Errorf("%d late packets, want %d or %d", c.late, want, want+1)
	}
	if st.Late != uint64(c.late) || st.Lost != 0 || st.Duplicates != 0 || st.Overflow != 0 || st.Probation != 0 {
		t.Errorf("stats %+v, want %d late and nothing lost", st, c.late)
	}
	// Inside the talkspurts, the concealed slots are the late packets' slots, no more.
	if got := lostInSpans(sm.out, c.spans); got != c.late {
		t.Errorf("%d slots concealed inside talkspurts, want %d", got, c.late)
	}
	if wantReanchors := map[string]uint64{"continuous": 0, "marker bits": 2, "timestamp gaps": 2}[mode]; st.Reanchors != wantReanchors {
		t.Errorf("%d reanchors, want %d", st.Reanchors, wantReanchors)
	}
}

func TestReorderedAndDuplicated(t *testing.T) {
	base := stream{ssrc: 7, seq0: 65530, ts0: 0xFFFFFF00, spf: 160, bpu: 1, ptime: 20 * ms, start: 5 * ms, netDelay: 30 * ms}
	pkts := base.packets(60)
	// Swap neighbours 10/11, 20/21, ... (each pair arrives reversed, 1 ms apart).
	for i := 10; i+1 < len(pkts); i += 10 {
		pkts[i].at, pkts[i+1].at = pkts[i+1].at+ms, pkts[i].at
	}
	// Packet 5 arrives three slots late, behind 6, 7 and 8 (a deeper reordering).
	pkts[5].at += 65 * ms
	// Copies: 30 right after the original, 40 after its slot passed.
	dupNow, dupLate := pkts[30], pkts[40]
	dupNow.at += 100 * time.Microsecond
	dupLate.at += 150 * ms
	pkts = append(pkts, dupNow, dupLate)
	sm := simulate(t, pcmu(60*ms), pkts, 150)
	if c := expectOwnSlots(t, sm, pkts, 160); c.late != 1 {
		t.Errorf("%d late, want 1 (packet 5)", c.late)
	}
	st := sm.b.Stats()
	if st.Duplicates != 2 || st.Late != 1 || st.Reordered != 5 || st.Lost != 0 || st.Reanchors != 0 {
		t.Errorf("stats %+v, want 2 duplicates, 1 late, 5 reordered", st)
	}
	if sm.verdicts[60] != Duplicate || sm.verdicts[61] != Duplicate {
		t.Errorf("copies: %v, %v", sm.verdicts[60], sm.verdicts[61])
	}
}

func TestLostVersusLate(t *testing.T) {
	base := stream{ssrc: 3, ts0: 500, spf: 160, bpu: 1, ptime: 20 * ms, start: 2 * ms, netDelay: ms}
	pkts := base.packets(50)
	lostOne := append(append([]sent(nil), pkts[:20]...), pkts[21:]...)
	sm := simulate(t, pcmu(40*ms), lostOne, 70)
	expectOwnSlots(t, sm, lostOne, 160)
	if st := sm.b.Stats(); st.Lost != 1 || st.Late != 0 || st.Concealed != uint64(1+countStatus(sm.out, 52, 70, Lost)) {
		t.Errorf("packet never sent: stats %+v, want 1 lost", st)
	}
	delayed := append([]sent(nil), pkts...)
	delayed[20].at += 90 * ms
	sm = simulate(t, pcmu(40*ms), delayed, 70)
	expectOwnSlots(t, sm, delayed, 160)
	if st := sm.b.Stats(); st.Lost != 0 || st.Late != 1 {
		t.Errorf("packet late: stats %+v, want 1 late, 0 lost", st)
	}
	// Three packets missing at the end of a 20 ms buffer's look-ahead: counted once the next one comes.
	three := append(append([]sent(nil), pkts[:20]...), pkts[22:]...)
	sm = simulate(t, pcmu(0), three, 70)
	expectOwnSlots(t, sm, three, 160)
	if st := sm.b.Stats(); st.Lost != 2 || st.Late != 0 {
		t.Errorf("two packets never sent: stats %+v, want 2 lost", st)
	}
}

func TestSSRCChange(t *testing.T) {
	a := stream{ssrc: 1, seq0: 10, ts0: 1000, spf: 160, bpu: 1, ptime: 20 * ms, start: 4 * ms, netDelay: 3 * ms}
	b := stream{ssrc: 2, seq0: 40000, ts0: 3e9, spf: 160, bpu: 1, ptime: 20 * ms, start: 4*ms + 30*20*ms, netDelay: 3 * ms}
	pkts := a.packets(30)
	second := b.packets(30)
	for i := range second {
		second[i].spurt = 1
	}
	// The old source's last packet arrives after the new source began, still before its slot.
	pkts[29].at += 15 * ms
	pkts = append(pkts, second...)
	sm := simulate(t, pcmu(40*ms), pkts, 80)
	if sm.verdicts[30] != Probation || sm.verdicts[31] != Placed {
		t.Errorf("new source's first two packets: %v, %v; want probation, placed", sm.verdicts[30], sm.verdicts[31])
	}
	expectOwnSlots(t, sm, pkts, 160)
	st := sm.b.Stats()
	if st.Reanchors != 1 || st.Late != 0 || st.Lost != 0 || st.Probation != 1 || st.Frames != 60 {
		t.Errorf("stats %+v", st)
	}
	// A single packet of a stranger SSRC stays on probation and moves nothing.
	stray := a.packets(40)
	odd := stray[20]
	odd.SSRC, odd.TS, odd.Seq = 99, 12345, 7
	odd.at += 5 * ms
	stray = append(stray, odd)
	sm = simulate(t, pcmu(0), stray, 60)
	expectOwnSlots(t, sm, stray[:40], 160)
	if st := sm.b.Stats(); st.Reanchors != 0 || st.Probation != 1 || st.Frames != 40 {
		t.Errorf("stray packet: stats %+v", st)
	}
}

func TestTimestampJumps(t *testing.T) {
	for name, jump := range map[string]int64{"forward 5 s": 5 * 8000, "backward 3 s": -3 * 8000, "forward 1.2 s": 9600} {
		t.Run(name, func(t *testing.T) {
			a := stream{ssrc: 5, seq0: 1, ts0: 0x7FFFFF00, spf: 160, bpu: 1, ptime: 20 * ms, start: 9 * ms, netDelay: 2 * ms}
			pkts := a.packets(60)
			for i := 30; i < 60; i++ {
				pkts[i].TS += uint32(jump)
				pkts[i].Payload = audioAt(pkts[i].TS, 160, 1)
				pkts[i].spurt = 1
			}
			sm := simulate(t, pcmu(0), pkts, 80)
			// The packet that jumps waits for the next to confirm it, then both go
			// to consecutive slots right after the audio before.
			if sm.verdicts[30] != Probation || sm.verdicts[31] != Placed {
				t.Fatalf("verdicts at the jump: %v, %v", sm.verdicts[30], sm.verdicts[31])
			}
			expectOwnSlots(t, sm, pkts, 160)
			st := sm.b.Stats()
			if st.Reanchors != 1 || st.Frames != 60 || st.Late != 0 {
				t.Errorf("stats %+v", st)
			}
			if got := countStatus(sm.out, 0, 80, Audio); got != 60 {
				t.Errorf("%d slots of audio, want 60", got)
			}
		})
	}
	t.Run("within a second, no marker", func(t *testing.T) {
		// A sender that skips 600 ms of timestamps while sending on: the
		// packets after the skip map 30 slots ahead, which is beyond what
		// the buffer holds, so they start a new timeline once confirmed.
		a := stream{ssrc: 5, ts0: 77, spf: 160, bpu: 1, ptime: 20 * ms, start: 9 * ms, netDelay: 2 * ms}
		pkts := a.packets(60)
		for i := 30; i < 60; i++ {
			pkts[i].TS += 4800
			pkts[i].Payload = audioAt(pkts[i].TS, 160, 1)
			pkts[i].spurt = 1
		}
		sm := simulate(t, pcmu(0), pkts, 80)
		expectOwnSlots(t, sm, pkts, 160)
		if st := sm.b.Stats(); st.Reanchors != 1 || st.Frames != 60 {
			t.Errorf("stats %+v", st)
		}
	})
}

func TestWrapAround(t *testing.T) {
	// Timestamps wrap at 2^32 and sequence numbers at 2^16 in the middle of
	// the stream, with reordering across both.
	a := stream{ssrc: 9, seq0: 65520, ts0: 0xFFFFFFFF - 20*160 + 1, spf: 160, bpu: 1, ptime: 20 * ms, start: 3 * ms, netDelay: 10 * ms}
	pkts := a.packets(50)
	pkts[19].at, pkts[20].at = pkts[20].at, pkts[19].at+ms // ts wrap between them
	pkts[15].at, pkts[16].at = pkts[16].at, pkts[15].at+ms // seq wrap between them
	sm := simulate(t, pcmu(40*ms), pkts, 60)
	if c := expectOwnSlots(t, sm, pkts, 160); c.late != 0 {
		t.Errorf("%d late", c.late)
	}
	if st := sm.b.Stats(); st.Reanchors != 0 || st.Frames != 50 || st.Reordered != 2 {
		t.Errorf("stats %+v", st)
	}
}

func TestPacketDurations(t *testing.T) {
	for _, ptime := range []time.Duration{10 * ms, 30 * ms, 40 * ms, 60 * ms} {
		t.Run(ptime.String(), func(t *testing.T) {
			a := stream{ssrc: 4, ts0: 0xFFFFF000, spf: 160, bpu: 1, ptime: ptime, start: 7 * ms, netDelay: ms}
			n := int(2 * time.Second / ptime)
			pkts := a.packets(n)
			drop := n / 2
			pkts = append(pkts[:drop], pkts[drop+1:]...) // one packet never arrives
			sm := simulate(t, pcmu(80*ms), pkts, 120)
			// Every slot holds the 160 bytes of its 20 ms, cut from or assembled out of packets.
			first := anchorSlot(pkts[0].at, 80*ms)
			lostFrom := a.ts0 + uint32(drop)*uint32(ptime/SlotDuration*160+(ptime%SlotDuration)*160/SlotDuration)
			lostTo := lostFrom + uint32(ptime*160/SlotDuration)
			for k := range int(time.Duration(n) * ptime / SlotDuration) {
				o := sm.out[first+k]
				ts := a.ts0 + uint32(k*160)
				want := audioAt(ts, 160, 1)
				for i := range want {
					if u := ts + uint32(i); int32(u-lostFrom) >= 0 && int32(u-lostTo) < 0 {
						want[i] = 0xFF // the silence of the missing packet's part
					}
				}
				wantStatus := Audio
				if int32(ts+160-lostFrom) > 0 && int32(ts-lostTo) < 0 {
					wantStatus = Partial
					if int32(ts-lostFrom) >= 0 && int32(ts+160-lostTo) <= 0 {
						wantStatus = Lost
						want = nil
					}
				}
				if o.status != wantStatus || !bytes.Equal(o.payload, want) {
					t.Errorf("slot %d (ts %d): %v %x..., want %v %x...", first+k, ts, o.status, head(o.payload), wantStatus, head(want))
				}
			}
			st := sm.b.Stats()
			if st.Late != 0 || st.Misfit != 0 || st.Reanchors != 0 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

func TestLongOpusPackets(t *testing.T) {
	b, err := New(Config{SamplesPerFrame: 960, MaxPayload: 400})
	if err != nil {
		t.Fatal(err)
	}
	p40 := bytes.Repeat([]byte{1}, 300)
	if v := b.Put(Packet{Seq: 1, TS: 0, SSRC: 1, Payload: p40, Units: 1920}, 5*ms); v != Placed {
		t.Fatalf("40 ms packet: %v", v)
	}
	if v := b.Put(Packet{Seq: 2, TS: 1920, SSRC: 1, Payload: []byte{2}, Units: 960}, 45*ms); v != Placed {
		t.Fatalf("20 ms packet: %v", v)
	}
	var got []Status
	for n := range 5 {
		p, st := b.Pop(uint64(n))
		got = append(got, st)
		if st == Audio && len(p) == 0 {
			t.Errorf("slot %d: audio without payload", n)
		}
	}
	want := []Status{NotStarted, Audio, Covered, Audio, Lost}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	for name, p := range map[string]Packet{
		"10 ms":        {Seq: 3, TS: 2880, SSRC: 1, Payload: []byte{3}, Units: 480},
		"100 ms":       {Seq: 3, TS: 2880, SSRC: 1, Payload: []byte{3}, Units: 4800},
		"too large":    {Seq: 3, TS: 2880, SSRC: 1, Payload: make([]byte, 401)},
		"empty":        {Seq: 3, TS: 2880, SSRC: 1},
		"off the grid": {Seq: 3, TS: 2881, SSRC: 1, Payload: []byte{3}},
	} {
		if v := b.Put(p, 100*ms); v != Misfit {
			t.Errorf("%s: %v, want misfit", name, v)
		}
	}
}

func TestMisfits(t *testing.T) {
	b, err := New(pcmu(0))
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]Packet{
		"empty":                     {Seq: 1, TS: 0, SSRC: 1},
		"odd length":                {Seq: 1, TS: 0, SSRC: 1, Payload: make([]byte, 163)},
		"longer than four slots":    {Seq: 1, TS: 0, SSRC: 1, Payload: make([]byte, 5*160)},
		"timestamp off the 10 grid": {Seq: 1, TS: 5, SSRC: 1, Payload: make([]byte, 160)},
	} {
		if name == "timestamp off the 10 grid" {
			if v := b.Put(Packet{Seq: 0, TS: 0, SSRC: 1, Payload: make([]byte, 160)}, 0); v != Placed {
				t.Fatalf("anchor: %v", v)
			}
		}
		if v := b.Put(p, ms); v != Misfit {
			t.Errorf("%s: %v, want misfit", name, v)
		}
	}
	if st := b.Stats(); st.Misfit != 4 || st.Packets != 5 {
		t.Errorf("stats %+v", st)
	}
}

func TestClockJumps(t *testing.T) {
	b, err := New(pcmu(60 * ms))
	if err != nil {
		t.Fatal(err)
	}
	a := stream{ssrc: 1, spf: 160, bpu: 1, ptime: 20 * ms, start: ms}
	pkts := a.packets(40)
	put := func(upTo time.Duration) {
		for len(pkts) > 0 && pkts[0].at < upTo {
			b.Put(pkts[0].Packet, pkts[0].at)
			pkts = pkts[1:]
		}
	}
	var frames int
	for n := range 50 {
		if n >= 10 && n < 20 {
			continue // the clock stalls for 200 ms and skips these slots
		}
		put(time.Duration(n) * SlotDuration)
		if _, st := b.Pop(uint64(n)); st == Audio {
			frames++
		}
	}
	if _, st := b.Pop(30); st != Stale {
		t.Errorf("popping an old slot again: %v", st)
	}
	if _, st := b.Pop(MaxSlot + 1); st != Stale {
		t.Errorf("a slot beyond MaxSlot: %v", st)
	}
	st := b.Stats()
	if st.Skipped != 10 || frames != 30 || st.Late != 0 {
		t.Errorf("skipped %d, frames %d, stats %+v", st.Skipped, frames, st)
	}
}

func TestConfig(t *testing.T) {
	cases := map[string]struct {
		cfg  Config
		want string
	}{
		"no samples":             {Config{MaxPayload: 160}, "SamplesPerFrame 0"},
		"no payload":             {Config{SamplesPerFrame: 160}, "MaxPayload 0"},
		"huge payload":           {Config{SamplesPerFrame: 160, MaxPayload: 1 << 20}, "MaxPayload 1048576"},
		"divisible, no silence":  {Config{SamplesPerFrame: 160, MaxPayload: 160, Divisible: true}, "Silence has 0 bytes"},
		"delay under a slot":     {Config{SamplesPerFrame: 160, MaxPayload: 160, Delay: 10 * ms}, "Delay 10ms"},
		"delay over the limit":   {Config{SamplesPerFrame: 160, MaxPayload: 160, Delay: 2 * time.Second}, "Delay 2s"},
		"floor under a slot":     {Config{SamplesPerFrame: 160, MaxPayload: 160, MinDelay: 5 * ms}, "MinDelay 5ms"},
		"floor above ceiling":    {Config{SamplesPerFrame: 160, MaxPayload: 160, MinDelay: 300 * ms, MaxDelay: 250 * ms}, "MinDelay 300ms"},
		"ceiling over the limit": {Config{SamplesPerFrame: 160, MaxPayload: 160, MaxDelay: 3 * time.Second}, "MaxDelay 3s"},
		"delay over ceiling":     {Config{SamplesPerFrame: 160, MaxPayload: 160, Delay: 300 * ms, MaxDelay: 250 * ms}, "Delay 300ms is over"},
	}
	for name, tc := range cases {
		_, err := New(tc.cfg)
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrInvalidConfig naming %q", name, err, tc.want)
		}
	}
	b, err := New(Config{SamplesPerFrame: 160, MaxPayload: 160, Delay: 500 * ms})
	if err != nil {
		t.Fatal(err)
	}
	if st := b.Stats(); st.Delay != 500*ms || st.Target != 500*ms {
		t.Errorf("fixed 500 ms: %+v", st)
	}
}

func TestNames(t *testing.T) {
	for s := NotStarted; s <= Stale+1; s++ {
		if s.String() == "" {
			t.Errorf("status %d unnamed", s)
		}
	}
	for v := Placed; v <= Misfit+1; v++ {
		if v.String() == "" {
			t.Errorf("verdict %d unnamed", v)
		}
	}
	if Lost.String() != "lost" || Late.String() != "late" || Status(99).String() != "unknown" {
		t.Error("names")
	}
}

func TestMarkerBits(t *testing.T) {
	base := stream{ssrc: 1, seq0: 9, ts0: 640, spf: 160, bpu: 1, ptime: 20 * ms, start: 8 * ms, netDelay: ms}
	t.Run("on every packet, with a stall", func(t *testing.T) {
		pkts := base.packets(100)
		for i := range pkts {
			pkts[i].Marker = true
		}
		pkts = stalled(pkts, pkts[30].at-100*time.Microsecond, 120*ms)
		sm := simulate(t, pcmu(0), pkts, 120)
		c := expectOwnSlots(t, sm, pkts, 160)
		if st := sm.b.Stats(); st.Reanchors != 0 || c.late < 5 || c.late > 6 {
			t.Errorf("stats %+v, %d late; want no new timeline and the burst in its own slots", st, c.late)
		}
	})
	t.Run("timestamps not advanced over silence", func(t *testing.T) {
		// The second talkspurt's timestamps follow on from the first's, but
		// it is sent 400 ms later with the marker bit: a new timeline, not
		// 20 late packets.
		first := base.packets(40)
		second := base
		second.ts0 += 40 * 160
		second.seq0 += 40
		second.start += 40*20*ms + 400*ms
		next := second.packets(40)
		for i := range next {
			next[i].spurt = 1
		}
		pkts := append(first, next...)
		sm := simulate(t, pcmu(0), pkts, 130)
		c := expectOwnSlots(t, sm, pkts, 160)
		if st := sm.b.Stats(); st.Reanchors != 1 || c.late != 0 || st.Frames != 80 {
			t.Errorf("stats %+v, %d late", st, c.late)
		}
	})
}
