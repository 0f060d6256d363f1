package codectest

import (
	"math"
	"slices"
	"testing"
)

func TestSineAndPower(t *testing.T) {
	x := Sine(8000, 8000, 1000, 10000)
	if p := Power(x, 8000, 1000); math.Abs(p-5e7) > 1e4 {
		t.Errorf("power at the tone %.0f, want 5e7", p)
	}
	if f := ToneFraction(x, 8000, 1000); f < 0.999 {
		t.Errorf("tone fraction %.4f", f)
	}
	if p := Power(x, 8000, 2000); p > 1 {
		t.Errorf("power off the tone %.1f", p)
	}
	if d := DB(100); d != 20 {
		t.Errorf("DB(100) = %v", d)
	}
}

// SpeechLike peaks at 23000, repeats for a seed, pauses, and carries
// energy above 4 kHz (so a wideband path has something to keep).
func TestSpeechLike(t *testing.T) {
	const rate = 16000
	x := SpeechLike(rate, rate, 1)
	peak := 0
	for _, v := range x {
		peak = max(peak, int(v), -int(v))
	}
	if peak != 23000 {
		t.Errorf("peak %d", peak)
	}
	if !slices.Equal(x, SpeechLike(rate, rate, 1)) || slices.Equal(x, SpeechLike(rate, rate, 2)) {
		t.Error("not deterministic per seed")
	}
	pause := x[int(0.46*rate):int(0.59*rate)] // inside the fourth 150 ms segment
	if MeanPower(pause) != 0 {
		t.Error("no pause")
	}
	var high float64
	for f := 4000.0; f < 8000; f++ {
		high += Power(x, rate, f)
	}
	share := high / MeanPower(x) // 1 Hz bins over 1 s: the one-sided spectrum sums to the mean power
	t.Logf("share of power above 4 kHz: %.3f", share)
	if share < 0.01 {
		t.Errorf("only %.4f of the power above 4 kHz", share)
	}
}
