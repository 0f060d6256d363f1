package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func quickConfig(mode Mode, calls int) Config {
	return Config{Calls: calls, Mode: mode, Rate: 200, Duration: time.Second, Settle: 300 * time.Millisecond}
}

// checkClean asserts a step delivered every frame once, intact and in order.
func checkClean(t *testing.T, res *Result, calls int) *Step {
	t.Helper()
	if len(res.Steps) != 1 {
		t.Fatalf("steps = %d, want 1", len(res.Steps))
	}
	st := &res.Steps[0]
	f := st.Frames
	// 50 frames per call per second, give or take a tick at each end.
	if want := uint64(calls * 50); f.Sent < want-uint64(calls) || f.Sent > want+uint64(calls) {
		t.Errorf("sent %d frames in 1 s with %d calls, want about %d", f.Sent, calls, want)
	}
	if f.Received != f.Sent || f.Lost != 0 || f.Duplicates != 0 || f.Reordered != 0 || f.Corrupt != 0 || f.Late != 0 {
		t.Errorf("frames not delivered cleanly: %+v", f)
	}
	if res.Totals.Lost != 0 || res.Totals.Sent < f.Sent {
		t.Errorf("totals: %+v", res.Totals)
	}
	if st.Latency.N != f.Received || st.Latency.P50 <= 0 || st.Latency.P99 > 50 {
		t.Errorf("latency %+v", st.Latency)
	}
	if st.Setup.Attempted != calls || st.Setup.Failed != 0 || st.Setup.RatePerSec <= 0 {
		t.Errorf("setup %+v", st.Setup)
	}
	if st.Target.CPUSeconds <= 0 || st.Target.RSSKiB <= 0 || st.Target.OpenFiles <= 0 || st.Target.Goroutines <= 0 {
		t.Errorf("target usage not sampled: %+v", st.Target)
	}
	// Whether the step held depends on the machine's stalls (a 4-call
	// p99 is its maximum); TestJudge checks the bounds themselves.
	if st.Setup.Failed != 0 || st.CallsEnded != 0 {
		t.Errorf("calls failed or ended: %s", st.Why)
	}
	return st
}

func TestForkAgainstGateway(t *testing.T) {
	t.Parallel()
	res, err := Run(context.Background(), quickConfig(ModeFork, 4), GatewayInProcess(nil))
	if err != nil {
		t.Fatal(err)
	}
	st := checkClean(t, res, 4)
	if st.Frames.Relayed != st.Frames.Received {
		t.Errorf("relayed %d, want the %d received", st.Frames.Relayed, st.Frames.Received)
	}
	var out bytes.Buffer
	rep := NewReport("test", res, nil)
	if err := rep.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "gateway — mode fork") {
		t.Errorf("table:\n%s", out.String())
	}
	out.Reset()
	if err := rep.WriteJSON(&out); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(out.Bytes(), &back); err != nil || back.Gateway.Steps[0].Frames.Sent != st.Frames.Sent {
		t.Errorf("JSON does not round-trip: %v", err)
	}
	t.Logf("%+v", st)
}

func TestBidiAgainstGateway(t *testing.T) {
	t.Parallel()
	res, err := Run(context.Background(), quickConfig(ModeBidi, 4), GatewayInProcess(nil))
	if err != nil {
		t.Fatal(err)
	}
	st := checkClean(t, res, 4)
	f := st.Frames
	if f.Echoed != f.Sent || f.EchoLost != 0 || f.Relayed != f.Received+f.Echoed {
		t.Errorf("echo: %+v", f)
	}
	rt, gaps := dget(st.RoundTrip), dget(st.Gaps)
	// The caller's frame waits in the jitter buffer (10–30 ms at its
	// 20 ms floor), and the gateway plays what the app sent on its next
	// 20 ms tick.
	if rt.P50 <= 0 || rt.P50 > 60 || gaps.P50 < 15 || gaps.P50 > 25 {
		t.Errorf("round trip %+v, gaps %+v", rt, gaps)
	}
	t.Logf("%+v rtt %+v gaps %+v", st, rt, gaps)
}

