package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Frames counts the frames of a step (or of a whole run).
type Frames struct {
	Sent       uint64 `json:"sent"`       // frames the callers sent
	Received   uint64 `json:"received"`   // distinct sent frames that reached the app
	Lost       uint64 `json:"lost"`       // sent frames that did not reach the app
	Duplicates uint64 `json:"duplicates"` // frames that reached the app more than once
	Reordered  uint64 `json:"reordered"`  // frames that reached the app after a later one
	Corrupt    uint64 `json:"corrupt"`    // frames altered or delivered to the wrong call
	Late       uint64 `json:"late"`       // frames arriving more than 10 s after they were sent
	Foreign    uint64 `json:"foreign"`    // inbound media that was no caller frame (silence filled in)
	Outbound   uint64 `json:"outbound"`   // outbound-track media messages at the app (both-tracks)
	Echoed     uint64 `json:"echoed"`     // distinct frames back at the caller (bidi)
	EchoLost   uint64 `json:"echo_lost"`  // sent frames that never came back to the caller (bidi)
	EchoDups   uint64 `json:"echo_duplicates"`
	EchoReord  uint64 `json:"echo_reordered"`
	// Playback underruns (bidi): 20 ms ticks of the target's clock that
	// sent nothing where a frame was due, by cause. T: the app had sent
	// the audio at least 2 ms before the tick (the target had it and
	// played nothing); L: the audio reached the target after the tick
	// (late on its way to the app, or an echo landing just after a tick:
	// the clocks are not synchronised); G: the generator sent the frame
	// more than 10 ms late.
	UnderrunsT uint64 `json:"underruns_target"`
	UnderrunsL uint64 `json:"underruns_late_audio"`
	UnderrunsG uint64 `json:"underruns_generator"`
	SendErrors uint64 `json:"send_errors"`
	Skipped    uint64 `json:"generator_ticks_skipped"`
	Relayed    uint64 `json:"relayed"` // media the target relayed, both ways: app messages plus echoes
}

// Usage is what a process used over a window.
type Usage struct {
	CPUSeconds    float64 `json:"cpu_s"`
	UserSeconds   float64 `json:"user_s"`
	SystemSeconds float64 `json:"system_s"`
	CPUPercent    float64 `json:"cpu_percent"` // of one core
	CPUPerFrameUS float64 `json:"cpu_us_per_relayed_frame,omitempty"`
	RSSIdleKiB    int64   `json:"rss_idle_kib,omitempty"`
	RSSKiB        int64   `json:"rss_kib"`
	RSSPerCallKiB float64 `json:"rss_per_call_kib,omitempty"`
	Threads       int     `json:"threads"`
	OpenFiles     int     `json:"open_files"`
	Goroutines    int     `json:"goroutines,omitempty"`
}

// Setup is what setting up a step's new calls took.
type Setup struct {
	Attempted  int            `json:"attempted"`
	Failed     int            `json:"failed"`
	Failures   map[string]int `json:"failures,omitempty"`
	Seconds    float64        `json:"seconds"`      // first INVITE to the last stream's start message
	RatePerSec float64        `json:"rate_per_sec"` // calls set up (streaming) per second over Seconds
	Answer     Dist           `json:"answer"`       // INVITE to 200 OK/ACK
	StreamUp   Dist           `json:"stream_up"`    // INVITE to the stream's start message at the app
}

// Step is what one step measured: Calls concurrent calls over one window.
type Step struct {
	Calls     int     `json:"calls"`
	Held      bool    `json:"held"`
	Why       string  `json:"why,omitempty"` // why the step did not hold
	WindowSec float64 `json:"window_s"`
	Frames    Frames  `json:"frames"`
	Latency   Dist    `json:"added_latency"` // RTP sent -> media message at the app
	// Hold and Processing split Latency at the frame's slot on the
	// target's media clock (found from the messages' chunk numbers): the
	// jitter buffer's hold, then slot -> media message at the app.
	Hold       *Dist `json:"jitter_hold,omitempty"`
	Processing *Dist `json:"processing_latency,omitempty"`
	RoundTrip  *Dist `json:"round_trip,omitempty"`  // RTP sent -> echo back at the caller (bidi)
	Gaps       *Dist `json:"caller_gaps,omitempty"` // caller inter-arrival (any mode where the target sends RTP)
	SendLag    Dist  `json:"generator_send_lag"`    // generator lateness against its schedule
	Target     Usage `json:"target"`                // the system under test
	Generator  Usage `json:"generator"`             // this process
	Setup      Setup `json:"setup"`                 // the calls added for this step
	CallsEnded int   `json:"calls_ended,omitempty"` // calls the target ended during the step
	// Machine is the whole machine's CPU over the window, in % of one
	// core: busy (all processes), of which neither target nor generator
	// (other work disturbing the measurement), and stolen by the host.
	Machine MachineCPU `json:"machine_cpu"`
	// Attempts is how many windows were measured: a window disturbed by
	// other processes is measured again. Disturbed means the last one was
	// still disturbed.
	Attempts  int  `json:"attempts"`
	Disturbed bool `json:"disturbed,omitempty"`
	// Runs is how many runs measured this step (merged reports).
	Runs int `json:"runs,omitempty"`
}

