package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/callstream/callstream/internal/sipcaller"
)

// callsPerClient is how many calls share one SIP socket of the generator.
const callsPerClient = 200

// runner is one benchmark run against one target.
type runner struct {
	cfg     Config
	log     *slog.Logger
	t       *tracker
	target  Target
	senders *senders
	ncalls  int // calls dialled so far

	clientMu sync.Mutex
	clients  []*sipcaller.Client
}

// Run benchmarks the target launch starts: it serves the app, starts the
// target, then for each step sets up the step's calls at cfg.Rate, waits
// cfg.Settle and measures a window of cfg.Duration. With cfg.Ramp it stops
// after the first step that does not hold. The calls are hung up and the
// target stopped before Run returns. On error the result holds the steps
// measured so far.
func Run(ctx context.Context, cfg Config, launch Launcher) (*Result, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	steps := cfg.steps()
	if len(steps) == 0 {
		return nil, fmt.Errorf("%w: ramp max %d below calls %d", ErrConfig, cfg.RampMax, cfg.Calls)
	}
	t := newTracker(cfg.Mode, len(steps)*cfg.Attempts, steps[len(steps)-1])
	t.log = cfg.Logger
	app, err := newApp(cfg.Listen, cfg.Mode, t, cfg.Logger)
	if err != nil {
		return nil, err
	}
	defer app.Close()
	target, stop, err := launch(ctx, app)
	if err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, log: cfg.Logger, t: t, target: target, senders: newSenders(t)}
	res := &Result{Target: target.Name, Mode: cfg.Mode, InProcess: target.InProcess, Rate: cfg.Rate,
		WindowSec: cfg.Duration.Seconds(), Started: time.Now().UTC().Truncate(time.Second)}
	runErr := r.steps(ctx, steps, res)
	r.stopCalls()
	res.Totals = r.frames(&t.all)
	if err := stop(); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("stop %s: %w", target.Name, err))
	}
	return res, runErr
}

// steps runs every step, filling res.
func (r *runner) steps(ctx context.Context, steps []int, res *Result) error {
	time.Sleep(200 * time.Millisecond) // let the target's start-up settle before the idle sample
	idle, _ := r.sampleTarget()
	for i, n := range steps {
		r.progress("%s: setting up %d calls at %.0f/s", r.target.Name, n-r.ncalls, r.cfg.Rate)
		setup := r.rampTo(ctx, n)
		if err := r.alive(ctx); err != nil {
			return err
		}
		if setup.Failed == setup.Attempted && setup.Attempted > 0 {
			return fmt.Errorf("%w: %d of %d calls failed: %v", ErrSetup, setup.Failed, setup.Attempted, setup.Failures)
		}
		if err := r.sleep(ctx, r.cfg.Settle); err != nil {
			return err
		}
		r.progress("%s: %d calls up (%.0f set up/s, %d failed); measuring %s", r.target.Name, n, setup.RatePerSec, setup.Failed, r.cfg.Duration)
		st, err := r.measureQuiet(ctx, i, n, idle)
		if err != nil {
			return err
		}
		st.Setup = setup
		r.judge(&st)
		res.Steps = append(res.Steps, st)
		if st.Held {
			res.Held = n
		}
		r.progress("%s: %d calls: lost %d, added latency p50 %.2f ms p99 %.2f ms, target CPU %.0f %%%s",
			r.target.Name, n, st.Frames.Lost, st.Latency.P50, st.Latency.P99, st.Target.CPUPercent, heldText(st))
		if r.cfg.Ramp && !st.Held {
			break
		}
	}
	return nil
}

func heldText(st Step) string {
	if st.Held {
		return ""
	}
	return " — did not hold: " + st.Why
}

// measureQuiet measures step i, again when other processes disturbed the
// window, up to cfg.Attempts windows.
func (r *runner) measureQuiet(ctx context.Context, i, n int, idle ProcSample) (Step, error) {
	for attempt := 0; ; attempt++ {
		st, err := r.measure(ctx, i*r.cfg.Attempts+attempt, n, idle)
		if err != nil {
			return st, err
		}
		st.Attempts = attempt + 1
		if r.cfg.MaxOthers < 0 || st.Machine.OthersPercent <= r.cfg.MaxOthers {
			return st, nil
		}
		if attempt+1 >= r.cfg.Attempts {
			st.Disturbed = true
			return st, nil
		}
		r.progress("%s: %d calls: other processes used %.0f %% of a core during the window; measuring again",
			r.target.Name, n, st.Machine.OthersPercent)
		if err := r.sleep(ctx, r.cfg.Settle); err != nil {
			return st, err
		}
	}
}

