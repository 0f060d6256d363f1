package codec

import (
	"math"
	"slices"
)

// Low-pass filter shared by both resampling directions. It runs at 16 kHz:
// a Kaiser-windowed sinc with its cutoff at 3.8 kHz, flat (< 0.01 dB ripple)
// up to about 3.4 kHz and more than 70 dB down from about 4.2 kHz. The tap
// count is 4k+1 so that both directions delay by a whole number of samples.
const (
	filterTaps   = 97
	filterCenter = (filterTaps - 1) / 2 // group delay in 16 kHz samples
	filterCutoff = 3800.0 / 16000.0     // cycles per 16 kHz sample
	filterBeta   = 7.9                  // Kaiser shape for about 80 dB stopband
	// upSpan is the number of input samples each 8k→16k phase spans.
	upSpan = (filterTaps + 1) / 2
	// narrowRate is the telephone-band sample rate the filter is designed
	// around.
	narrowRate = 8000
)

// lowPass holds the filter taps, normalised to unit gain at DC. It is built
// once at package initialisation and only read after.
var lowPass = designLowPass()

// designLowPass builds the windowed-sinc prototype filter.
func designLowPass() (h [filterTaps]float64) {
	var sum float64
	for n := range h {
		t := float64(n - filterCenter)
		v := 2 * filterCutoff
		if t != 0 {
			v = math.Sin(2*math.Pi*filterCutoff*t) / (math.Pi * t)
		}
		r := t / filterCenter
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
	modeUp                // 8 kHz → 16 kHz
	modeDown              // 16 kHz → 8 kHz
)

// Resampler converts a stream of samples between 8 kHz and 16 kHz with a
// polyphase FIR low-pass filter (97 taps at 16 kHz: 48 or 49 per phase).
// It keeps the filter history between calls, so a stream cut into frames
// of any size yields exactly the output of one long block. Both directions
// delay the signal by 48 samples at 16 kHz (24 at 8 kHz). A Resampler is not
// safe for concurrent use.
type Resampler struct {
	mode  resampleMode
	coefs [2][]float32 // mode up: one reversed tap set per output phase; mode down: coefs[0]
	line  []float32    // input history, stored twice so every window is contiguous
	span  int          // history length (len(line) / 2)
	pos   int          // start of the current window in line
	odd   bool         // mode down: the next input sample has an odd index
}

// NewResampler returns a Resampler from fromRate to toRate. Supported pairs
// are 8000→16000, 16000→8000 and equal positive rates (a plain copy).
func NewResampler(fromRate, toRate int) (*Resampler, error) {
	switch {
	case fromRate == toRate && fromRate > 0:
		return &Resampler{mode: modeCopy}, nil
	case fromRate == narrowRate && toRate == 2*narrowRate:
		r := &Resampler{mode: modeUp, span: upSpan}
		for p := range r.coefs {
			c := make([]float32, upSpan)
			for j := range c {
				// Window position j holds input m-(span-1-j), which meets
				// tap 2*(span-1-j)+p; the factor 2 restores the gain lost to
				// zero stuffing.
				if k := 2*(upSpan-1-j) + p; k < filterTaps {
					c[j] = float32(2 * lowPass[k])
				}
			}
			r.coefs[p] = c
		}
		r.line = make([]float32, 2*r.span)
		return r, nil
	case fromRate == 2*narrowRate && toRate == narrowRate:
		r := &Resampler{mode: modeDown, span: filterTaps}
		c := make([]float32, filterTaps)
		for j := range c {
			c[j] = float32(lowPass[filterTaps-1-j])
		}
		r.coefs[0] = c
		r.line = make([]float32, 2*r.span)
		return r, nil
	}
	return nil, errorf(ErrUnsupportedRate, "codec: cannot resample %d Hz to %d Hz", fromRate, toRate)
}

// Process resamples src and appends the output to dst: 2*len(src) samples
// going up, about len(src)/2 going down. It allocates only when dst lacks the
// capacity for the output.
func (r *Resampler) Process(dst []int16, src []int16) []int16 {
	switch r.mode {
	case modeUp:
		n := len(dst)
		dst = slices.Grow(dst, 2*len(src))[:n+2*len(src)]
		out := dst[n:]
		for i, s := range src {
			win := r.push(s)
			out[2*i] = dot(r.coefs[0], win)
			out[2*i+1] = dot(r.coefs[1], win)
		}
		return dst
	case modeDown:
		count := len(src) / 2
		if !r.odd {
			count = (len(src) + 1) / 2
		}
		n := len(dst)
		dst = slices.Grow(dst, count)[:n+count]
		out := dst[n:]
		k := 0
		for _, s := range src {
			win := r.push(s)
			if !r.odd {
				out[k] = dot(r.coefs[0], win)
				k++
			}
			r.odd = !r.odd
		}
		return dst
	}
	return append(dst, src...)
}

// Delay returns how many output samples the filter delays the signal by.
func (r *Resampler) Delay() int {
	switch r.mode {
	case modeUp:
		return filterCenter
	case modeDown:
		return filterCenter / 2
	}
	return 0
}

// Reset clears the filter history, as if the Resampler were new.
func (r *Resampler) Reset() {
	clear(r.line)
	r.pos = 0
	r.odd = false
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
