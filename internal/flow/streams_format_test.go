package flow

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/callstream/callstream/flexml"
	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/logtest"
	"github.com/callstream/callstream/internal/stream"
	"github.com/callstream/callstream/internal/stream/carrierx"
	"github.com/callstream/callstream/internal/stream/twilio"
)

// A <Stream encoding> reaches the socket through the dialect: CarrierX
// carries 16 kHz L16 and names it audio/l16 in its start message; Twilio
// carries µ-law only and says so in a warning.
func TestStreamWireFormat(t *testing.T) {
	l16 := &flexml.Stream{Encoding: flexml.EncodingL16, SampleRate: 16000}
	mulaw := &flexml.Stream{Encoding: flexml.EncodingMulaw, SampleRate: 8000}
	for _, tc := range []struct {
		dialect stream.Dialect
		s       *flexml.Stream
		want    stream.WireFormat
		warn    bool
	}{
		{carrierx.New(), l16, stream.WireFormat{Format: codec.L16(16000), Encoding: "audio/l16", SampleRate: 16000}, false},
		{carrierx.New(), mulaw, stream.WireFormat{Format: codec.PCMU, Encoding: "audio/x-mulaw", SampleRate: 8000}, false},
		{twilio.New(), mulaw, stream.WireFormat{Format: codec.PCMU, Encoding: "audio/x-mulaw", SampleRate: 8000}, false},
		{twilio.New(), l16, stream.WireFormat{Format: codec.PCMU, Encoding: "audio/x-mulaw", SampleRate: 8000}, true},
	} {
		log, logs := logtest.Text(slog.LevelDebug)
		if got := wireFormat(log, tc.dialect, tc.s); got != tc.want {
			t.Errorf("%s %s: %+v, want %+v", tc.dialect.Name(), tc.s.Encoding, got, tc.want)
		}
		if warned := strings.Contains(logs.String(), "stream encoding not carried by the dialect"); warned != tc.warn {
			t.Errorf("%s %s: warned %v, want %v", tc.dialect.Name(), tc.s.Encoding, warned, tc.warn)
		}
	}
}