// judge decides whether a step held its bounds.
func (r *runner) judge(st *Step) {
	var why []string
	f := st.Frames
	if f.Lost > 0 {
		why = append(why, fmt.Sprintf("%d frames lost", f.Lost))
	}
	if f.Corrupt > 0 {
		why = append(why, fmt.Sprintf("%d frames corrupt", f.Corrupt))
	}
	if st.Setup.Failed > 0 {
		why = append(why, fmt.Sprintf("%d calls failed to set up", st.Setup.Failed))
	}
	if st.CallsEnded > 0 {
		why = append(why, fmt.Sprintf("%d calls ended by the target", st.CallsEnded))
	}
	// The bound is on processing (slot to app) when the target numbers
	// its chunks: a jitter buffer's hold is deliberate, not load.
	lat, what := st.Latency, "added latency"
	if st.Processing != nil {
		lat, what = *st.Processing, "processing latency"
	}
	bound := time.Duration(lat.P99 * float64(time.Millisecond))
	if r.cfg.Mode == ModeBidi {
		if f.UnderrunsT > 0 {
			why = append(why, fmt.Sprintf("%d playback underruns with the audio at the target", f.UnderrunsT))
		}
		if f.EchoLost > 0 {
			why = append(why, fmt.Sprintf("%d frames not echoed back", f.EchoLost))
		}
		if g := dget(st.Gaps).P99; time.Duration(g*float64(time.Millisecond)) > r.cfg.MaxGapP99 {
			why = append(why, fmt.Sprintf("caller inter-arrival p99 %.1f ms > %s", g, r.cfg.MaxGapP99))
		}
	} else if bound > r.cfg.MaxP99 {
		why = append(why, fmt.Sprintf("%s p99 %.2f ms > %s", what, lat.P99, r.cfg.MaxP99))
	}
	st.Held = len(why) == 0
	st.Why = strings.Join(why, ", ")
}

func (r *runner) progress(format string, args ...any) {
	fmt.Fprintf(r.cfg.Progress, format+"\n", args...)
}

// alive returns an error when ctx ended or the target exited.
func (r *runner) alive(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.target.Exited != nil {
		select {
		case <-r.target.Exited:
			return ErrTargetExited
		default:
		}
	}
	return nil
}

// sleep waits d unless ctx ends or the target exits.
func (r *runner) sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-r.target.Exited:
		return ErrTargetExited
	}
}

func (r *runner) client(i int) (*sipcaller.Client, error) {
	r.clientMu.Lock()
	defer r.clientMu.Unlock()
	k := i / callsPerClient
	for len(r.clients) <= k {
		c, err := sipcaller.NewClient(sipcaller.ClientConfig{Logger: r.log})
		if err != nil {
			return nil, err
		}
		r.clients = append(r.clients, c)
	}
	return r.clients[k], nil
}

