package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/callstream/callstream/bench"
	"github.com/callstream/callstream/bench/baseline"
)

const benchUsage = `Usage: callstream bench [flags]

Places --calls concurrent SIP calls (set up at --rate calls/s) against a
gateway, streams 20 ms RTP on each, runs the FlexML and WebSocket apps, and
measures every frame: added latency (split at the frame's slot on the
target's media clock into the jitter buffer's hold and processing), loss,
duplicates, order; the caller's inter-arrival gaps; in bidi also the round
trip. The gateway is started
as a child process ('callstream serve') unless --target is given, and its
CPU, RSS, goroutines and open files are sampled. --baseline runs the same
load against the baseline relay (bench/baseline) in the same run and prints
the ratios.

'callstream bench report [--json FILE] [--plot FILE] RUN.json...' merges
the JSON reports of repeated runs: every figure becomes the median over the
runs, every gateway/baseline ratio the median of the same-run ratios.

Flags:
`

// runBench is `callstream bench`; `callstream bench baseline-serve` runs
// the baseline relay (started by --baseline, not meant to be run by hand).
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "baseline-serve":
			return runBaselineServe(ctx, args[1:], stderr)
		case "report":
			return runBenchReport(args[1:], stdout, stderr)
		}
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), benchUsage)
		fs.PrintDefaults()
	}
	var (
		calls       = fs.Int("calls", 50, "concurrent calls (the first step with --ramp)")
		rate        = fs.Float64("rate", bench.DefaultRate, "new calls per second while setting up")
		duration    = fs.Duration("duration", bench.DefaultDuration, "measurement window of each step")
		mode        = fs.String("mode", "fork", "fork (<Start><Stream>), bidi (<Connect><Stream> with an echo app) or both-tracks (track=\"both\" while a prompt plays)")
		settle      = fs.Duration("settle", bench.DefaultSettle, "wait between the calls coming up and the window")
		target      = fs.String("target", "", "SIP address of a running gateway to drive (default: start 'callstream serve' as a child process); give it --app http://LISTEN/flexml")
		targetPID   = fs.Int("target-pid", 0, "process id of the --target gateway for /proc sampling (default: found from its SIP port)")
		targetWeb   = fs.String("target-http", "", "HTTP address of the --target gateway serving /debug/pprof/ (goroutine counts, profiles)")
		targetToken = fs.String("target-token", "", "API token of the --target gateway (its /debug/pprof/ asks for it)")
		listen      = fs.String("listen", "127.0.0.1:0", "address of the generator's FlexML and WebSocket app (fix it when using --target)")
		ramp        = fs.Bool("ramp", false, "step the calls up by --ramp-step until a step loses frames or exceeds the bound; report the largest that held")
		rampStep    = fs.Int("ramp-step", 0, "calls added per ramp step (default --calls)")
		rampMax     = fs.Int("ramp-max", bench.DefaultRampMax, "largest ramp step")
		maxP99      = fs.Duration("max-p99", bench.DefaultMaxP99, "a step holds with p99 processing latency (frame's slot to the app; the jitter buffer's hold is reported apart) up to this (fork, both-tracks)")
		maxGapP99   = fs.Duration("max-gap-p99", bench.DefaultMaxGapP99, "a step holds with the caller's inter-arrival p99 up to this (bidi)")
		maxOthers   = fs.Float64("max-others", bench.DefaultMaxOthers, "measure a window again (up to 3 times) when other processes used more than this % of one core during it; negative: never")
		withBase    = fs.Bool("baseline", false, "also run the same load against the baseline relay and report gateway/baseline ratios")
		jsonOut     = fs.String("json", "", "write the report as JSON to this file ('-': stdout, instead of the table)")
		plotOut     = fs.String("plot", "", "write latency and CPU against concurrency to this SVG file")
		profDir     = fs.String("profile-dir", "", "save a CPU profile of each target over each window, and a heap profile at its end, into this folder")
		bin         = fs.String("gateway-bin", "", "callstream binary to start as the gateway and the baseline (default: this program)")
		serveArgs   = fs.String("serve-args", "", "extra flags for the gateway's 'serve', space-separated")
		logLevel    = fs.String("log-level", "warn", "generator log level")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("bench: unexpected argument %q", fs.Arg(0))
	}
	m, err := bench.ParseMode(*mode)
	if err != nil {
		return err
	}
	if *plotOut != "" && !strings.EqualFold(filepath.Ext(*plotOut), ".svg") {
		return fmt.Errorf("bench: --plot %q: only SVG is written; name the file .svg", *plotOut)
	}
	log, err := newLogger(stderr, *logLevel, "text")
	if err != nil {
		return err
	}
	exe := *bin
	if exe == "" {
		if exe, err = os.Executable(); err != nil {
			return fmt.Errorf("bench: finding this program: %w", err)
		}
	}
	cfg := bench.Config{
		Calls: *calls, Rate: *rate, Duration: *duration, Mode: m, Settle: *settle,
		Ramp: *ramp, RampStep: *rampStep, RampMax: *rampMax, MaxP99: *maxP99, MaxGapP99: *maxGapP99,
		MaxOthers: *maxOthers, Listen: *listen, Logger: log, Progress: stderr,
	}
	if *profDir != "" {
		if err := os.MkdirAll(*profDir, 0o755); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		cfg.Profile = func(target string, calls int) string {
			return filepath.Join(*profDir, fmt.Sprintf("%s-%s-%d.pprof", target, m, calls))
		}
	}
	launch := bench.GatewayCommand(exe, strings.Fields(*serveArgs)...)
	if *target != "" {
		launch = bench.External(*target, *targetPID, *targetWeb, *targetToken)
	}
	gw, runErr := bench.Run(ctx, cfg, launch)
	var base *bench.Result
	if *withBase && runErr == nil {
		argv := []string{exe, "bench", "baseline-serve"}
		if silenceOff(strings.Fields(*serveArgs)) {
			// The same network work as the gateway: no RTP while nothing plays.
			argv = append(argv, "--rtp-silence=false")
		}
		base, runErr = bench.Run(ctx, cfg, bench.BaselineCommand(argv...))
	}
	rep := bench.NewReport("callstream bench "+strings.Join(args, " "), gw, base)
	if err := writeReport(rep, *jsonOut, *plotOut, stdout); err != nil {
		return errors.Join(runErr, err)
	}
	return runErr
}