func TestBothTracksAgainstGateway(t *testing.T) {
	t.Parallel()
	res, err := Run(context.Background(), quickConfig(ModeBothTracks, 3), GatewayInProcess(nil))
	if err != nil {
		t.Fatal(err)
	}
	st := checkClean(t, res, 3)
	// The prompt plays continuously: about one outbound frame per inbound one.
	if o := st.Frames.Outbound; o < st.Frames.Sent*8/10 || o > st.Frames.Sent*12/10 {
		t.Errorf("outbound %d for %d inbound", o, st.Frames.Sent)
	}
	if g := dget(st.Gaps); g.P50 < 15 || g.P50 > 25 {
		t.Errorf("gaps %+v", g)
	}
}

func TestForkAndBidiAgainstBaseline(t *testing.T) {
	t.Parallel()
	for _, mode := range []Mode{ModeFork, ModeBidi} {
		res, err := Run(context.Background(), quickConfig(mode, 4), BaselineInProcess(nil))
		if err != nil {
			t.Fatal(err)
		}
		st := checkClean(t, res, 4)
		if mode == ModeBidi && (st.Frames.Echoed != st.Frames.Sent || dget(st.Gaps).P50 < 15) {
			t.Errorf("bidi: %+v gaps %+v", st.Frames, dget(st.Gaps))
		}
	}
}

// A step holds only within every bound of its mode.
func TestJudge(t *testing.T) {
	fork := &runner{cfg: Config{Mode: ModeFork, MaxP99: 20 * time.Millisecond, MaxGapP99: 25 * time.Millisecond}}
	bidi := &runner{cfg: Config{Mode: ModeBidi, MaxP99: 20 * time.Millisecond, MaxGapP99: 25 * time.Millisecond}}
	for name, c := range map[string]struct {
		r    *runner
		st   Step
		held bool
		why  string
	}{
		"fork clean": {fork, Step{Latency: Dist{P99: 19.9}}, true, ""},
		"fork slow":  {fork, Step{Latency: Dist{P99: 20.5}}, false, "added latency p99 20.50 ms > 20ms"},
		// A jitter buffer's hold is not load: the bound is on processing.
		"fork held back":  {fork, Step{Latency: Dist{P99: 60}, Hold: &Dist{P99: 40}, Processing: &Dist{P99: 19.9}}, true, ""},
		"fork slow slots": {fork, Step{Latency: Dist{P99: 60}, Processing: &Dist{P99: 20.5}}, false, "processing latency p99 20.50 ms > 20ms"},
		"fork lost":       {fork, Step{Frames: Frames{Lost: 3}}, false, "3 frames lost"},
		"fork setup":      {fork, Step{Setup: Setup{Failed: 1}}, false, "1 calls failed to set up"},
		"fork ended":      {fork, Step{CallsEnded: 2}, false, "2 calls ended by the target"},
		"bidi clean":      {bidi, Step{Latency: Dist{P99: 30}, Gaps: &Dist{P99: 24}, Frames: Frames{UnderrunsL: 9, UnderrunsG: 4}}, true, ""},
		"bidi underrun":   {bidi, Step{Gaps: &Dist{P99: 22}, Frames: Frames{UnderrunsT: 1}}, false, "1 playback underruns with the audio at the target"},
		"bidi gaps":       {bidi, Step{Gaps: &Dist{P99: 26}}, false, "caller inter-arrival p99 26.0 ms > 25ms"},
		"bidi not echoed": {bidi, Step{Gaps: &Dist{P99: 20}, Frames: Frames{EchoLost: 2}}, false, "2 frames not echoed back"},
	} {
		st := c.st
		c.r.judge(&st)
		if st.Held != c.held || st.Why != c.why {
			t.Errorf("%s: held %v (%q), want %v (%q)", name, st.Held, st.Why, c.held, c.why)
		}
	}
}
