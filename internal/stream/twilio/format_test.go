package twilio

import (
	"testing"

	"github.com/callstream/callstream/internal/codec"
)

// Twilio streams are µ-law at 8 kHz whatever is asked for.
func TestWireAlwaysMulaw(t *testing.T) {
	d := New()
	for _, tc := range []struct {
		want codec.Format
		ok   bool
	}{{codec.Format{}, true}, {codec.PCMU, true}, {codec.L16(16000), false}, {codec.PCMA, false}} {
		wf, ok := d.Wire(tc.want)
		if ok != tc.ok || wf.Format != codec.PCMU || wf.Encoding != "audio/x-mulaw" || wf.SampleRate != 8000 {
			t.Errorf("Wire(%v) = %+v, %v", tc.want, wf, ok)
		}
	}
}
