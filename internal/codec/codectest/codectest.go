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
