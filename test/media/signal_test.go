package media

import (
	"fmt"
	"math"
	"strings"

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

// steady returns the steady state of a tone x begins with: from 0.5 s to
// 0.9 s after its first sample louder than 6000 (at rate), or nil.
func steady(x []int16, rate int) []int16 {
	for i, s := range x {
		if s > 6000 || s < -6000 {
			if i+rate*9/10 > len(x) {
				return nil
			}
			return x[i+rate/2 : i+rate*9/10]
		}
	}
	return nil
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

// windows returns toneSNR of each 100 ms of x, to show where a tone was
// damaged.
func windows(x []int16, rate int, f float64) string {
	var b strings.Builder
	for i := 0; i+rate/10 <= len(x); i += rate / 10 {
		fmt.Fprintf(&b, "%.0f ", toneSNR(x[i:i+rate/10], rate, f))
	}
	return strings.TrimSpace(b.String())
}
