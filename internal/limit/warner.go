package limit

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// Warner logs a recurring problem at most once per period: the first
// occurrence is logged, later ones within the period are counted, and the
// count goes out with the next line logged ("suppressed"). Safe for
// concurrent use; the zero value logs nothing (it has no logger).
type Warner struct {
	Logger *slog.Logger
	Level  slog.Level    // the level lines go out at (the zero Level is Info)
	Period time.Duration // default 1 s

	last       atomic.Int64 // unix ns of the last line logged
	suppressed atomic.Uint64
}

// NewWarner returns a Warner logging to log at level at most once per period
// (1 s when period is 0).
func NewWarner(log *slog.Logger, level slog.Level, period time.Duration) *Warner {
	if period <= 0 {
		period = time.Second
	}
	return &Warner{Logger: log, Level: level, Period: period}
}

// Log logs msg with args unless a line went out within the period; it
// reports whether it logged.
func (w *Warner) Log(msg string, args ...any) bool {
	if w == nil || w.Logger == nil {
		return false
	}
	period := w.Period
	if period <= 0 {
		period = time.Second
	}
	now := time.Now().UnixNano()
	last := w.last.Load()
	if now-last < int64(period) || !w.last.CompareAndSwap(last, now) {
		w.suppressed.Add(1)
		return false
	}
	if n := w.suppressed.Swap(0); n > 0 {
		args = append(args, "suppressed", n)
	}
	w.Logger.Log(context.Background(), w.Level, msg, args...)
	return true
}
