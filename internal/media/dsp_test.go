package media

import "math"

// dftPower returns the power of x at frequency f (Hz) for sample rate fs,
// normalised so that a full-cycle sine of amplitude A gives A²/2.
func dftPower(x []int16, fs, f float64) float64 {
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

// meanPower returns the mean of x².
func meanPower(x []int16) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return s / float64(len(x))
}

// toneFraction returns the share of x's power at frequency f. x should hold
// a whole number of cycles of f.
func toneFraction(x []int16, fs, f float64) float64 {
	return dftPower(x, fs, f) / meanPower(x)
}

// sine returns n samples of a sine of frequency f and amplitude amp.
func sine(n int, fs, f, amp float64) []int16 {
	x := make([]int16, n)
	for i := range x {
		x[i] = int16(math.Round(amp * math.Sin(2*math.Pi*f*float64(i)/fs)))
	}
	return x
}

// dB converts a power ratio to decibels.
func dB(ratio float64) float64 { return 10 * math.Log10(ratio) }
