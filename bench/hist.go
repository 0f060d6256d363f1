package bench

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram buckets: exact microseconds below 256 µs, then 128 buckets per
// power of two (each at most 1/128 of its value wide, under 0.8 %), up to
// 2^38 µs; larger values land in the last bucket.
const (
	histSub     = 128
	histExact   = 2 * histSub
	histMaxExp  = 30
	histBuckets = histSub*(histMaxExp+1) + histSub
)

// Histogram counts durations. Add is safe for concurrent use and does not
// allocate; reading while adding gives a consistent-enough snapshot.
type Histogram struct {
	n      atomic.Uint64
	sum    atomic.Int64 // ns
	max    atomic.Int64 // ns
	counts [histBuckets]atomic.Uint64
}

// bucketOf returns the bucket index of a duration of u microseconds.
func bucketOf(u uint64) int {
	if u < histExact {
		return int(u)
	}
	e := bits.Len64(u) - 8 // u>>e is in [128, 255]
	if e > histMaxExp {
		return histBuckets - 1
	}
	return histSub*e + int(u>>e)
}

// bucketRange returns the lowest value and the width of bucket i, in µs.
func bucketRange(i int) (lo, width uint64) {
	if i < histExact {
		return uint64(i), 1
	}
	e := i/histSub - 1
	m := uint64(i - histSub*e)
	return m << e, 1 << e
}

// Add counts one duration; negative durations count as zero.
func (h *Histogram) Add(d time.Duration) {
	if d < 0 {
		d = 0
	}
	h.counts[bucketOf(uint64(d/time.Microsecond))].Add(1)
	h.n.Add(1)
	h.sum.Add(int64(d))
	for {
		m := h.max.Load()
		if int64(d) <= m || h.max.CompareAndSwap(m, int64(d)) {
			return
		}
	}
}

// Count returns the number of durations added.
func (h *Histogram) Count() uint64 { return h.n.Load() }

// Max returns the largest duration added.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max.Load()) }

// Mean returns the mean duration (0 when empty).
func (h *Histogram) Mean() time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load() / int64(n))
}

// Quantile returns the duration below which a fraction q (0..1) of the
// values lie: the middle of the bucket holding the value of rank ⌈q·n⌉,
// never more than Max.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = max(rank, 1)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			lo, w := bucketRange(i)
			d := time.Duration(lo)*time.Microsecond + time.Duration(w)*time.Microsecond/2
			if w == 1 {
				d = time.Duration(lo)*time.Microsecond + 500*time.Nanosecond
			}
			return min(d, h.Max())
		}
	}
	return h.Max()
}

// Merge adds every count of o to h.
func (h *Histogram) Merge(o *Histogram) {
	for i := range o.counts {
		if c := o.counts[i].Load(); c != 0 {
			h.counts[i].Add(c)
		}
	}
	h.n.Add(o.n.Load())
	h.sum.Add(o.sum.Load())
	if m := o.max.Load(); m > h.max.Load() {
		h.max.Store(m)
	}
}

// Dist is a summary of a Histogram in milliseconds.
type Dist struct {
	N    uint64  `json:"n"`
	Mean float64 `json:"mean_ms"`
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	P999 float64 `json:"p999_ms"`
	Max  float64 `json:"max_ms"`
}

// Summary returns the histogram's summary.
func (h *Histogram) Summary() Dist {
	return Dist{
		N:    h.Count(),
		Mean: ms(h.Mean()),
		P50:  ms(h.Quantile(0.50)),
		P90:  ms(h.Quantile(0.90)),
		P99:  ms(h.Quantile(0.99)),
		P999: ms(h.Quantile(0.999)),
		Max:  ms(h.Max()),
	}
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/float64(time.Microsecond)) / 1000 }
