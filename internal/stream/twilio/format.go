package twilio

import (
	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/stream"
)

// EncodingMulaw is the one media format of Twilio Media Streams.
const EncodingMulaw = "audio/x-mulaw"

// Wire returns µ-law at 8 kHz, the only format Twilio streams carry; ok is
// false when anything else was asked for.
func (Dialect) Wire(want codec.Format) (stream.WireFormat, bool) {
	ok := want == codec.Format{} || want.SameEncoding(codec.PCMU)
	return stream.WireFormat{Format: codec.PCMU, Encoding: EncodingMulaw, SampleRate: 8000}, ok
}
