package codec

import (
	"math"
	"slices"
)

// The resampler converts between 8, 16 and 48 kHz: integer ratios k of 2, 3
// and 6. Each ratio has its own low-pass prototype running at the higher
// rate: a Kaiser-windowed sinc whose cutoff sits at 0.475 of the lower rate
// (3.8 kHz between 8 and 16 kHz, 7.6 kHz between 16 and 48 kHz), flat
// (< 0.01 dB ripple) to 0.425 of the lower rate (3.4 kHz, 6.8 kHz) and more
// than 70 dB down from 0.525 of it (4.2 kHz, 8.4 kHz). A prototype has
// 48k+1 taps, so it spans 48 samples of the lower rate whatever k is, and
// both directions delay by a whole number of samples: 24k at the higher
// rate, 24 at the lower.
const (
	halfSpan    = 24    // half the filter's length in lower-rate samples
	cutoffShare = 0.475 // cutoff as a share of the lower rate
	filterBeta  = 7.9   // Kaiser shape for about 80 dB stopband
)

// resampleRates are the rates the resampler converts between.
var resampleRates = [...]int{8000, 16000, 48000}

// lowPass holds the prototype of each ratio (index k), normalised to unit
// gain at DC. It is built once at package initialisation and only read
// after.
var lowPass = [7][]float64{2: designLowPass(2), 3: designLowPass(3), 6: designLowPass(6)}

// filterTaps returns the length of the prototype for ratio k.
func filterTaps(k int) int { return 2*halfSpan*k + 1 }

// designLowPass builds the windowed-sinc prototype for ratio k.
func designLowPass(k int) []float64 {
	taps := filterTaps(k)
	center := taps / 2
	cutoff := cutoffShare / float64(k) // cycles per higher-rate sample
	h := make([]float64, taps)
	var sum float64
	for n := range h {
		t := float64(n - center)
		v := 2 * cutoff
		if t != 0 {
			v = math.Sin(2*math.Pi*cutoff*t) / (math.Pi * t)
		}
		r := t / float64(center)
		h[n] = v * besselI0(filterBeta*math.Sqrt(1-r*r)) / besselI0(filterBeta)
		sum += h[n]
	}
	for n := range h {
		h[n] /= sum
	}
	return h
}

// besselI0 is the zeroth-order modified Bessel function of the first kind,
// summed from its power series.
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; term > 1e-12*sum; k++ {
		f := x / (2 * float64(k))
		term *= f * f
		sum += term
	}
	return sum
}

// resampleMode selects what a Resampler does.
type resampleMode uint8

const (
	modeCopy resampleMode = iota
	modeUp                // from a lower rate to k times it
	modeDown              // from a higher rate to a k-th of it
)

// Resampler converts a stream of samples between 8, 16 and 48 kHz with a
// polyphase FIR low-pass filter (48k+1 taps at the higher rate for a ratio
// of k: 49 per output going up, 48k+1 per output going down). It keeps the
// filter history between calls, so a stream cut into frames of any size
// yields exactly the output of one long block. Both directions delay the
// signal by 24 samples at the lower rate (Delay). A Resampler is not safe
// for concurrent use.
type Resampler struct {
	mode     resampleMode
	from, to int
	k        int         // ratio between the rates
	coefs    [][]float32 // mode up: one reversed tap set per output phase; mode down: coefs[0]
	line     []float32   // input history, stored twice so every window is contiguous
	span     int         // history length (len(line) / 2)
	pos      int         // start of the current window in line
	phase    int         // mode down: index of the next input sample modulo k
}

