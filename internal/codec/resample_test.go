package codec

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/callstream/callstream/internal/codec/codectest"
)

// resample runs x through a new Resampler in chunks of the given size.
func resample(t *testing.T, from, to int, x []int16, chunk int) []int16 {
	t.Helper()
	r, err := NewResampler(from, to)
	if err != nil {
		t.Fatal(err)
	}
	var out []int16
	for len(x) > 0 {
		n := min(chunk, len(x))
		out = r.Process(out, x[:n])
		x = x[n:]
	}
	return out
}

// settle is how many output samples to skip (at either rate) before the
// filter history is full of signal.
const settle = filterTaps

func TestResampleRoundTripSNR(t *testing.T) {
	// 1 kHz is periodic in 8 samples, so its rounding errors may all cancel;
	// 2345 Hz never repeats within the test and shows the real noise floor.
	for _, f := range []float64{1000, 2345} {
		in := codectest.Sine(8000, 8000, f, 10000)
		up := resample(t, 8000, 16000, in, frame8k)
		if len(up) != 16000 {
			t.Fatalf("8k→16k gave %d samples, want 16000", len(up))
		}
		back := resample(t, 16000, 8000, up, 2*frame8k)
		if len(back) != 8000 {
			t.Fatalf("16k→8k gave %d samples, want 8000", len(back))
		}
		// Each direction delays by filterCenter 16 kHz samples: 2*48/2 = 48
		// at 8 kHz.
		snr := roundTripSNR(in, back, filterCenter)
		t.Logf("%.0f Hz 8k→16k→8k SNR %.1f dB", f, snr)
		if snr < 40 {
			t.Errorf("%.0f Hz: SNR %.1f dB, want > 40", f, snr)
		}
		// The alignment is the real one: one sample off is far worse.
		if off := roundTripSNR(in, back, filterCenter-1); off > 20 {
			t.Errorf("%.0f Hz: SNR %.1f dB one sample off: delay is not %d", f, off, filterCenter)
		}
	}
}

// roundTripSNR compares out with in delayed by delay samples, after the
// filters have settled.
func roundTripSNR(in, out []int16, delay int) float64 {
	var sig, noise float64
	for n := settle; n < len(out); n++ {
		ref := float64(in[n-delay])
		d := float64(out[n]) - ref
		sig += ref * ref
		noise += d * d
	}
	return codectest.DB(sig / noise)
}

func TestDownsampleResponse(t *testing.T) {
	const amp = 10000
	inPower := amp * amp / 2.0
	for _, tc := range []struct {
		f      float64
		minDB  float64 // lowest allowed gain (a tone cut below 0.5 LSB reads -Inf)
		maxDB  float64 // highest allowed gain
		alias  float64 // where the tone lands at 8 kHz
		reason string
	}{
		{300, -0.1, 0.1, 300, "passband"},
		{1000, -0.1, 0.1, 1000, "passband"},
		{3000, -1, 1, 3000, "3 kHz passes within 1 dB"},
		{3400, -1, 1, 3400, "top of the telephone band"},
		{4500, math.Inf(-1), -40, 3500, "stopband just above 4.2 kHz"},
		{6000, math.Inf(-1), -40, 2000, "6 kHz is cut by more than 40 dB"},
		{7500, math.Inf(-1), -40, 500, "stopband"},
	} {
		out := resample(t, 16000, 8000, codectest.Sine(16000, 16000, tc.f, amp), 2*frame8k)[settle:]
		gain := codectest.DB(codectest.MeanPower(out) / inPower)
		t.Logf("16k→8k %5.0f Hz: %7.2f dB", tc.f, gain)
		if gain < tc.minDB || gain > tc.maxDB {
			t.Errorf("%s: %.0f Hz gain %.2f dB, want %.1f..%.1f", tc.reason, tc.f, gain, tc.minDB, tc.maxDB)
		}
	}
}

func TestUpsampleImages(t *testing.T) {
	const amp = 10000
	for _, f := range []float64{300, 1000, 2000, 3000, 3400} {
		out := resample(t, 8000, 16000, codectest.Sine(8000, 8000, f, amp), frame8k)
		// 1600 samples at 16 kHz: a 10 Hz bin grid, so every tone and image
		// falls on a bin and the DFT needs no window.
		x := out[2*settle : 2*settle+1600]
		tone := codectest.Power(x, 16000, f)
		if g := codectest.DB(tone / (amp * amp / 2)); math.Abs(g) > 0.1 {
			t.Errorf("%.0f Hz passes with gain %.2f dB", f, g)
		}
		var high float64
		for bin := 420; bin <= 800; bin++ { // 4.2 kHz to 8 kHz
			high += codectest.Power(x, 16000, float64(10*bin))
		}
		ratio := codectest.DB(high / tone)
		t.Logf("8k→16k %4.0f Hz: energy above 4.2 kHz %.1f dB", f, ratio)
		if ratio > -40 {
			t.Errorf("%.0f Hz: energy above 4.2 kHz only %.1f dB below the tone (image at %.0f Hz)", f, -ratio, 8000-f)
		}
	}
}

