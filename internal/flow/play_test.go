package flow

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/fetch"
	"github.com/callstream/callstream/internal/media"
)

// A Play by path reads MP3 or WAV as its bytes tell, whatever the name,
// converted for the call's format; a file over maxAudio is refused.
func TestOpenAudioByPath(t *testing.T) {
	mp3, err := os.ReadFile("../media/testdata/speech_22k.mp3")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "prompt.wav") // an MP3 under a WAV's name
	if err := os.WriteFile(path, mp3, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []codec.Format{codec.PCMU, codec.G722} {
		got, err := openAudio(path, f)
		if err != nil {
			t.Fatalf("%v: %v", f, err)
		}
		a, err := media.Decode(mp3, 0)
		if err != nil {
			t.Fatal(err)
		}
		want, err := a.ForCall(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%v: %d bytes, want the %d of media.Decode and ForCall", f, len(got), len(want))
		}
	}

	big := filepath.Join(t.TempDir(), "big.wav")
	if err := os.WriteFile(big, append(mp3, make([]byte, maxAudio)...), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openAudio(big, codec.PCMU); !errors.Is(err, fetch.ErrTooLarge) {
		t.Fatalf("a file over %d bytes: err = %v, want ErrTooLarge", maxAudio, err)
	}
}