// NewResampler returns a Resampler from fromRate to toRate. Supported are
// any two of 8000, 16000 and 48000 Hz, and equal positive rates (a plain
// copy).
func NewResampler(fromRate, toRate int) (*Resampler, error) {
	r := &Resampler{from: fromRate, to: toRate}
	switch {
	case fromRate == toRate && fromRate > 0:
		r.mode = modeCopy
		return r, nil
	case !slices.Contains(resampleRates[:], fromRate) || !slices.Contains(resampleRates[:], toRate):
		return nil, errorf(ErrUnsupportedRate, "codec: cannot resample %d Hz to %d Hz", fromRate, toRate)
	case fromRate < toRate:
		r.mode, r.k = modeUp, toRate/fromRate
		h := lowPass[r.k]
		r.span = halfSpan*2 + 1 // ceil(len(h) / k)
		r.coefs = make([][]float32, r.k)
		for p := range r.coefs {
			c := make([]float32, r.span)
			for j := range c {
				// Window position j holds input m-(span-1-j), which meets tap
				// k*(span-1-j)+p; the factor k restores the gain lost to zero
				// stuffing.
				if t := r.k*(r.span-1-j) + p; t < len(h) {
					c[j] = float32(float64(r.k) * h[t])
				}
			}
			r.coefs[p] = c
		}
	default:
		r.mode, r.k = modeDown, fromRate/toRate
		h := lowPass[r.k]
		r.span = len(h)
		c := make([]float32, len(h))
		for j := range c {
			c[j] = float32(h[len(h)-1-j])
		}
		r.coefs = [][]float32{c}
	}
	r.line = make([]float32, 2*r.span)
	return r, nil
}

// From returns the input rate.
func (r *Resampler) From() int { return r.from }

// To returns the output rate.
func (r *Resampler) To() int { return r.to }

// OutputLen returns how many samples Process makes from n input samples in
// the Resampler's present state.
func (r *Resampler) OutputLen(n int) int {
	switch r.mode {
	case modeUp:
		return r.k * n
	case modeDown:
		first := (r.k - r.phase) % r.k // index of the first input that makes an output
		if n <= first {
			return 0
		}
		return (n - first + r.k - 1) / r.k
	}
	return n
}

// Process resamples src and appends the output to dst: k*len(src) samples
// going up, about len(src)/k going down (OutputLen). It allocates only when
// dst lacks the capacity for the output.
func (r *Resampler) Process(dst []int16, src []int16) []int16 {
	switch r.mode {
	case modeUp:
		n := len(dst)
		dst = slices.Grow(dst, r.k*len(src))[:n+r.k*len(src)]
		out := dst[n:]
		for i, s := range src {
			win := r.push(s)
			for p, c := range r.coefs {
				out[r.k*i+p] = dot(c, win)
			}
		}
		return dst
	case modeDown:
		count := r.OutputLen(len(src))
		n := len(dst)
		dst = slices.Grow(dst, count)[:n+count]
		out := dst[n:]
		j := 0
		for _, s := range src {
			win := r.push(s)
			if r.phase == 0 {
				out[j] = dot(r.coefs[0], win)
				j++
			}
			if r.phase++; r.phase == r.k {
				r.phase = 0
			}
		}
		return dst
	}
	return append(dst, src...)
}

// Delay returns how many output samples the filter delays the signal by:
// 24 at the lower rate, 24k at the higher, 0 for a copy.
func (r *Resampler) Delay() int {
	switch r.mode {
	case modeUp:
		return halfSpan * r.k
	case modeDown:
		return halfSpan
	}
	return 0
}

// Reset clears the filter history, as if the Resampler were new (a clear:
// nothing of the audio before it leaks into the audio after).
func (r *Resampler) Reset() {
	clear(r.line)
	r.pos = 0
	r.phase = 0
}

// push adds one input sample to the history and returns the window of the
// last span samples, oldest first.
func (r *Resampler) push(s int16) []float32 {
	v := float32(s)
	r.line[r.pos] = v
	r.line[r.pos+r.span] = v
	r.pos++
	if r.pos == r.span {
		r.pos = 0
	}
	return r.line[r.pos : r.pos+r.span]
}

// dot returns the filter output for one window, rounded and saturated.
func dot(coefs, win []float32) int16 {
	win = win[:len(coefs)]
	var acc float32
	for j, c := range coefs {
		acc += c * win[j]
	}
	switch {
	case acc >= math.MaxInt16:
		return math.MaxInt16
	case acc <= math.MinInt16:
		return math.MinInt16
	}
	return int16(math.Floor(float64(acc) + 0.5))
}