func TestResampleChunkingIsSeamless(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	noise := make([]int16, 4001)
	for i := range noise {
		noise[i] = int16(rng.IntN(40000) - 20000)
	}
	for _, rates := range [][2]int{{8000, 16000}, {16000, 8000}, {8000, 8000}} {
		block := resample(t, rates[0], rates[1], noise, len(noise))
		for _, chunk := range []int{frame8k, 2 * frame8k, 1, 7, 333} {
			if got := resample(t, rates[0], rates[1], noise, chunk); !slices.Equal(got, block) {
				t.Errorf("%d→%d in chunks of %d differs from one block (%d vs %d samples)",
					rates[0], rates[1], chunk, len(got), len(block))
			}
		}
	}
}

func TestResamplerReset(t *testing.T) {
	x := codectest.Sine(500, 8000, 700, 9000)
	for _, rates := range [][2]int{{8000, 16000}, {16000, 8000}} {
		r, err := NewResampler(rates[0], rates[1])
		if err != nil {
			t.Fatal(err)
		}
		first := r.Process(nil, x[:101]) // odd length leaves the decimator mid-pair
		r.Reset()
		again := r.Process(nil, x[:101])
		if !slices.Equal(first, again) {
			t.Errorf("%d→%d: output after Reset differs", rates[0], rates[1])
		}
	}
}

func TestResamplerImpulse(t *testing.T) {
	// The upsampler passes an impulse as the filter's own shape: peak at the
	// centre tap, symmetric, summing to twice the input (two outputs per
	// input sample).
	impulse := make([]int16, 100)
	impulse[0] = 10000
	up := resample(t, 8000, 16000, impulse, 100)
	peak := 0
	for i, v := range up {
		if v > up[peak] {
			peak = i
		}
	}
	if peak != filterCenter {
		t.Errorf("8k→16k impulse peak at %d, want %d", peak, filterCenter)
	}
	for k := 1; k <= filterCenter; k++ {
		if d := int(up[filterCenter-k]) - int(up[filterCenter+k]); d < -1 || d > 1 {
			t.Fatalf("impulse response not symmetric at ±%d: %d vs %d", k, up[filterCenter-k], up[filterCenter+k])
		}
	}
	if len(up) != 200 || up[filterTaps] != 0 {
		t.Errorf("impulse response longer than the filter")
	}
}

func TestNewResamplerRates(t *testing.T) {
	for _, rates := range [][2]int{{44100, 8000}, {8000, 44100}, {8000, 32000}, {0, 0}, {-8000, -8000}} {
		_, err := NewResampler(rates[0], rates[1])
		if !errors.Is(err, ErrUnsupportedRate) {
			t.Errorf("%d→%d: error %v", rates[0], rates[1], err)
		}
	}
	_, err := NewResampler(44100, 8000)
	if want := "codec: cannot resample 44100 Hz to 8000 Hz"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
	r, err := NewResampler(16000, 16000)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Process([]int16{1}, []int16{2, 3}); !slices.Equal(got, []int16{1, 2, 3}) {
		t.Errorf("equal rates: %v", got)
	}
}

func TestResamplerSaturates(t *testing.T) {
	// A full-scale square wave overshoots the filter; output must clip, not wrap.
	x := make([]int16, 800)
	for i := range x {
		x[i] = math.MaxInt16
		if i/20%2 == 1 {
			x[i] = math.MinInt16
		}
	}
	up := resample(t, 8000, 16000, x, frame8k)
	var hitMax, hitMin bool
	for i := 1; i < len(up); i++ {
		if d := int(up[i]) - int(up[i-1]); d > 40000 || d < -40000 {
			t.Fatalf("jump of %d at %d: wrapped", d, i)
		}
		hitMax = hitMax || up[i] == math.MaxInt16
		hitMin = hitMin || up[i] == math.MinInt16
	}
	if !hitMax || !hitMin {
		t.Error("overshoot did not reach the clip levels")
	}
}
