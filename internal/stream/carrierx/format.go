package carrierx

import (
	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/stream"
)

// Media format names of the start message's mediaFormat.encoding.
const (
	EncodingMulaw = "audio/x-mulaw" // G.711 µ-law at 8 kHz, the default
	EncodingL16   = "audio/l16"     // 16-bit linear PCM, little-endian, at mediaFormat.sampleRate
)

// Wire returns the stream's media format: µ-law at 8 kHz by default, or
// 16-bit linear PCM at 8 or 16 kHz (<Stream encoding="audio/l16;rate=16000">).
func (Dialect) Wire(want codec.Format) (stream.WireFormat, bool) {
	switch {
	case want == codec.Format{} || want.SameEncoding(codec.PCMU):
		return stream.WireFormat{Format: codec.PCMU, Encoding: EncodingMulaw, SampleRate: 8000}, true
	case want == codec.L16(8000) || want == codec.L16(16000):
		return stream.WireFormat{Format: want, Encoding: EncodingL16, SampleRate: want.Rate}, true
	}
	return stream.WireFormat{Format: codec.PCMU, Encoding: EncodingMulaw, SampleRate: 8000}, false
}
