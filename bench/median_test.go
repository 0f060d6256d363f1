package bench

import (
	"testing"
)

func report(gwHeld, baseHeld int, p99s [2]float64, cpu [2]float64) *Report {
	gw := &Result{Target: "gateway", Mode: ModeFork, Held: gwHeld,
		Steps: []Step{{Calls: 100, Held: true, Latency: Dist{P99: p99s[0]}, Target: Usage{CPUPerFrameUS: cpu[0]}, Frames: Frames{Sent: 1000}}}}
	base := &Result{Target: "baseline", Mode: ModeFork, Held: baseHeld,
		Steps: []Step{{Calls: 100, Held: true, Latency: Dist{P99: p99s[1]}, Target: Usage{CPUPerFrameUS: cpu[1]}, Frames: Frames{Sent: 1000}}}}
	if gwHeld > 100 {
		gw.Steps = append(gw.Steps, Step{Calls: 200, Held: gwHeld >= 200, Latency: Dist{P99: 9}, Gaps: &Dist{P99: 21}})
	}
	base.Steps = append(base.Steps, Step{Calls: 200, Held: baseHeld >= 200})
	return NewReport("test", gw, base)
}

// Merged runs hold per-step medians and the median of same-run ratios.
func TestMergeReports(t *testing.T) {
	reps := []*Report{
		report(200, 200, [2]float64{2, 1}, [2]float64{30, 20}), // ratios: p99 2, cpu 1.5
		report(100, 200, [2]float64{4, 1}, [2]float64{40, 20}), // p99 4, cpu 2
		report(200, 100, [2]float64{3, 3}, [2]float64{26, 20}), // p99 1, cpu 1.3
	}
	m, err := MergeReports(reps)
	if err != nil {
		t.Fatal(err)
	}
	if m.Runs != 3 || m.Gateway.Held != 200 || m.Baseline.Held != 200 {
		t.Errorf("runs %d held %d/%d, want 3 200/200", m.Runs, m.Gateway.Held, m.Baseline.Held)
	}
	s := m.Gateway.Step(100)
	if s == nil || s.Runs != 3 || s.Latency.P99 != 3 || s.Target.CPUPerFrameUS != 30 || !s.Held || s.Frames.Sent != 1000 {
		t.Fatalf("step 100: %+v", s)
	}
	// Only two runs measured the gateway at 200 calls; both held.
	if s := m.Gateway.Step(200); s == nil || s.Runs != 2 || !s.Held || s.Why != "" || s.Gaps == nil || s.Gaps.P99 != 21 || s.Latency.P99 != 9 {
		t.Fatalf("step 200: %+v", s)
	}
	// The baseline held 200 calls in two runs of three.
	if s := m.Baseline.Step(200); s == nil || !s.Held || s.Why != "held in 2 of 3 runs" {
		t.Fatalf("baseline step 200: %+v", s)
	}
	want := map[string]float64{"latency_p99_ms": 2, "cpu_us_per_frame": 1.5}
	for _, q := range m.Ratios {
		if w, ok := want[q.Metric]; ok && q.Calls == 100 {
			if q.Ratio != w || q.Runs != 3 {
				t.Errorf("%s ratio %v over %d runs, want %v over 3 (the median of same-run ratios)", q.Metric, q.Ratio, q.Runs, w)
			}
			delete(want, q.Metric)
		}
	}
	if len(want) != 0 {
		t.Errorf("ratios missing: %v", want)
	}
	if _, err := MergeReports(nil); err == nil {
		t.Error("merging nothing gave no error")
	}
	if median([]float64{4, 1, 3, 2}) != 2.5 || median(nil) != 0 {
		t.Error("median")
	}
}