// MachineCPU is the machine's CPU use over a window, in % of one core.
type MachineCPU struct {
	BusyPercent   float64 `json:"busy_percent"`
	OthersPercent float64 `json:"others_percent"`
	StealPercent  float64 `json:"steal_percent"`
}

// Result is one benchmark run against one system under test.
type Result struct {
	Target    string    `json:"target"`
	Mode      Mode      `json:"mode"`
	InProcess bool      `json:"in_process,omitempty"`
	Rate      float64   `json:"rate"`
	WindowSec float64   `json:"window_s"`
	Started   time.Time `json:"started"`
	Steps     []Step    `json:"steps"`
	// Held is the largest number of calls of a step that held (0: none).
	Held int `json:"held"`
	// Totals counts every frame of the run, windows or not.
	Totals Frames `json:"totals"`
}

// Step returns the step with n calls, nil if none.
func (r *Result) Step(n int) *Step {
	if r == nil {
		return nil
	}
	for i := range r.Steps {
		if r.Steps[i].Calls == n {
			return &r.Steps[i]
		}
	}
	return nil
}

// Ratio compares one figure of the gateway with the baseline's.
type Ratio struct {
	Calls    int     `json:"calls,omitempty"`
	Metric   string  `json:"metric"`
	Gateway  float64 `json:"gateway"`
	Baseline float64 `json:"baseline"`
	Ratio    float64 `json:"ratio"` // gateway / baseline
	// Runs is how many runs the figures are the median of (merged reports).
	Runs int `json:"runs,omitempty"`
}

// Report is everything a `callstream bench` invocation measured.
type Report struct {
	Date     time.Time `json:"date"`
	Machine  Machine   `json:"machine"`
	Command  string    `json:"command,omitempty"`
	Gateway  *Result   `json:"gateway,omitempty"`
	Baseline *Result   `json:"baseline,omitempty"`
	Ratios   []Ratio   `json:"ratios,omitempty"`
	// Runs is how many runs were merged into this report (MergeReports):
	// every figure is then the median over them.
	Runs int `json:"runs,omitempty"`
}

