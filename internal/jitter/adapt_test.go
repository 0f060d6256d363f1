package jitter

import (
	"math/rand/v2"
	"testing"
	"time"
)

// checkOrderedOnce checks what must hold however the timeline moves: each
// slot's audio is one packet's audio (20 ms packets), every placed packet
// plays exactly once, in timestamp order, and no late one plays. It
// returns the slot each packet played in (-1: none).
func checkOrderedOnce(t *testing.T, s *sim, pkts []sent) []int {
	t.Helper()
	byAudio := map[string]int{}
	for i, p := range pkts {
		if _, ok := byAudio[string(p.Payload)]; !ok {
			byAudio[string(p.Payload)] = i
		}
	}
	playedAt := make([]int, len(pkts))
	for i := range playedAt {
		playedAt[i] = -1
	}
	prev := -1
	for n, o := range s.out {
		if o.status != Audio {
			continue
		}
		i, ok := byAudio[string(o.payload)]
		switch {
		case !ok:
			t.Fatalf("slot %d: audio %x... that no packet carried", n, head(o.payload))
		case playedAt[i] >= 0:
			t.Fatalf("packet seq %d played twice, in slots %d and %d", pkts[i].Seq, playedAt[i], n)
		case prev >= 0 && int32(pkts[i].TS-pkts[prev].TS) <= 0:
			t.Fatalf("slot %d plays ts %d after ts %d", n, pkts[i].TS, pkts[prev].TS)
		}
		playedAt[i], prev = n, i
	}
	for i, p := range pkts {
		switch v := s.verdicts[i]; {
		case v == Placed && playedAt[i] < 0 && !(s.b.Stats().Skipped > 0 || s.b.Stats().Flushed > 0):
			t.Errorf("packet seq %d placed but never played", p.Seq)
		case v == Late && playedAt[i] >= 0 && byAudio[string(p.Payload)] == i:
			t.Errorf("late packet seq %d played in slot %d", p.Seq, playedAt[i])
		}
	}
	return playedAt
}

// bounded checks that the delay stayed within [lo, hi] after every Put.
func bounded(t *testing.T, s *sim, lo, hi time.Duration) {
	t.Helper()
	for i, d := range s.delays {
		if d < lo || d > hi {
			t.Fatalf("delay %v after packet %d, want within [%v, %v]", d, i, lo, hi)
		}
	}
}

func TestAdaptiveDelayFollowsJitter(t *testing.T) {
	base := stream{ssrc: 1, ts0: 99, spf: 160, bpu: 1, ptime: 20 * ms, start: 6 * ms, netDelay: ms}
	var delays []time.Duration
	for _, spread := range []time.Duration{0, 20 * ms, 60 * ms, 150 * ms, 900 * ms} {
		pkts := jittered(talkspurts(base, 12, 100, 300*ms, true), max(spread, 1), 42)
		slots := 12*(100+15) + 80
		sm := simulate(t, pcmu(0), pkts, slots)
		bounded(t, sm, 20*ms, 200*ms)
		checkOrderedOnce(t, sm, pkts)
		st := sm.b.Stats()
		delays = append(delays, st.Delay)
		// After the first talkspurts, few packets come late.
		lateLater := 0
		for i, p := range pkts {
			if p.spurt >= 4 && sm.verdicts[i] == Late {
				lateLater++
			}
		}
		t.Logf("spread %v: jitter %v, delay %v, late %d (%d after the 4th talkspurt), reanchors %d, resizes %d",
			spread, st.Jitter, st.Delay, st.Late, lateLater, st.Reanchors, st.Resizes)
		if spread <= 150*ms && lateLater > 8*100/100*2 {
			t.Errorf("spread %v: %d late packets after the delay settled, want at most 2%%", spread, lateLater)
		}
	}
	if delays[0] != 20*ms {
		t.Errorf("no jitter: delay %v, want the 20 ms floor", delays[0])
	}
	for i := 1; i < len(delays); i++ {
		if delays[i] <= delays[i-1] && delays[i] != 200*ms {
			t.Errorf("delays %v do not rise with the jitter", delays)
		}
	}
	if delays[len(delays)-1] != 200*ms {
		t.Errorf("900 ms of jitter: delay %v, want the 200 ms ceiling", delays[len(delays)-1])
	}
}

