package gatewaytest

import (
	"bytes"
	"testing"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/media"
)

// PromptULaw returns the 1.5 s prompt (assets.PromptWAV) as µ-law bytes:
// what a caller hears, byte for byte, when the gateway plays the file.
func PromptULaw(t testing.TB) []byte {
	t.Helper()
	a, err := media.ReadWAV(bytes.NewReader(assets.PromptWAV()))
	if err != nil {
		t.Fatal(err)
	}
	u, err := a.ULaw8k()
	if err != nil {
		t.Fatal(err)
	}
	return u
}
