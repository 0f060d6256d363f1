package carrierx

import (
	"testing"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/stream"
)

// µ-law is the default; audio/l16 at 8 or 16 kHz is carried and named in
// the start message's mediaFormat; anything else falls back to µ-law.
func TestWireFormats(t *testing.T) {
	d := New()
	for _, tc := range []struct {
		want  codec.Format
		ok    bool
		wire  codec.Format
		start string // the start message's mediaFormat
	}{
		{codec.Format{}, true, codec.PCMU, `"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000}`},
		{codec.PCMU, true, codec.PCMU, `"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000}`},
		{codec.L16(16000), true, codec.L16(16000), `"mediaFormat":{"encoding":"audio/l16","sampleRate":16000}`},
		{codec.L16(8000), true, codec.L16(8000), `"mediaFormat":{"encoding":"audio/l16","sampleRate":8000}`},
		{codec.L16(48000), false, codec.PCMU, `"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000}`},
		{codec.PCMA, false, codec.PCMU, `"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000}`},
	} {
		wf, ok := d.Wire(tc.want)
		if ok != tc.ok || wf.Format != tc.wire {
			t.Errorf("Wire(%v) = %v, %v; want %v, %v", tc.want, wf.Format, ok, tc.wire, tc.ok)
		}
		in := stream.Info{CallSid: "c", Tracks: []stream.Track{stream.TrackInbound}, Encoding: wf.Encoding, SampleRate: wf.SampleRate}
		want := `{"event":"start","sequenceNumber":1,"start":{"callId":"c","tracks":["inbound"],` + tc.start + `,"customParameters":{}}}`
		if got := string(d.AppendStart(nil, 1, &in)); got != want {
			t.Errorf("Wire(%v) start:\n got %s\nwant %s", tc.want, got, want)
		}
	}
}
