//go:build opus

package codec

import (
	"errors"
	"testing"

	"github.com/callstream/callstream/internal/codec/codectest"
)

// opusRoundTrip encodes x (mono at rate) in 20 ms frames and decodes the
// packets at the same rate.
func opusRoundTrip(t *testing.T, x []int16, rate int) []int16 {
	t.Helper()
	f := Opus.WithRate(rate)
	enc, err := NewEncoder(f)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := NewDecoder(f)
	if err != nil {
		t.Fatal(err)
	}
	var out []int16
	for n := f.FrameSamples(); len(x) >= n; x = x[n:] {
		pkt, err := enc.Encode(nil, x[:n])
		if err != nil {
			t.Fatal(err)
		}
		if len(pkt) == 0 || len(pkt) > f.MaxFrameBytes() {
			t.Fatalf("packet of %d bytes", len(pkt))
		}
		if out, err = dec.Decode(out, pkt); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// A tone keeps most of its power at its frequency through Opus at 48 and
// 16 kHz; 6 kHz survives at 16 kHz (wideband) and at 48 kHz.
func TestOpusRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		rate int
		f    float64
	}{{48000, 1000}, {48000, 6000}, {16000, 1000}, {16000, 6000}, {8000, 1000}} {
		x := codectest.Sine(tc.rate, float64(tc.rate), tc.f, 10000)
		y := opusRoundTrip(t, x, tc.rate)
		if len(y) != len(x) {
			t.Fatalf("%d Hz: %d samples back of %d", tc.rate, len(y), len(x))
		}
		tail := y[len(y)/2:]
		frac := codectest.ToneFraction(tail, float64(tc.rate), tc.f)
		t.Logf("opus at %d Hz, %.0f Hz tone: %.3f of the power at the tone", tc.rate, tc.f, frac)
		if frac < 0.9 {
			t.Errorf("opus at %d Hz: only %.3f of the power at %.0f Hz", tc.rate, frac, tc.f)
		}
	}
}

func TestOpusSilenceConcealAndErrors(t *testing.T) {
	for _, rate := range []int{48000, 16000} {
		f := Opus.WithRate(rate)
		dec, err := NewDecoder(f)
		if err != nil {
			t.Fatal(err)
		}
		pcm, err := dec.Decode(nil, Silence(Opus, nil))
		if err != nil || len(pcm) != f.FrameSamples() || peak(pcm) != 0 {
			t.Errorf("%d Hz: silence packet gave %d samples, peak %d, %v", rate, len(pcm), peak(pcm), err)
		}
		if got := dec.Conceal(nil, f.FrameSamples()); len(got) != f.FrameSamples() {
			t.Errorf("%d Hz: Conceal gave %d samples", rate, len(got))
		}
		if got := dec.Conceal(nil, 7); len(got) != 7 {
			t.Errorf("%d Hz: Conceal of 7 gave %d samples", rate, len(got))
		}
		if _, err := dec.Decode(nil, nil); !errors.Is(err, ErrBadPayload) {
			t.Errorf("%d Hz: empty packet: %v", rate, err)
		}
		if _, err := dec.Decode(nil, []byte{0xFF, 0xFF, 0xFF, 0xFF, 0xFF}); !errors.Is(err, ErrBadPayload) {
			t.Errorf("%d Hz: corrupt packet: %v", rate, err)
		}
		enc, err := NewEncoder(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := enc.Encode(nil, make([]int16, 100)); !errors.Is(err, ErrFrameSize) {
			t.Errorf("%d Hz: 100 samples: %v", rate, err)
		}
	}
	if c, ok := Lookup("opus", 48000, 2); !ok || !c.Available {
		t.Error("opus is not available in the opus build")
	}
}