// rampTo sets up calls r.ncalls..n-1, started at cfg.Rate, and waits until
// each is streaming or failed.
func (r *runner) rampTo(ctx context.Context, n int) Setup {
	var (
		answer, up Histogram
		mu         sync.Mutex
		failures   = map[string]int{}
		lastUp     int64
		wg         sync.WaitGroup
	)
	first := r.ncalls
	start := time.Now()
	startNs := now()
	for i := first; i < n; i++ {
		due := start.Add(time.Duration(float64(i-first) * float64(time.Second) / r.cfg.Rate))
		if d := time.Until(due); d > 0 {
			if err := r.sleep(ctx, d); err != nil {
				break
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			reason := r.setupCall(ctx, i, &answer, &up)
			mu.Lock()
			defer mu.Unlock()
			if reason != "" {
				failures[reason]++
				return
			}
			lastUp = max(lastUp, now())
		}()
	}
	wg.Wait()
	r.ncalls = n
	s := Setup{Attempted: n - first, Answer: answer.Summary(), StreamUp: up.Summary()}
	for k, v := range failures {
		s.Failed += v
		if s.Failures == nil {
			s.Failures = map[string]int{}
		}
		s.Failures[k] = v
	}
	if ok := s.Attempted - s.Failed; ok > 0 && lastUp > startNs {
		s.Seconds = float64(lastUp-startNs) / 1e9
		s.RatePerSec = float64(ok) / s.Seconds
	}
	return s
}

// setupCall dials call i and waits for its stream; it returns why it
// failed ("" when the call is streaming and paced).
func (r *runner) setupCall(ctx context.Context, i int, answer, up *Histogram) string {
	c := newBenchCall(i)
	r.t.calls[i].Store(c)
	client, err := r.client(i)
	if err != nil {
		r.log.Warn("bench: sip client", "err", err)
		return "generator SIP socket"
	}
	t0 := now()
	dctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	sc, err := client.Dial(dctx, sipcaller.Config{
		Target: r.target.SIPAddr, From: "callstream-bench", To: callUser(i), Codec: "PCMU", Only: true, NoRecord: true,
	})
	if err != nil {
		r.log.Debug("bench: dial failed", "call", i, "err", err)
		var se *sipcaller.StatusError
		switch {
		case errors.As(err, &se):
			return fmt.Sprintf("SIP %d", se.Code)
		case dctx.Err() != nil:
			return "no answer within " + setupTimeout.String()
		}
		return "dial error"
	}
	answer.Add(time.Duration(now() - t0))
	c.sc, c.sender = sc, sc
	// Every mode: with continuous RTP the target sends the caller a
	// packet per 20 ms tick even in fork mode; their gaps are measured.
	sc.OnPacket(func(p *sipcaller.Packet) {
		r.t.rtpArrived(c, p.Timestamp, p.Payload, int64(p.Arrival.Sub(epoch)))
	})
	select {
	case <-c.up:
	case <-sc.Ended():
		return "call ended before its stream started"
	case <-dctx.Done():
		_ = sc.Close()
		return "stream not started within " + setupTimeout.String()
	}
	up.Add(time.Duration(now() - t0))
	r.senders.add(c)
	return ""
}

// sampleTarget reads the target's process, if it has one.
func (r *runner) sampleTarget() (ProcSample, bool) {
	if r.target.PID == 0 {
		return ProcSample{}, false
	}
	s, err := SampleProc(r.target.PID)
	if err != nil {
		r.log.Warn("bench: sampling the target", "err", err)
		return ProcSample{}, false
	}
	return s, true
}

// measure runs window i with n calls up.
func (r *runner) measure(ctx context.Context, i, n int, idle ProcSample) (Step, error) {
	w := r.t.windows[i]
	t0, ok0 := r.sampleTarget()
	g0, _ := SampleProc(os.Getpid())
	var (
		prof     sync.WaitGroup
		profFile string
	)
	if r.cfg.Profile != nil && r.target.HTTPAddr != "" {
		if profFile = r.cfg.Profile(r.target.Name, n); profFile != "" {
			prof.Add(1)
			go func() {
				defer prof.Done()
				if err := SaveProfile(ctx, r.target.HTTPAddr, r.target.Token, r.cfg.Duration, profFile); err != nil {
					r.log.Warn("bench: profile", "err", err)
				}
			}()
		}
	}
	m0, mErr0 := SampleMachine()
	r.t.open.Store(int32(i))
	start := time.Now()
	err := r.sleep(ctx, r.cfg.Duration)
	r.t.open.Store(-1)
	elapsed := time.Since(start)
	t1, ok1 := r.sampleTarget()
	g1, _ := SampleProc(os.Getpid())
	m1, mErr1 := SampleMachine()
	if err != nil {
		return Step{}, err
	}
	prof.Wait()
	if profFile != "" {
		heap := strings.TrimSuffix(profFile, ".pprof") + "-heap.pprof"
		if err := SaveHeapProfile(ctx, r.target.HTTPAddr, r.target.Token, heap); err != nil {
			r.log.Warn("bench: heap profile", "err", err)
		}
	}
	r.drain(func() bool {
		return w.recv.Load() >= w.sent.Load() && (r.cfg.Mode != ModeBidi || w.echo.Load() >= w.sent.Load())
	})
	st := Step{Calls: n, WindowSec: elapsed.Seconds(), Frames: r.frames(&w.counters)}
	st.Latency = w.lat.Summary()
	if w.proc.Count() > 0 {
		hold, proc := w.hold.Summary(), w.proc.Summary()
		st.Hold, st.Processing = &hold, &proc
	}
	st.SendLag = w.sendLag.Summary()
	if r.cfg.Mode == ModeBidi {
		rt := w.rtt.Summary()
		st.RoundTrip = &rt
	}
	if g := w.gaps.Summary(); g.N > 0 || r.cfg.Mode != ModeFork {
		st.Gaps = &g
	}
	if ok0 && ok1 {
		st.Target = usage(t0, t1, elapsed, st.Frames.Relayed)
		st.Target.RSSIdleKiB = idle.RSSKiB
		if idle.RSSKiB > 0 {
			st.Target.RSSPerCallKiB = float64(t1.RSSKiB-idle.RSSKiB) / float64(n)
		}
		if r.target.HTTPAddr != "" {
			st.Target.Goroutines, _ = Goroutines(ctx, r.target.HTTPAddr, r.target.Token)
		}
	}
	st.Generator = usage(g0, g1, elapsed, 0)
	if mErr0 == nil && mErr1 == nil {
		pct := func(d time.Duration) float64 { return 100 * d.Seconds() / elapsed.Seconds() }
		st.Machine.BusyPercent = pct(m1.Busy - m0.Busy)
		st.Machine.StealPercent = pct(m1.Steal - m0.Steal)
		others := st.Machine.BusyPercent - st.Generator.CPUPercent
		if !r.target.InProcess {
			others -= st.Target.CPUPercent
		}
		st.Machine.OthersPercent = max(0, others)
	}
	for k := range n {
		if c := r.t.call(k); c != nil && c.sc != nil {
			select {
			case <-c.sc.Ended():
				st.CallsEnded++
			default:
			}
		}
	}
	return st, nil
}

// usage computes what a process used between two samples.
func usage(a, b ProcSample, elapsed time.Duration, relayed uint64) Usage {
	u := Usage{
		CPUSeconds:    (b.CPU() - a.CPU()).Seconds(),
		UserSeconds:   (b.User - a.User).Seconds(),
		SystemSeconds: (b.System - a.System).Seconds(),
		RSSKiB:        b.RSSKiB,
		Threads:       b.Threads,
		OpenFiles:     b.OpenFiles,
	}
	if elapsed > 0 {
		u.CPUPercent = 100 * u.CPUSeconds / elapsed.Seconds()
	}
	if relayed > 0 {
		u.CPUPerFrameUS = 1e6 * u.CPUSeconds / float64(relayed)
	}
	return u
}

// drain waits until done reports true or drainWait has passed.
func (r *runner) drain(done func() bool) {
	deadline := time.Now().Add(drainWait)
	for !done() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}

// frames snapshots counters.
func (r *runner) frames(k *counters) Frames {
	f := Frames{
		Sent:       k.sent.Load(),
		Received:   k.recv.Load(),
		Duplicates: k.dup.Load(),
		Reordered:  k.reordered.Load(),
		Corrupt:    k.corrupt.Load(),
		Late:       k.late.Load(),
		Foreign:    k.foreign.Load(),
		Outbound:   k.outbound.Load(),
		EchoDups:   k.echoDup.Load(),
		EchoReord:  k.echoReord.Load(),
		UnderrunsT: k.underGW.Load(),
		UnderrunsL: k.underLate.Load(),
		UnderrunsG: k.underGen.Load(),
		SendErrors: k.sendErr.Load(),
		Skipped:    k.skipped.Load(),
	}
	f.Lost = f.Sent - min(f.Received, f.Sent)
	f.Relayed = f.Received + f.Outbound
	if r.cfg.Mode == ModeBidi {
		f.Echoed = k.echo.Load()
		f.EchoLost = f.Sent - min(f.Echoed, f.Sent)
		f.Relayed += f.Echoed
	}
	return f
}

// stopCalls stops sending, lets the frames in flight arrive, and hangs up
// every call.
func (r *runner) stopCalls() {
	for k := range r.ncalls {
		if c := r.t.call(k); c != nil {
			c.stopped.Store(true)
		}
	}
	r.senders.Close()
	all := &r.t.all
	r.drain(func() bool {
		return all.recv.Load() >= all.sent.Load() && (r.cfg.Mode != ModeBidi || all.echo.Load() >= all.sent.Load())
	})
	r.clientMu.Lock()
	clients := r.clients
	r.clients = nil
	r.clientMu.Unlock()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Close(); err != nil {
				r.log.Debug("bench: closing calls", "err", err)
			}
		}()
	}
	wg.Wait()
}