func writeReport(rep *bench.Report, jsonOut, plotOut string, stdout io.Writer) error {
	if rep.Gateway == nil && rep.Baseline == nil {
		return nil
	}
	if jsonOut != "-" {
		if err := rep.WriteTable(stdout); err != nil {
			return err
		}
	}
	write := func(file string, fn func(io.Writer) error) error {
		if file == "-" {
			return fn(stdout)
		}
		f, err := os.Create(file)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		if err := fn(f); err != nil {
			_ = f.Close()
			return fmt.Errorf("bench: %s: %w", file, err)
		}
		return f.Close()
	}
	if jsonOut != "" {
		if err := write(jsonOut, rep.WriteJSON); err != nil {
			return err
		}
	}
	if plotOut != "" {
		if err := write(plotOut, rep.WriteSVG); err != nil {
			return err
		}
	}
	return nil
}

// runBaselineServe runs the baseline relay until ctx ends.
func runBaselineServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench baseline-serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		sipAddr  = fs.String("sip", "127.0.0.1:5060", "SIP listen address, UDP and TCP")
		httpAddr = fs.String("http", "127.0.0.1:8081", "HTTP listen address (GET /healthz, /debug/pprof/)")
		ws       = fs.String("ws", "", "WebSocket base URL: a call streams to WS/<To user> (required)")
		mode     = fs.String("mode", baseline.ModeFork, "fork, bidi or both-tracks")
		silence  = fs.Bool("rtp-silence", true, "send the caller silence every 20 ms while nothing plays, as the gateway does by default")
		logLevel = fs.String("log-level", "warn", "debug, info, warn or error")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := newLogger(stderr, *logLevel, "text")
	if err != nil {
		return err
	}
	s, err := baseline.New(baseline.Config{SIPAddr: *sipAddr, HTTPAddr: *httpAddr, WSBase: *ws, Mode: *mode, NoSilence: !*silence,
		Logger: log.With("component", "baseline")})
	if err != nil {
		return err
	}
	return s.Run(ctx)
}

// silenceOff reports whether the gateway's serve flags turn continuous RTP
// off (--rtp-silence=false), so the baseline does the same.
func silenceOff(serveArgs []string) bool {
	for _, a := range serveArgs {
		name, value, ok := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name == "rtp-silence" && ok {
			if on, err := strconv.ParseBool(value); err == nil && !on {
				return true
			}
		}
	}
	return false
}

// runBenchReport merges the JSON reports of repeated runs into medians.
func runBenchReport(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		jsonOut = fs.String("json", "", "write the merged report as JSON to this file ('-': stdout, instead of the table)")
		plotOut = fs.String("plot", "", "write latency and CPU against concurrency of the medians to this SVG file")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("bench report: give the JSON reports to merge")
	}
	if *plotOut != "" && !strings.EqualFold(filepath.Ext(*plotOut), ".svg") {
		return fmt.Errorf("bench report: --plot %q: only SVG is written; name the file .svg", *plotOut)
	}
	var reps []*bench.Report
	for _, file := range fs.Args() {
		b, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("bench report: %w", err)
		}
		var r bench.Report
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("bench report: %s: %w", file, err)
		}
		reps = append(reps, &r)
	}
	merged, err := bench.MergeReports(reps)
	if err != nil {
		return err
	}
	return writeReport(merged, *jsonOut, *plotOut, stdout)
}
