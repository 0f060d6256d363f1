package media

import (
	"encoding/binary"
	"math"
)

// Bounds of Resampled: rates a WAV file may reasonably carry, and the
// length of the filter each output sample is computed with.
const (
	minAnyRate = 4000
	maxAnyRate = 192000
	// sincZeros is the number of zero crossings of the windowed sinc on
	// each side of an output sample: 16 keeps aliasing below about -60 dB.
	sincZeros = 16
)

// Resampled returns the audio as mono 16-bit PCM at rate, for a file whose
// rate or channel count a call cannot take as it is (44.1 kHz stereo from
// an editor, 22.05 kHz, ...): G.711 decoded, channels averaged, and
// resampled once with a windowed-sinc low-pass filter whose cut-off is the
// lower rate's Nyquist frequency. It works on the whole clip and
// allocates: use it when a file is loaded, never per frame. Audio already
// mono PCM at rate is returned as a copy.
func (a *Audio) Resampled(rate int) (*Audio, error) {
	bps := a.Encoding.bytesPerSample()
	if bps == 0 {
		return nil, errorf(ErrUnsupportedFormat, "wav: unsupported encoding %v", a.Encoding)
	}
	if a.Channels < 1 {
		return nil, errorf(ErrMalformed, "wav: %d channels", a.Channels)
	}
	if len(a.Data)%(bps*a.Channels) != 0 {
		return nil, errorf(ErrMalformed, "wav: %v data length %d is not a multiple of %d", a.Encoding, len(a.Data), bps*a.Channels)
	}
	for _, r := range []int{a.SampleRate, rate} {
		if r < minAnyRate || r > maxAnyRate {
			return nil, errorf(ErrUnsupportedRate, "wav: %d Hz, want %d to %d", r, minAnyRate, maxAnyRate)
		}
	}
	mono := downmix(a.samples(), a.Channels)
	out := mono
	if a.SampleRate != rate {
		out = resampleSinc(mono, a.SampleRate, rate)
	}
	data := make([]byte, 2*len(out))
	for i, v := range out {
		binary.LittleEndian.PutUint16(data[2*i:], uint16(v))
	}
	return &Audio{Encoding: EncodingPCM16, SampleRate: rate, Channels: 1, Data: data}, nil
}

// downmix averages interleaved channels into one.
func downmix(s []int16, channels int) []int16 {
	if channels == 1 {
		return s
	}
	out := make([]int16, len(s)/channels)
	for i := range out {
		sum := 0
		for _, v := range s[i*channels : (i+1)*channels] {
			sum += int(v)
		}
		out[i] = int16(sum / channels)
	}
	return out
}

// resampleSinc resamples s from rate from to rate to by evaluating, at each
// output instant, the band-limited signal the input samples describe: a
// sum of input samples weighted by a Blackman-windowed sinc low-passed at
// the lower Nyquist frequency. The output instants fall on to/gcd(from, to)
// distinct fractions of an input sample; when their filters fit
// maxPhaseTable weights they are computed once, so each output sample
// costs only its multiplications.
func resampleSinc(s []int16, from, to int) []int16 {
	n := int(int64(len(s)) * int64(to) / int64(from))
	out := make([]int16, n)
	// cut is the filter's cut-off relative to the input's Nyquist frequency.
	cut := min(1, float64(to)/float64(from))
	half := float64(sincZeros) / cut // filter half-width in input samples
	weight := func(x float64) float64 { return cut * sinc(x*cut) * blackman(x/half) }
	g := gcd(from, to)
	p, q := from/g, to/g // output i is at input instant i*p/q
	reach := int(half) + 1
	taps := 2*reach + 1 // input samples base-reach .. base+reach
	if q*taps > maxPhaseTable {
		step := float64(from) / float64(to)
		for i := range out {
			center := float64(i) * step
			lo := max(0, int(math.Ceil(center-half)))
			hi := min(len(s)-1, int(math.Floor(center+half)))
			var acc float64
			for j := lo; j <= hi; j++ {
				acc += float64(s[j]) * weight(float64(j)-center)
			}
			out[i] = clamp16(acc)
		}
		return out
	}
	table := make([]float64, q*taps)
	for phase := range q {
		frac := float64(phase) / float64(q)
		for k := range taps {
			table[phase*taps+k] = weight(float64(k-reach) - frac)
		}
	}
	for i := range out {
		pos := int64(i) * int64(p)
		base, phase := int(pos/int64(q)), int(pos%int64(q))
		w := table[phase*taps : (phase+1)*taps]
		lo, hi := base-reach, base+reach
		if lo < 0 {
			w, lo = w[-lo:], 0
		}
		hi = min(hi, len(s)-1)
		var acc float64
		for j := lo; j <= hi; j++ {
			acc += float64(s[j]) * w[j-lo]
		}
		out[i] = clamp16(acc)
	}
	return out
}

// maxPhaseTable bounds the weights resampleSinc computes ahead (8 MiB):
// rates whose ratio has a large denominator are computed sample by sample.
const maxPhaseTable = 1 << 20

func clamp16(v float64) int16 {
	return int16(max(math.MinInt16, min(math.MaxInt16, math.Round(v))))
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// blackman is the Blackman window over [-1, 1].
func blackman(x float64) float64 {
	if x <= -1 || x >= 1 {
		return 0
	}
	return 0.42 + 0.5*math.Cos(math.Pi*x) + 0.08*math.Cos(2*math.Pi*x)
}