func TestAdaptiveDelayShrinksSlowly(t *testing.T) {
	base := stream{ssrc: 1, ts0: 5, spf: 160, bpu: 1, ptime: 20 * ms, start: 6 * ms, netDelay: ms}
	pkts := talkspurts(base, 40, 50, 200*ms, true)
	// A rough first 5 talkspurts (60 ms of jitter), then a clean line.
	r := rand.New(rand.NewPCG(7, 7))
	for i := range pkts {
		if pkts[i].spurt < 5 {
			pkts[i].at += time.Duration(r.Int64N(int64(60 * ms)))
		}
	}
	sm := simulate(t, pcmu(0), pkts, 40*60+50)
	bounded(t, sm, 20*ms, 200*ms)
	var anchors []time.Duration
	for i, p := range pkts {
		if p.Marker {
			anchors = append(anchors, sm.delays[i])
		}
	}
	peak := 0
	for k := range anchors {
		if anchors[k] > anchors[peak] {
			peak = k
		}
		if k > 0 && anchors[k] < anchors[k-1]-SlotDuration {
			t.Errorf("talkspurt %d: delay fell from %v to %v, more than a slot", k, anchors[k-1], anchors[k])
		}
	}
	if anchors[peak] < 60*ms {
		t.Errorf("delay peaked at %v after 60 ms of jitter", anchors[peak])
	}
	if last := anchors[len(anchors)-1]; last > 30*ms {
		t.Errorf("delay %v after 35 clean talkspurts, want back near the floor (delays %v)", last, anchors)
	}
	// The clean talkspurts lose nothing, each in its own slots.
	var clean []sent
	for _, p := range pkts {
		if p.spurt >= 5 {
			clean = append(clean, p)
		}
	}
	for i := range pkts {
		if pkts[i].spurt >= 5 && sm.verdicts[i] != Placed {
			t.Errorf("clean packet seq %d: %v", pkts[i].Seq, sm.verdicts[i])
		}
	}
	checkOrderedOnce(t, sm, pkts)
}

func TestAdaptiveGrowsWhenLate(t *testing.T) {
	// A continuous stream (no marker bits, no pauses) that turns jittery:
	// the buffer grows across slots concealed after late audio, so that
	// later packets stop coming late.
	base := stream{ssrc: 1, ts0: 5, spf: 160, bpu: 1, ptime: 20 * ms, start: 6 * ms, netDelay: ms}
	pkts := base.packets(1500)
	r := rand.New(rand.NewPCG(3, 9))
	for i := 100; i < len(pkts); i++ {
		pkts[i].at += time.Duration(r.Int64N(int64(50 * ms)))
	}
	sm := simulate(t, pcmu(0), pkts, 1600)
	bounded(t, sm, 20*ms, 200*ms)
	checkOrderedOnce(t, sm, pkts)
	st := sm.b.Stats()
	lateFirst, lateLast := 0, 0
	for i := range pkts {
		if sm.verdicts[i] == Late {
			if i < 300 {
				lateFirst++
			} else if i >= 1000 {
				lateLast++
			}
		}
	}
	t.Logf("stats %+v; late in packets 100-299: %d, in 1000-1499: %d", st, lateFirst, lateLast)
	if st.Resizes == 0 || st.Delay < 40*ms {
		t.Errorf("delay %v after %d resizes, want grown", st.Delay, st.Resizes)
	}
	if lateLast > 10 {
		t.Errorf("%d of the last 500 packets late, want at most 2%%", lateLast)
	}
}

func TestAdaptiveShrinksAcrossALostSlot(t *testing.T) {
	// One stall raises the target; the pause after lets the delay grow;
	// after a long clean talkspurt the target is low again, and a packet
	// lost in the network lets the buffer shrink by a slot: the next
	// packet's audio plays in the lost one's slot, nothing is dropped.
	base := stream{ssrc: 1, ts0: 5, spf: 160, bpu: 1, ptime: 20 * ms, start: 6 * ms, netDelay: ms}
	first := base.packets(30)
	first = stalled(first, first[10].at-50*time.Microsecond, 200*ms)
	second := base
	second.start, second.ts0, second.seq0 = 30*20*ms+400*ms, base.ts0+uint32((30*20+400)/20*160), 30
	long := second.packets(2000)
	for i := range long {
		long[i].spurt = 1
	}
	const lose = 1800
	pkts := append(first, long[:lose]...)
	pkts = append(pkts, long[lose+1:]...)
	sm := simulate(t, pcmu(0), pkts, 2200)
	played := checkOrderedOnce(t, sm, pkts)
	before := sm.delays[30+lose-1]
	st := sm.b.Stats()
	if before < 60*ms {
		t.Fatalf("delay %v before the loss, want grown after the stall", before)
	}
	if st.Delay != before-SlotDuration || st.Resizes < 2 {
		t.Errorf("delay %v after the loss (from %v), %d resizes; want one slot less", st.Delay, before, st.Resizes)
	}
	a, b := played[30+lose-1], played[30+lose]
	if b != a+1 {
		t.Errorf("the packets around the lost one played in slots %d and %d, want adjacent", a, b)
	}
	for i := 30 + lose; i < len(pkts); i++ {
		if played[i] < 0 {
			t.Errorf("packet seq %d after the shrink never played", pkts[i].Seq)
		}
	}
	if st.Lost != 1 {
		t.Errorf("lost %d, want 1", st.Lost)
	}
}