// NewReport puts results together and computes the gateway/baseline ratios
// of every step both ran.
func NewReport(command string, gateway, baseline *Result) *Report {
	r := &Report{Date: time.Now().UTC().Truncate(time.Second), Machine: ThisMachine(), Command: command, Gateway: gateway, Baseline: baseline}
	if gateway == nil || baseline == nil {
		return r
	}
	add := func(calls int, metric string, g, b float64) {
		ratio := 0.0
		if b != 0 {
			ratio = g / b
		}
		r.Ratios = append(r.Ratios, Ratio{Calls: calls, Metric: metric, Gateway: g, Baseline: b, Ratio: ratio})
	}
	if len(gateway.Steps) > 1 || len(baseline.Steps) > 1 {
		add(0, "held_calls", float64(gateway.Held), float64(baseline.Held))
	}
	for _, gs := range gateway.Steps {
		bs := baseline.Step(gs.Calls)
		if bs == nil {
			continue
		}
		add(gs.Calls, "latency_p50_ms", gs.Latency.P50, bs.Latency.P50)
		add(gs.Calls, "latency_p99_ms", gs.Latency.P99, bs.Latency.P99)
		if gs.Processing != nil && bs.Processing != nil {
			add(gs.Calls, "processing_p99_ms", gs.Processing.P99, bs.Processing.P99)
		}
		if gs.Gaps != nil && bs.Gaps != nil {
			add(gs.Calls, "caller_gap_p99_ms", gs.Gaps.P99, bs.Gaps.P99)
		}
		if gs.RoundTrip != nil && bs.RoundTrip != nil {
			add(gs.Calls, "round_trip_p99_ms", gs.RoundTrip.P99, bs.RoundTrip.P99)
		}
		add(gs.Calls, "cpu_us_per_frame", gs.Target.CPUPerFrameUS, bs.Target.CPUPerFrameUS)
		add(gs.Calls, "cpu_percent", gs.Target.CPUPercent, bs.Target.CPUPercent)
		add(gs.Calls, "rss_per_call_kib", gs.Target.RSSPerCallKiB, bs.Target.RSSPerCallKiB)
	}
	return r
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report for people: one line per step and target,
// then the ratios.
func (r *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "callstream bench — %s, %d CPUs, %d MiB, %s\n", r.Date.Format(time.RFC3339), r.Machine.CPUs, r.Machine.MemoryMiB, r.Machine.GoVersion)
	if r.Runs > 1 {
		fmt.Fprintf(&b, "median of %d runs: each figure is the median over the runs that measured the step; ratios are medians of same-run ratios\n", r.Runs)
	}
	for _, res := range []*Result{r.Gateway, r.Baseline} {
		if res == nil {
			continue
		}
		fmt.Fprintf(&b, "\n%s — mode %s, %.0f s windows, setup rate %.0f/s", res.Target, res.Mode, res.WindowSec, res.Rate)
		if res.InProcess {
			b.WriteString(" (in process: CPU and RSS include the generator)")
		}
		b.WriteString("\n")
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
		bidi := res.Mode == ModeBidi
		hdr := "calls\theld\tlost\tdup\treord\tlat p50\tlat p99\tlat max\t"
		if r.Runs > 1 {
			hdr = "runs\t" + hdr
		}
		if bidi {
			hdr += "rtt p99\tgap p99\tunderrun\tlate audio\t"
		} else if res.Mode == ModeBothTracks {
			hdr += "gap p99\t"
		}
		hdr += "cpu %\tµs/frame\trss MiB\tKiB/call\tgorout\tfds\tsetup/s\tfailed\tgen cpu %\tother %\t"
		fmt.Fprintln(tw, hdr)
		for _, s := range res.Steps {
			held := "yes"
			if !s.Held {
				held = "no"
			}
			if s.Disturbed {
				held += "*"
			}
			line := fmt.Sprintf("%d\t%s\t%d\t%d\t%d\t%.2f\t%.2f\t%.1f\t", s.Calls, held, s.Frames.Lost, s.Frames.Duplicates,
				s.Frames.Reordered, s.Latency.P50, s.Latency.P99, s.Latency.Max)
			if r.Runs > 1 {
				line = fmt.Sprintf("%d\t", s.Runs) + line
			}
			if bidi {
				line += fmt.Sprintf("%.1f\t%.1f\t%d\t%d\t", dget(s.RoundTrip).P99, dget(s.Gaps).P99, s.Frames.UnderrunsT, s.Frames.UnderrunsL+s.Frames.UnderrunsG)
			} else if res.Mode == ModeBothTracks {
				line += fmt.Sprintf("%.1f\t", dget(s.Gaps).P99)
			}
			line += fmt.Sprintf("%.1f\t%.1f\t%.1f\t%.1f\t%s\t%d\t%.0f\t%d\t", s.Target.CPUPercent, s.Target.CPUPerFrameUS,
				float64(s.Target.RSSKiB)/1024, s.Target.RSSPerCallKiB, intOrNA(s.Target.Goroutines), s.Target.OpenFiles,
				s.Setup.RatePerSec, s.Setup.Failed)
			line += fmt.Sprintf("%.0f\t%.0f\t", s.Generator.CPUPercent, s.Machine.OthersPercent)
			fmt.Fprintln(tw, line)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, s := range res.Steps {
			switch {
			case s.Why != "" && r.Runs > 1:
				fmt.Fprintf(&b, "  %d calls: %s\n", s.Calls, s.Why)
			case s.Why != "":
				fmt.Fprintf(&b, "  %d calls did not hold: %s\n", s.Calls, s.Why)
			}
			if s.Disturbed {
				fmt.Fprintf(&b, "  * %d calls: other processes used %.0f %% of a core during the window (%d attempts)\n",
					s.Calls, s.Machine.OthersPercent, s.Attempts)
			}
			if s.Hold != nil && s.Processing != nil {
				fmt.Fprintf(&b, "  %d calls: jitter buffer hold p50 %.1f ms p99 %.1f ms; processing (slot to app) p50 %.2f ms p99 %.2f ms\n",
					s.Calls, s.Hold.P50, s.Hold.P99, s.Processing.P50, s.Processing.P99)
			}
		}
		t := res.Totals
		fmt.Fprintf(&b, "  all frames: %d sent, %d lost, %d duplicated, %d corrupt", t.Sent, t.Lost, t.Duplicates, t.Corrupt)
		if bidi {
			fmt.Fprintf(&b, ", %d not echoed", t.EchoLost)
		}
		if len(res.Steps) > 1 {
			fmt.Fprintf(&b, "; largest step that held: %d calls", res.Held)
		}
		b.WriteString("\n")
	}
	if len(r.Ratios) > 0 {
		b.WriteString("\ngateway / baseline\n")
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "calls\tmetric\tgateway\tbaseline\tratio\truns")
		for _, q := range r.Ratios {
			calls := "-"
			if q.Calls > 0 {
				calls = fmt.Sprint(q.Calls)
			}
			fmt.Fprintf(tw, "%s\t%s\t%.2f\t%.2f\t%.2f\t%d\n", calls, q.Metric, q.Gateway, q.Baseline, q.Ratio, max(q.Runs, 1))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func dget(d *Dist) Dist {
	if d == nil {
		return Dist{}
	}
	return *d
}

func intOrNA(n int) string {
	if n == 0 {
		return "n/a"
	}
	return fmt.Sprint(n)
}
