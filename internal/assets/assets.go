// Package assets embeds the short recordings the demo and the tests play:
// 8 kHz mono µ-law speech made with espeak-ng and sox (see README.md).
package assets

import (
	_ "embed"
	"fmt"
	"strings"
	"sync"

	"github.com/callstream/callstream/internal/media"
)

var (
	//go:embed speech.wav
	speechWAV string
	//go:embed prompt.wav
	promptWAV string
)

// speechULaw decodes the embedded speech once. The file is fixed at build
// time and checked by the tests, so a failure here is a broken build.
var speechULaw = sync.OnceValue(func() string {
	a, err := media.ReadWAV(strings.NewReader(speechWAV))
	if err != nil {
		panic(fmt.Errorf("assets: speech.wav: %w", err))
	}
	b, err := a.ULaw8k()
	if err != nil {
		panic(fmt.Errorf("assets: speech.wav: %w", err))
	}
	return string(b)
})

// Speech returns a 3-second mono 8 kHz µ-law recording of "Hello from the
// gateway. One two three." as headerless bytes (24,000 of them). Each call
// returns a new slice.
func Speech() []byte { return []byte(speechULaw()) }

// SpeechWAV returns the same audio as Speech as a µ-law WAV file. Each call
// returns a new slice.
func SpeechWAV() []byte { return []byte(speechWAV) }

// PromptWAV returns a 1.5-second spoken prompt, "Thank you for calling.", as
// a mono 8 kHz µ-law WAV file, the demo's <Play> audio. Each call returns a
// new slice.
func PromptWAV() []byte { return []byte(promptWAV) }