func TestFixedDelay(t *testing.T) {
	base := stream{ssrc: 1, ts0: 5, spf: 160, bpu: 1, ptime: 20 * ms, start: 13 * ms, netDelay: 2 * ms}
	pkts := jittered(base.packets(500), 39*ms, 11)
	pkts[0].at = base.start + base.netDelay // the anchor arrives on time
	sm := simulate(t, pcmu(60*ms), pkts, 520)
	c := expectOwnSlots(t, sm, pkts, 160)
	if c.late != 0 {
		t.Errorf("%d late with jitter under the delay's 40 ms margin", c.late)
	}
	hold := time.Duration(anchorSlot(pkts[0].at, 60*ms))*SlotDuration - pkts[0].at
	if hold <= 40*ms || hold > 60*ms {
		t.Errorf("anchor waits %v, want (40ms, 60ms]", hold)
	}
	for i, d := range sm.delays {
		if d != 60*ms {
			t.Fatalf("delay %v after packet %d", d, i)
		}
	}
	// A stall changes nothing but the late packets.
	pkts = stalled(base.packets(200), base.start+base.netDelay+50*20*ms, 250*ms)
	sm = simulate(t, pcmu(60*ms), pkts, 220)
	c = expectOwnSlots(t, sm, pkts, 160)
	if st := sm.b.Stats(); st.Resizes != 0 || st.Reanchors != 0 || st.Delay != 60*ms || c.late < 9 || c.late > 11 {
		t.Errorf("after a stall: stats %+v, %d late", st, c.late)
	}
}

func TestResync(t *testing.T) {
	t.Run("longer path", func(t *testing.T) {
		// The network path gets 100 ms longer for good: packets are late
		// until the buffer anchors anew after 100 ms of it.
		base := stream{ssrc: 1, ts0: 5, spf: 160, bpu: 1, ptime: 20 * ms, start: 3 * ms, netDelay: 2 * ms}
		pkts := base.packets(300)
		for i := 100; i < len(pkts); i++ {
			pkts[i].at += 100 * ms
		}
		sm := simulate(t, pcmu(40*ms), pkts, 320)
		checkOrderedOnce(t, sm, pkts)
		st := sm.b.Stats()
		lateAfter := 0
		for i := 120; i < len(pkts); i++ {
			if sm.verdicts[i] != Placed {
				lateAfter++
			}
		}
		if st.Reanchors != 1 || st.Late > 10 || lateAfter != 0 {
			t.Errorf("stats %+v, %d not placed after the resync", st, lateAfter)
		}
	})
	for name, spacing := range map[string]time.Duration{"sender 1% slow": 20200 * time.Microsecond, "sender 1% fast": 19800 * time.Microsecond} {
		t.Run(name, func(t *testing.T) {
			base := stream{ssrc: 1, ts0: 5, spf: 160, bpu: 1, ptime: 20 * ms, start: 3 * ms, netDelay: 2 * ms}
			pkts := base.packets(3000) // a minute
			for i := range pkts {
				pkts[i].at = base.start + base.netDelay + time.Duration(i)*spacing
			}
			for _, cfg := range []Config{pcmu(40 * ms), pcmu(0)} {
				sm := simulate(t, cfg, pkts, 3100)
				checkOrderedOnce(t, sm, pkts)
				st := sm.b.Stats()
				t.Logf("delay %v: %+v", cfg.Delay, st)
				if st.Frames < 2900 {
					t.Errorf("delay %v: %d frames of 3000 played", cfg.Delay, st.Frames)
				}
			}
		})
	}
}

// One delay spike — a packet 15 ms late in a stream that is otherwise on
// time, which moves the RFC 3550 estimate by under a millisecond — raises
// the target above the spike at once, so the next spike like it is
// absorbed; the target then decays back towards the floor over seconds.
func TestSpikeRaisesTheTarget(t *testing.T) {
	e := estimator{nsPerUnit: float64(SlotDuration) / 160}
	at := func(i int, late time.Duration) {
		e.observe(uint32(160*i), time.Duration(i)*SlotDuration+late)
	}
	for i := range 100 {
		at(i, 0)
	}
	lo, hi := 20*time.Millisecond, 200*time.Millisecond
	if got := e.target(lo, hi); got != lo {
		t.Fatalf("on time: target %v, want the floor %v", got, lo)
	}
	at(100, 15*time.Millisecond)
	at(101, 0)
	if got := e.target(lo, hi); got < 25*time.Millisecond {
		t.Fatalf("after a 15 ms spike: target %v, want ≥ 25 ms", got)
	}
	if j := time.Duration(e.jitter); j > 2*time.Millisecond {
		t.Fatalf("J %v: the RFC 3550 estimate alone moved by more than the test assumes", j)
	}
	for i := 102; i < 102+50*30; i++ { // 30 s on time
		at(i, 0)
	}
	if got := e.target(lo, hi); got > lo+time.Millisecond {
		t.Fatalf("30 s after the spike: target %v, want back within 1 ms of the floor %v", got, lo)
	}
}
