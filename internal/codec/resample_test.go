package codec

import (
	"errors"
	"fmt"
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

// ratePair is a lower and a higher rate the resampler converts between.
type ratePair struct{ low, high int }

func (p ratePair) String() string { return fmt.Sprintf("%dk/%dk", p.low/1000, p.high/1000) }

// ratio returns high / low.
func (p ratePair) ratio() int { return p.high / p.low }

// ratePairs are every pair of supported rates.
var ratePairs = []ratePair{{8000, 16000}, {16000, 48000}, {8000, 48000}}

// settle is how many lower-rate samples to skip before the filter history
// is full of signal: the prototype's length at the lower rate.
const settle = 2*halfSpan + 1

func TestResampleRoundTripSNR(t *testing.T) {
	for _, p := range ratePairs {
		// 0.125 of the low rate is periodic in 8 samples, so its rounding
		// errors may all cancel; 0.293 never repeats within the test and
		// shows the real noise floor.
		for _, share := range []float64{0.125, 0.293125} {
			f := share * float64(p.low)
			in := codectest.Sine(p.low, float64(p.low), f, 10000)
			up := resample(t, p.low, p.high, in, p.low/50)
			if len(up) != p.high {
				t.Fatalf("%v: up gave %d samples, want %d", p, len(up), p.high)
			}
			back := resample(t, p.high, p.low, up, p.high/50)
			if len(back) != p.low {
				t.Fatalf("%v: down gave %d samples, want %d", p, len(back), p.low)
			}
			// Each direction delays by halfSpan lower-rate samples.
			snr := roundTripSNR(in, back, 2*halfSpan)
			t.Logf("%v %.0f Hz up and down: SNR %.1f dB", p, f, snr)
			if snr < 40 {
				t.Errorf("%v %.0f Hz: SNR %.1f dB, want > 40", p, f, snr)
			}
			// The alignment is the real one: one sample off is far worse.
			if off := roundTripSNR(in, back, 2*halfSpan-1); off > 20 {
				t.Errorf("%v %.0f Hz: SNR %.1f dB one sample off: delay is not %d", p, f, off, 2*halfSpan)
			}
		}
	}
}

// roundTripSNR compares out with in delayed by delay samples, after the
// filters have settled.
func roundTripSNR(in, out []int16, delay int) float64 {
	var sig, noise float64
	for n := 2 * settle; n < len(out); n++ {
		ref := float64(in[n-delay])
		d := float64(out[n]) - ref
		sig += ref * ref
		noise += d * d
	}
	return codectest.DB(sig / noise)
}

// Going down, the band up to 0.425 of the lower rate passes and everything
// from 0.525 of it up to the higher rate's Nyquist frequency is cut by more
// than 40 dB (before it can alias into the band).
func TestDownsampleResponse(t *testing.T) {
	const amp = 10000
	inPower := amp * amp / 2.0
	for _, p := range ratePairs {
		for _, tc := range []struct {
			share        float64 // tone frequency / lower rate
			minDB, maxDB float64 // allowed gain (a tone cut below 0.5 LSB reads -Inf)
			reason       string
		}{
			{0.0375, -0.1, 0.1, "passband"},
			{0.125, -0.1, 0.1, "passband"},
			{0.375, -1, 1, "passes within 1 dB"},
			{0.425, -1, 1, "top of the passband"},
			{0.5625, math.Inf(-1), -40, "stopband just above the transition"},
			{0.75, math.Inf(-1), -40, "stopband"},
			{0.9375, math.Inf(-1), -40, "stopband"},
			{1.4, math.Inf(-1), -40, "stopband, far"},
			{2.9, math.Inf(-1), -40, "stopband, near the higher Nyquist"},
		} {
			f := tc.share * float64(p.low)
			if f >= float64(p.high)/2 {
				continue
			}
			in := codectest.Sine(p.high, float64(p.high), f, amp)
			out := resample(t, p.high, p.low, in, p.high/50)[settle:]
			gain := codectest.DB(codectest.MeanPower(out) / inPower)
			t.Logf("%v down %6.0f Hz: %7.2f dB", p, f, gain)
			if gain < tc.minDB || gain > tc.maxDB {
				t.Errorf("%v %s: %.0f Hz gain %.2f dB, want %.1f..%.1f", p, tc.reason, f, gain, tc.minDB, tc.maxDB)
			}
		}
	}
}

// Going up, a tone passes at unit gain and its images above the lower
// rate's band stay more than 40 dB below it.
func TestUpsampleImages(t *testing.T) {
	const amp = 10000
	for _, p := range ratePairs {
		for _, share := range []float64{0.0375, 0.125, 0.25, 0.375, 0.425} {
			f := share * float64(p.low)
			out := resample(t, p.low, p.high, codectest.Sine(p.low, float64(p.low), f, amp), p.low/50)
			// A tenth of a second at the higher rate: a 10 Hz bin grid, so
			// every tone and image falls on a bin and the DFT needs no
			// window.
			skip := settle * p.ratio()
			x := out[skip : skip+p.high/10]
			tone := codectest.Power(x, float64(p.high), f)
			if g := codectest.DB(tone / (amp * amp / 2)); math.Abs(g) > 0.1 {
				t.Errorf("%v %.0f Hz passes with gain %.2f dB", p, f, g)
			}
			var high float64
			for bin := int(0.525 * float64(p.low) / 10); bin <= p.high/20; bin++ {
				high += codectest.Power(x, float64(p.high), float64(10*bin))
			}
			ratio := codectest.DB(high / tone)
			t.Logf("%v up %5.0f Hz: energy above %.0f Hz %.1f dB", p, f, 0.525*float64(p.low), ratio)
			if ratio > -40 {
				t.Errorf("%v %.0f Hz: energy above the band only %.1f dB below the tone (image at %.0f Hz)", p, f, -ratio, float64(p.low)-f)
			}
		}
	}
}

func TestResampleChunkingIsSeamless(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	noise := make([]int16, 4801)
	for i := range noise {
		noise[i] = int16(rng.IntN(40000) - 20000)
	}
	pairs := [][2]int{{8000, 8000}}
	for _, p := range ratePairs {
		pairs = append(pairs, [2]int{p.low, p.high}, [2]int{p.high, p.low})
	}
	for _, rates := range pairs {
		block := resample(t, rates[0], rates[1], noise, len(noise))
		for _, chunk := range []int{rates[0] / 50, rates[0] / 25, 1, 7, 333} {
			if got := resample(t, rates[0], rates[1], noise, chunk); !slices.Equal(got, block) {
				t.Errorf("%d→%d in chunks of %d differs from one block (%d vs %d samples)",
					rates[0], rates[1], chunk, len(got), len(block))
			}
		}
	}
}

// OutputLen predicts what Process makes, whatever the phase a decimator is
// left in.
func TestResamplerOutputLen(t *testing.T) {
	for _, rates := range [][2]int{{16000, 8000}, {48000, 16000}, {48000, 8000}, {8000, 48000}, {8000, 8000}} {
		r, err := NewResampler(rates[0], rates[1])
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{1, 2, 5, 7, 160, 320, 959, 960, 0, 3} {
			want := r.OutputLen(n)
			if got := len(r.Process(nil, make([]int16, n))); got != want {
				t.Errorf("%d→%d: %d samples gave %d, OutputLen said %d", rates[0], rates[1], n, got, want)
			}
		}
	}
}

func TestResamplerReset(t *testing.T) {
	x := codectest.Sine(500, 8000, 700, 9000)
	for _, p := range ratePairs {
		for _, rates := range [][2]int{{p.low, p.high}, {p.high, p.low}} {
			r, err := NewResampler(rates[0], rates[1])
			if err != nil {
				t.Fatal(err)
			}
			first := r.Process(nil, x[:101]) // odd length leaves the decimator mid-cycle
			r.Reset()
			again := r.Process(nil, x[:101])
			if !slices.Equal(first, again) {
				t.Errorf("%d→%d: output after Reset differs", rates[0], rates[1])
			}
		}
	}
}

func TestResamplerImpulse(t *testing.T) {
	// The upsampler passes an impulse as the filter's own shape: peak at the
	// centre tap (Delay), symmetric, summing to k times the input (k outputs
	// per input sample).
	for _, p := range ratePairs {
		k := p.ratio()
		impulse := make([]int16, 100)
		impulse[0] = 10000
		r, err := NewResampler(p.low, p.high)
		if err != nil {
			t.Fatal(err)
		}
		up := r.Process(nil, impulse)
		center := r.Delay()
		if center != halfSpan*k {
			t.Errorf("%v: Delay %d, want %d", p, center, halfSpan*k)
		}
		peak := 0
		for i, v := range up {
			if v > up[peak] {
				peak = i
			}
		}
		if peak != center {
			t.Errorf("%v: impulse peak at %d, want %d", p, peak, center)
		}
		for d := 1; d <= center; d++ {
			if diff := int(up[center-d]) - int(up[center+d]); diff < -1 || diff > 1 {
				t.Fatalf("%v: impulse response not symmetric at ±%d: %d vs %d", p, d, up[center-d], up[center+d])
			}
		}
		if len(up) != 100*k || up[filterTaps(k)] != 0 {
			t.Errorf("%v: impulse response longer than the filter", p)
		}
	}
}

func TestNewResamplerRates(t *testing.T) {
	for _, rates := range [][2]int{{44100, 8000}, {8000, 44100}, {8000, 32000}, {24000, 48000}, {0, 0}, {-8000, -8000}, {0, 8000}} {
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
	if r.Delay() != 0 || r.From() != 16000 || r.To() != 16000 {
		t.Errorf("equal rates: delay %d, %d→%d", r.Delay(), r.From(), r.To())
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
	for _, p := range ratePairs {
		up := resample(t, p.low, p.high, x, p.low/50)
		var hitMax, hitMin bool
		for i := 1; i < len(up); i++ {
			if d := int(up[i]) - int(up[i-1]); d > 40000 || d < -40000 {
				t.Fatalf("%v: jump of %d at %d: wrapped", p, d, i)
			}
			hitMax = hitMax || up[i] == math.MaxInt16
			hitMin = hitMin || up[i] == math.MinInt16
		}
		if !hitMax || !hitMin {
			t.Errorf("%v: overshoot did not reach the clip levels", p)
		}
	}
}
