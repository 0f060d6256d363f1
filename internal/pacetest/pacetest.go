// Package pacetest checks that packets or messages arrived evenly paced on
// a 20 ms grid, in a way that a busy test machine does not break: a
// receiver that is scheduled late now and then shifts single arrivals (one
// gap long, the next short) without moving the schedule, so the check
// looks at the median gap, the drift of the whole run from the grid and
// the share of arrivals far off it — not at single extreme gaps.
package pacetest

import (
	"fmt"
	"slices"
	"time"
)

// Stats describes a run of arrivals against a grid of one frame period.
type Stats struct {
	N        int           // arrivals
	Median   time.Duration // median gap
	Drift    time.Duration // how far the run's span is from (N-1) periods
	OffGrid  float64       // share of arrivals more than Slack from the run's best grid
	MaxShift time.Duration // the largest distance of an arrival from that grid
}

// Slack is how far an arrival may be from its grid slot and still be on time.
const Slack = 15 * time.Millisecond

// Measure compares arrivals with a grid of period: the grid is placed at
// the median offset of the arrivals, so a late first arrival does not
// count against every later one.
func Measure(arrivals []time.Time, period time.Duration) Stats {
	st := Stats{N: len(arrivals)}
	if len(arrivals) < 2 {
		return st
	}
	gaps := make([]time.Duration, 0, len(arrivals)-1)
	for i := 1; i < len(arrivals); i++ {
		gaps = append(gaps, arrivals[i].Sub(arrivals[i-1]))
	}
	slices.Sort(gaps)
	st.Median = gaps[len(gaps)/2]
	span := arrivals[len(arrivals)-1].Sub(arrivals[0])
	st.Drift = abs(span - time.Duration(len(arrivals)-1)*period)
	offs := make([]time.Duration, len(arrivals))
	for i, a := range arrivals {
		offs[i] = a.Sub(arrivals[0]) - time.Duration(i)*period
	}
	sorted := slices.Clone(offs)
	slices.Sort(sorted)
	base := sorted[len(sorted)/2]
	off := 0
	for _, o := range offs {
		d := abs(o - base)
		st.MaxShift = max(st.MaxShift, d)
		if d > Slack {
			off++
		}
	}
	st.OffGrid = float64(off) / float64(len(arrivals))
	return st
}

// Check reports whether arrivals are paced on a grid of period: median gap
// within 1 ms of it, the run's span within 3 periods of the grid's, and at
// most 5 % of the arrivals more than Slack off the grid.
func Check(arrivals []time.Time, period time.Duration) error {
	st := Measure(arrivals, period)
	if st.N < 20 {
		return fmt.Errorf("pacing: only %d arrivals", st.N)
	}
	if abs(st.Median-period) > time.Millisecond || st.Drift > 3*period || st.OffGrid > 0.05 {
		return fmt.Errorf("pacing: %+v; want median %s ±1 ms, drift ≤ %s, ≤ 5%% of arrivals more than %s off the grid", st, period, 3*period, Slack)
	}
	return nil
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
