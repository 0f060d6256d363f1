package codec

import "math"

// ResampleClip converts a whole clip of mono samples from fromRate to
// toRate, any two positive rates, with a Blackman-windowed sinc low-pass
// whose cutoff sits at 0.45 of the lower rate. It is for clips converted
// once (speech a synthesizer wrote at 22.05 kHz, a file at 44.1 kHz), never
// for the frame path: it allocates its output and costs some tens of
// multiplications per output sample. Equal rates return x itself.
func ResampleClip(x []int16, fromRate, toRate int) []int16 {
	if fromRate == toRate || fromRate <= 0 || toRate <= 0 {
		return x
	}
	ratio := float64(fromRate) / float64(toRate) // input samples per output sample
	// Cutoff in cycles per input sample.
	cutoff := 0.45 * float64(min(fromRate, toRate)) / float64(fromRate)
	half := int(math.Ceil(16 * math.Max(1, ratio)))
	out := make([]int16, int(float64(len(x))/ratio))
	for n := range out {
		t := float64(n) * ratio
		c := int(t)
		var acc float64
		for k := max(c-half+1, 0); k <= c+half && k < len(x); k++ {
			d := t - float64(k)
			u := d / float64(half)
			if u <= -1 || u >= 1 {
				continue
			}
			w := 0.42 + 0.5*math.Cos(math.Pi*u) + 0.08*math.Cos(2*math.Pi*u)
			arg := 2 * cutoff * d
			sinc := 1.0
			if arg != 0 {
				sinc = math.Sin(math.Pi*arg) / (math.Pi * arg)
			}
			acc += float64(x[k]) * 2 * cutoff * sinc * w
		}
		out[n] = int16(max(min(math.Round(acc), math.MaxInt16), math.MinInt16))
	}
	return out
}
