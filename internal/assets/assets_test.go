package assets

import (
	"bytes"
	"math"
	"testing"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/media"
)

// rms returns the root mean square of µ-law audio in 16-bit units.
func rms(ulaw []byte) float64 {
	var sum float64
	for _, b := range ulaw {
		s := float64(codec.ULawToPCM(b))
		sum += s * s
	}
	return math.Sqrt(sum / float64(len(ulaw)))
}

// loudFrames counts 20 ms frames whose RMS is above level.
func loudFrames(ulaw []byte, level float64) int {
	n := 0
	for len(ulaw) >= media.FrameSamples {
		if rms(ulaw[:media.FrameSamples]) > level {
			n++
		}
		ulaw = ulaw[media.FrameSamples:]
	}
	return n
}

func TestClips(t *testing.T) {
	for _, tc := range []struct {
		name       string
		wav        []byte
		samples    int
		minSpeechS float64 // seconds of frames louder than -30 dBFS
	}{
		{"speech", SpeechWAV(), 24000, 1.2},
		{"prompt", PromptWAV(), 12000, 0.6},
	} {
		a, err := media.ReadWAV(bytes.NewReader(tc.wav))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if a.Encoding != media.EncodingULaw || a.SampleRate != 8000 || a.Channels != 1 {
			t.Errorf("%s: %v %d Hz %d channels, want ulaw 8000 Hz mono", tc.name, a.Encoding, a.SampleRate, a.Channels)
		}
		if len(a.Data) != tc.samples {
			t.Errorf("%s: %d samples, want %d", tc.name, len(a.Data), tc.samples)
		}
		// Speech, not silence: overall RMS well above the noise floor, and
		// most of the clip is voiced.
		const level = 32768 * 0.0316 // -30 dBFS
		r, s := rms(a.Data), float64(loudFrames(a.Data, level))*media.FrameDuration.Seconds()
		t.Logf("%s: RMS %.0f, %.2f s above -30 dBFS", tc.name, r, s)
		if r < 1000 {
			t.Errorf("%s: RMS %.0f, want > 1000", tc.name, r)
		}
		if s < tc.minSpeechS {
			t.Errorf("%s: %.2f s of speech, want at least %.2f s", tc.name, s, tc.minSpeechS)
		}
	}
}

func TestSpeech(t *testing.T) {
	s := Speech()
	if len(s) != 24000 {
		t.Fatalf("Speech: %d bytes, want 24000 (3 s at 8 kHz)", len(s))
	}
	a, err := media.ReadWAV(bytes.NewReader(SpeechWAV()))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s, a.Data) {
		t.Fatal("Speech differs from the data chunk of SpeechWAV")
	}
	if !bytes.HasSuffix(SpeechWAV(), s) {
		t.Fatal("Speech is not the tail of SpeechWAV")
	}
	// Callers own what they get.
	s[0] ^= 0xFF
	if Speech()[0] == s[0] {
		t.Fatal("Speech returned shared memory")
	}
	w := SpeechWAV()
	w[0] = 'X'
	if SpeechWAV()[0] != 'R' {
		t.Fatal("SpeechWAV returned shared memory")
	}
}
