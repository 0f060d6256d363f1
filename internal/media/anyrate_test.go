package media

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/callstream/callstream/internal/codec"
)

// tone returns seconds of a sine at hz, amplitude amp, as interleaved PCM16
// audio at rate with the same signal in every channel.
func tone(hz float64, amp float64, rate, channels int, seconds float64) *Audio {
	n := int(float64(rate) * seconds)
	data := make([]byte, 0, 2*n*channels)
	for i := range n {
		v := int16(amp * math.Sin(2*math.Pi*hz*float64(i)/float64(rate)))
		for range channels {
			data = binary.LittleEndian.AppendUint16(data, uint16(v))
		}
	}
	return &Audio{Encoding: EncodingPCM16, SampleRate: rate, Channels: channels, Data: data}
}

// rms of the samples away from the ends (where the filter sees zeros).
func rmsMiddle(s []int16) float64 {
	s = s[len(s)/10 : len(s)-len(s)/10]
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(len(s)))
}

func crossings(s []int16) int {
	n := 0
	for i := 1; i < len(s); i++ {
		if (s[i-1] < 0) != (s[i] < 0) {
			n++
		}
	}
	return n
}

func TestResampledKeepsTheBandAndDropsWhatIsAbove(t *testing.T) {
	// 44.1 kHz stereo, 1 kHz: 8 kHz mono of the same length, pitch and level.
	a, err := tone(1000, 10000, 44100, 2, 1).Resampled(8000)
	if err != nil {
		t.Fatal(err)
	}
	if a.SampleRate != 8000 || a.Channels != 1 || a.Encoding != EncodingPCM16 {
		t.Fatalf("format %+v", a)
	}
	s := codec.PCM16LEToSamples(nil, a.Data)
	if len(s) != 8000 {
		t.Errorf("%d samples, want 8000", len(s))
	}
	if c := crossings(s); c < 1990 || c > 2010 {
		t.Errorf("%d zero crossings, want about 2000 (1 kHz)", c)
	}
	want := 10000 / math.Sqrt2
	if r := rmsMiddle(s); math.Abs(20*math.Log10(r/want)) > 0.5 {
		t.Errorf("rms %.0f, want %.0f within 0.5 dB", r, want)
	}

	// 6 kHz is above 8 kHz's Nyquist frequency: filtered out, not folded
	// down to 2 kHz.
	a, err = tone(6000, 10000, 44100, 1, 1).Resampled(8000)
	if err != nil {
		t.Fatal(err)
	}
	if r := rmsMiddle(codec.PCM16LEToSamples(nil, a.Data)); 20*math.Log10(r/want) > -40 {
		t.Errorf("6 kHz at 8 kHz: rms %.1f, want 40 dB down", r)
	}

	// µ-law 8 kHz up to 22.05 kHz: decoded and interpolated.
	ulaw := codec.EncodeULaw(nil, codec.PCM16LEToSamples(nil, tone(440, 8000, 8000, 1, 0.5).Data))
	a, err = (&Audio{Encoding: EncodingULaw, SampleRate: 8000, Channels: 1, Data: ulaw}).Resampled(22050)
	if err != nil {
		t.Fatal(err)
	}
	s = codec.PCM16LEToSamples(nil, a.Data)
	if len(s) != 11025 {
		t.Errorf("%d samples, want 11025", len(s))
	}
	if c := crossings(s); c < 435 || c > 445 {
		t.Errorf("%d zero crossings, want about 440", c)
	}
}

func TestResampledRefusesRatesOutOfBounds(t *testing.T) {
	a := tone(100, 1000, 2000, 1, 0.1)
	if _, err := a.Resampled(8000); !errors.Is(err, ErrUnsupportedRate) {
		t.Errorf("2 kHz: %v", err)
	}
	if _, err := tone(100, 1000, 8000, 1, 0.1).Resampled(400000); !errors.Is(err, ErrUnsupportedRate) {
		t.Errorf("to 400 kHz: %v", err)
	}
	odd := &Audio{Encoding: EncodingPCM16, SampleRate: 8000, Channels: 2, Data: make([]byte, 6)}
	if _, err := odd.Resampled(8000); !errors.Is(err, ErrMalformed) {
		t.Errorf("half a stereo frame: %v", err)
	}
}

// The filters computed ahead per output phase give what the windowed sinc
// evaluated at each output instant gives (within rounding), including
// near the ends of the clip, and a ratio whose table would be too large
// is computed directly with the same result.
func TestResampleSincPhaseTableMatchesDirect(t *testing.T) {
	direct := func(s []int16, from, to int) []int16 {
		out := make([]int16, int(int64(len(s))*int64(to)/int64(from)))
		cut := min(1, float64(to)/float64(from))
		half := float64(sincZeros) / cut
		for i := range out {
			center := float64(i) * float64(from) / float64(to)
			var acc float64
			for j := range s {
				x := float64(j) - center
				acc += float64(s[j]) * cut * sinc(x*cut) * blackman(x/half)
			}
			out[i] = clamp16(acc)
		}
		return out
	}
	for _, r := range [][2]int{{44100, 8000}, {22050, 16000}, {8000, 44100}, {11025, 8000}, {44100, 7999}} {
		in := codec.PCM16LEToSamples(nil, tone(700, 12000, r[0], 1, 0.05).Data)
		got, want := resampleSinc(in, r[0], r[1]), direct(in, r[0], r[1])
		if len(got) != len(want) {
			t.Fatalf("%d -> %d Hz: %d samples, want %d", r[0], r[1], len(got), len(want))
		}
		for i := range got {
			if d := int(got[i]) - int(want[i]); d < -1 || d > 1 {
				t.Fatalf("%d -> %d Hz: sample %d is %d, want %d", r[0], r[1], i, got[i], want[i])
			}
		}
	}
}
