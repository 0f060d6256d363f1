package bench

import (
	"fmt"
	"io"
	"log/slog"
	"time"
)

// Mode is the FlexML the calls run.
type Mode string

// The benchmark modes.
const (
	// ModeFork streams the caller's audio with <Start><Stream> while the
	// call pauses.
	ModeFork Mode = "fork"
	// ModeBidi connects the call to the app with <Connect><Stream>; the app
	// echoes every media payload at once and the caller hears it back.
	ModeBidi Mode = "bidi"
	// ModeBothTracks streams both tracks with track="both" while a prompt
	// plays in a loop.
	ModeBothTracks Mode = "both-tracks"
)

// ParseMode checks a mode name.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeFork, ModeBidi, ModeBothTracks:
		return m, nil
	}
	return "", fmt.Errorf("%w: mode %q: want fork, bidi or both-tracks", ErrConfig, s)
}

// Defaults of a Config.
const (
	DefaultRate      = 100.0
	DefaultDuration  = 10 * time.Second
	DefaultSettle    = time.Second
	DefaultMaxP99    = 20 * time.Millisecond
	DefaultMaxGapP99 = 25 * time.Millisecond
	DefaultRampMax   = 5000
	DefaultMaxOthers = 15.0
	// lateSend is how late the generator may send a frame before the
	// playback underrun it causes is blamed on the generator.
	lateSend = 10 * time.Millisecond
	// drainWait bounds the wait for frames still in flight when a window
	// closes; a frame not delivered by then counts as lost.
	drainWait = time.Second
	// setupTimeout bounds one call's setup: INVITE to the stream's start.
	setupTimeout = 10 * time.Second
)

// Config describes one benchmark run against one system under test. The
// zero value of every field but Calls and Mode means its default.
type Config struct {
	Calls    int           // concurrent calls; the first step with Ramp
	Rate     float64       // new calls per second while ramping up (default 100)
	Duration time.Duration // measurement window of each step (default 10 s)
	Mode     Mode
	// Settle is the wait between the last call of a step coming up and
	// its window opening (default 1 s).
	Settle time.Duration
	// Ramp steps the number of calls up by RampStep (default Calls) after
	// each step that held, until a step fails or RampMax calls.
	Ramp     bool
	RampStep int
	RampMax  int
	// MaxP99 is the bound on p99 processing latency (a frame's slot on
	// the target's media clock to its media message at the app; the
	// added latency for a target whose messages carry no chunk number)
	// for a step to hold (fork, both-tracks; default 20 ms). A jitter
	// buffer's hold is reported apart and not bounded. MaxGapP99 is the
	// bound on the caller's inter-arrival p99 (bidi; default 25 ms).
	MaxP99    time.Duration
	MaxGapP99 time.Duration
	// MaxOthers is how much CPU (in % of one core) processes other than
	// the target and the generator may use during a window; a window
	// disturbed more is measured again, up to Attempts times (default 15;
	// negative: never measure again). Attempts defaults to 3.
	MaxOthers float64
	Attempts  int
	// Listen is the app server's address (default 127.0.0.1:0). Give a
	// fixed one when the gateway is started by hand (--target).
	Listen string
	// Profile, when set, is called with each step's calls once its window
	// opens and returns where to save a CPU profile of the target taken
	// over the window ("" for none). The target must serve /debug/pprof/.
	Profile func(target string, calls int) string
	// Logger receives the generator's logs (default: discard).
	Logger *slog.Logger
	// Progress receives one line per phase (default: discard).
	Progress io.Writer
}

func (c *Config) defaults() error {
	if c.Calls < 1 || c.Calls > 65535 {
		return fmt.Errorf("%w: calls %d: want 1 to 65535", ErrConfig, c.Calls)
	}
	if _, err := ParseMode(string(c.Mode)); err != nil {
		return err
	}
	if c.Rate <= 0 {
		c.Rate = DefaultRate
	}
	if c.Duration <= 0 {
		c.Duration = DefaultDuration
	}
	if c.Settle <= 0 {
		c.Settle = DefaultSettle
	}
	if c.RampStep <= 0 {
		c.RampStep = c.Calls
	}
	if c.RampMax <= 0 {
		c.RampMax = DefaultRampMax
	}
	if c.RampMax > 65535 {
		return fmt.Errorf("%w: ramp max %d above 65535", ErrConfig, c.RampMax)
	}
	if c.MaxP99 <= 0 {
		c.MaxP99 = DefaultMaxP99
	}
	if c.MaxGapP99 <= 0 {
		c.MaxGapP99 = DefaultMaxGapP99
	}
	if c.MaxOthers == 0 {
		c.MaxOthers = DefaultMaxOthers
	}
	if c.Attempts <= 0 {
		c.Attempts = 3
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	return nil
}

// steps returns the call counts of the run's steps.
func (c *Config) steps() []int {
	if !c.Ramp {
		return []int{c.Calls}
	}
	var s []int
	for n := c.Calls; n <= c.RampMax; n += c.RampStep {
		s = append(s, n)
	}
	return s
}
