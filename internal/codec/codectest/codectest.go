// Package codectest holds the signals, measures and fixtures the audio tests
// share: tones, the power at one frequency, mean power, decibels, testdata
// files. It is imported by tests only.
package codectest

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

// Testdata returns the bytes of the named file in the testdata directory of
// the package under test, failing the test when it cannot be read.
func Testdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Power returns the power of x at frequency f (Hz) for sample rate fs,
// normalised so that a full-cycle sine of amplitude A gives A²/2.
func Power(x []int16, fs, f float64) float64 {
	// Rotate a unit phasor instead of calling Sin and Cos per sample.
	var re, im float64
	w := 2 * math.Pi * f / fs
	stepC, stepS := math.Cos(w), math.Sin(w)
	c, s := 1.0, 0.0
	for _, v := range x {
		re += float64(v) * c
		im -= float64(v) * s
		c, s = c*stepC-s*stepS, s*stepC+c*stepS
	}
	n := float64(len(x))
	return 2 * (re*re + im*im) / (n * n)
}

// MeanPower returns the mean of x².
func MeanPower(x []int16) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return s / float64(len(x))
}

// ToneFraction returns the share of x's power at frequency f. x should hold
// a whole number of cycles of f.
func ToneFraction(x []int16, fs, f float64) float64 {
	return Power(x, fs, f) / MeanPower(x)
}

// Sine returns n samples of a sine of frequency f and amplitude amp.
func Sine(n int, fs, f, amp float64) []int16 {
	x := make([]int16, n)
	for i := range x {
		x[i] = int16(math.Round(amp * math.Sin(2*math.Pi*f*float64(i)/fs)))
	}
	return x
}

// DB converts a power ratio to decibels.
func DB(ratio float64) float64 { return 10 * math.Log10(ratio) }

// SpeechLike returns n samples at rate of a deterministic speech-like
// signal with energy across the whole band: voiced stretches (a pulse train
// whose pitch glides between 90 and 260 Hz, shaped by three moving formant
// resonators), unvoiced stretches (noise through a resonator near 5 kHz,
// like a fricative), pauses, and a syllable-rate loudness envelope; its
// peak is about -3 dBFS. seed picks the noise.
func SpeechLike(n, rate int, seed uint64) []int16 {
	raw := make([]float64, n)
	fs := float64(rate)
	rng := seed*2862933555777941757 + 3037000493
	noise := func() float64 { // xorshift, uniform in [-1, 1)
		rng ^= rng << 13
		rng ^= rng >> 7
		rng ^= rng << 17
		return float64(rng>>11)/float64(1<<52) - 1
	}
	var formants [4]resonator
	phase := 0.0
	peak := 0.0
	for i := range raw {
		t := float64(i) / fs
		seg := int(t / 0.15) // 150 ms segments: voiced, voiced, unvoiced, pause…
		env := 0.5 - 0.5*math.Cos(2*math.Pi*math.Mod(t, 0.15)/0.15)
		var x float64
		switch seg % 4 {
		case 0, 1:
			f0 := 175 + 85*math.Sin(2*math.Pi*0.7*t+float64(seg))
			phase += f0 / fs
			if phase >= 1 {
				phase--
				x = 1
			}
			x += 0.02 * noise()
			f1 := 500 + 300*math.Sin(2*math.Pi*1.3*t)
			f2 := 1500 + 700*math.Sin(2*math.Pi*0.9*t+1)
			y := formants[0].filter(x, f1, 80, fs) + 0.6*formants[1].filter(x, f2, 120, fs) +
				0.3*formants[2].filter(x, 2700, 200, fs)
			x = y
		case 2:
			x = formants[3].filter(noise(), min(5000, 0.3*fs), 1500, fs) * 0.08
		}
		raw[i] = x * env * (0.4 + 0.6*math.Abs(math.Sin(2*math.Pi*0.37*t)))
		peak = max(peak, math.Abs(raw[i]))
	}
	out := make([]int16, n)
	if peak == 0 {
		return out
	}
	for i, v := range raw {
		out[i] = int16(math.Round(v * 23000 / peak))
	}
	return out
}

// resonator is a two-pole band-pass filter whose centre may move.
type resonator struct{ y1, y2 float64 }

// filter runs one sample x through the resonator at centre f and bandwidth
// bw (Hz) for sample rate fs.
func (r *resonator) filter(x, f, bw, fs float64) float64 {
	radius := math.Exp(-math.Pi * bw / fs)
	a1 := 2 * radius * math.Cos(2*math.Pi*f/fs)
	a2 := -radius * radius
	y := (1-radius)*x + a1*r.y1 + a2*r.y2
	r.y2, r.y1 = r.y1, y
	return y
}
