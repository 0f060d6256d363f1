package media

import (
	"bytes"
	"testing"

	"github.com/callstream/callstream/internal/codec"
)

func TestMixULaw(t *testing.T) {
	silence := bytes.Repeat([]byte{codec.ULawSilence}, 256)
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	dst := make([]byte, 256)
	MixULaw(dst, all, silence)
	for i, c := range dst {
		if want := codec.PCMToULaw(codec.ULawToPCM(byte(i))); c != want {
			t.Errorf("mix %#02x with silence = %#02x, want %#02x", i, c, want)
		}
	}

	for _, tc := range []struct {
		name    string
		a, b    byte
		wantPCM int16
	}{
		{"positive saturates", 0x80, 0x80, 32124},
		{"negative saturates", 0x00, 0x00, -32124},
		{"opposites cancel", 0x80, 0x00, 0},
		{"sum is re-encoded", 0x9F, 0x9F, 16764}, // 8316+8316 = 16632 lies in 16764's interval
		{"small levels add", 0xFE, 0xFE, 16},
	} {
		out := make([]byte, 1)
		MixULaw(out, []byte{tc.a}, []byte{tc.b})
		if got := codec.ULawToPCM(out[0]); got != tc.wantPCM {
			t.Errorf("%s: %#02x + %#02x = %d, want %d", tc.name, tc.a, tc.b, got, tc.wantPCM)
		}
	}

	// Shorter inputs count as silence; dst may alias an input.
	a := []byte{0x9F, 0x9F, 0x9F, 0x9F}
	MixULaw(a, a, []byte{0x9F})
	if want := []byte{0x8F, 0x9F, 0x9F, 0x9F}; !bytes.Equal(a, want) {
		t.Fatalf("aliased mix = %x, want %x", a, want)
	}
	out := bytes.Repeat([]byte{0x42}, 3)
	MixULaw(out, []byte{0x90}, nil)
	if want := []byte{0x90, codec.ULawSilence, codec.ULawSilence}; !bytes.Equal(out, want) {
		t.Fatalf("mix past both inputs = %x, want %x", out, want)
	}
}
