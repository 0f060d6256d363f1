package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/bench"
	"github.com/callstream/callstream/internal/servetest"
)

// `callstream bench --calls 20 --duration 5s` against a gateway it starts as
// a child process prints a well-formed table, writes JSON and SVG, and
// loses no frame.
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for about 8 s")
	}
	bin := servetest.Binary(t)
	dir := t.TempDir()
	jsonFile, svgFile := filepath.Join(dir, "r.json"), filepath.Join(dir, "r.svg")
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	err := runBench(ctx, []string{"--calls", "20", "--duration", "5s", "--gateway-bin", bin,
		"--json", jsonFile, "--plot", svgFile}, &out, &errOut)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, errOut.String())
	}
	t.Logf("took %s\n%s", time.Since(start).Round(time.Millisecond), out.String())

	table := out.String()
	for _, want := range []string{"gateway — mode fork, 5 s windows", "lat p99", "µs/frame", "all frames:"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q", want)
		}
	}
	var rep bench.Report
	b, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("JSON: %v", err)
	}
	g := rep.Gateway
	if g == nil || len(g.Steps) != 1 || rep.Baseline != nil || rep.Machine.CPUs < 1 {
		t.Fatalf("report shape: %s", b)
	}
	st := g.Steps[0]
	f := st.Frames
	// 20 calls x 50 frames/s x 5 s, give or take a tick per call.
	if st.Calls != 20 || f.Sent < 4980 || f.Sent > 5020 {
		t.Errorf("calls %d sent %d, want 20 and about 5000", st.Calls, f.Sent)
	}
	if f.Lost != 0 || f.Received != f.Sent || f.Duplicates != 0 || f.Corrupt != 0 || g.Totals.Lost != 0 {
		t.Errorf("frames: %+v totals %+v", f, g.Totals)
	}
	if st.Latency.N != f.Received || st.Latency.P50 <= 0 || st.Latency.P99 < st.Latency.P50 || st.Latency.Max < st.Latency.P99 {
		t.Errorf("latency: %+v", st.Latency)
	}
	u := st.Target
	if u.CPUSeconds <= 0 || u.CPUPerFrameUS <= 0 || u.RSSKiB <= 0 || u.RSSIdleKiB <= 0 || u.Goroutines < 20*4 || u.OpenFiles < 20*2 || u.Threads < 1 {
		t.Errorf("gateway sampling: %+v", u)
	}
	if st.Setup.Attempted != 20 || st.Setup.Failed != 0 || st.Setup.StreamUp.N != 20 || st.CallsEnded != 0 {
		t.Errorf("setup %+v, calls ended %d", st.Setup, st.CallsEnded)
	}
	svg, err := os.ReadFile(svgFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(svg, []byte("<svg")) || bytes.Count(svg, []byte("<polyline")) != 3 {
		t.Errorf("plot: %.300s", svg)
	}
}

func TestBenchFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--mode", "sideways"},
		{"--plot", "x.png"},
		{"--calls", "0"},
		{"extra"},
	} {
		var out, errOut bytes.Buffer
		if err := runBench(context.Background(), args, &out, &errOut); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}

func TestSilenceOff(t *testing.T) {
	for args, want := range map[string]bool{
		"":                                    false,
		"--rtp-silence=false":                 true,
		"--jitter-buffer 60ms -rtp-silence=0": true,
		"--rtp-silence=true":                  false,
		"--rtp-silence":                       false,
		"--no-rtp-silence=false":              false,
	} {
		if got := silenceOff(strings.Fields(args)); got != want {
			t.Errorf("silenceOff(%q) = %v, want %v", args, got, want)
		}
	}
}
