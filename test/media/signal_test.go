package media

import (
	"math"

	"github.com/callstream/callstream/internal/scenario/voxtest"
)

// toneSNR returns the ratio, in dB, of the power at f to the power of
// everything else in x: a clean tone scores high, a tone a narrowband
// path removed scores far below zero.
func toneSNR(x []int16, rate int, f float64) float64 {
	total := voxtest.MeanPower(x)
	if total == 0 {
		return math.Inf(-1)
	}
	p := voxtest.Power(x, rate, f)
	if p >= total {
		return math.Inf(1)
	}
	return 10 * math.Log10(p/(total-p))
}

// loud returns the span of x from its first to its last sample above
// level in magnitude, trimmed by margin at each end, or nil.
func loud(x []int16, level int16, margin int) []int16 {
	first, last := -1, -1
	for i, s := range x {
		if s > level || s < -level {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 || last-first <= 2*margin {
		return nil
	}
	return x[first+margin : last-margin]
}

// bestCorrelation returns the largest normalised cross-correlation of ref
// against got at any lag, with the lag: 1 means got holds ref exactly
// (scaled), noise and distortion lower it.
func bestCorrelation(ref, got []int16) (float64, int) {
	best, at := 0.0, 0
	var rr float64
	for _, v := range ref {
		rr += float64(v) * float64(v)
	}
	for lag := 0; lag+len(ref) <= len(got); lag++ {
		var rg, gg float64
		for i, v := range ref {
			g := float64(got[lag+i])
			rg += float64(v) * g
			gg += g * g
		}
		if gg == 0 || rr == 0 {
			continue
		}
		if c := rg / math.Sqrt(rr*gg); c > best {
			best, at = c, lag
		}
	}
	return best, at
}
