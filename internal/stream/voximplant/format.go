package voximplant

import (
	"errors"
	"fmt"
	"strings"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/stream"
)

// WebSocketAudioEncoding names as mediaFormat.encoding carries them.
// PCM16 is 16-bit linear PCM at the sampleRate beside it (8000: what the
// VoxEngine API calls PCM16_8KHZ, the default; 16000: PCM16_16KHZ); PCM8
// is accepted from apps as another name of PCM16 at 8 kHz.
const (
	EncodingULaw  = "ULAW"
	EncodingALaw  = "ALAW"
	EncodingPCM16 = "PCM16"
	EncodingPCM8  = "PCM8"
	EncodingOpus  = "OPUS"
)

// ErrEncoding reports a mediaFormat this dialect has no format for.
var ErrEncoding = errors.New("unsupported mediaFormat")

// Wire returns the stream's media format: PCM16 at 8 kHz by default,
// PCM16 at 16 kHz, ULAW, ALAW or OPUS.
func (Dialect) Wire(want codec.Format) (stream.WireFormat, bool) {
	switch {
	case want == codec.Format{} || want == codec.L16(8000):
		return stream.WireFormat{Format: codec.L16(8000), Encoding: EncodingPCM16, SampleRate: 8000}, true
	case want == codec.L16(16000):
		return stream.WireFormat{Format: want, Encoding: EncodingPCM16, SampleRate: 16000}, true
	case want.SameEncoding(codec.PCMU):
		return stream.WireFormat{Format: codec.PCMU, Encoding: EncodingULaw, SampleRate: 8000}, true
	case want.SameEncoding(codec.PCMA):
		return stream.WireFormat{Format: codec.PCMA, Encoding: EncodingALaw, SampleRate: 8000}, true
	case want.SameEncoding(codec.Opus):
		return stream.WireFormat{Format: codec.Opus, Encoding: EncodingOpus, SampleRate: codec.Opus.Clock}, true
	}
	return stream.WireFormat{Format: codec.L16(8000), Encoding: EncodingPCM16, SampleRate: 8000}, false
}

// ParseFormat returns the format of a mediaFormat an app sends (encoding
// names ignore case; the MIME names audio/x-mulaw and audio/x-alaw and the
// API's PCM16_8KHZ and PCM16_16KHZ are accepted too). rate 0 means the
// encoding's own rate; PCM16 without one is 16 kHz, as VoxEngine's PCM16.
// A rate the encoding does not have is an error naming both.
func ParseFormat(encoding string, rate int) (codec.Format, error) {
	var f codec.Format
	switch strings.ToUpper(normalizeEncoding(encoding)) {
	case EncodingULaw, "PCMU":
		f = codec.PCMU
	case EncodingALaw, "PCMA":
		f = codec.PCMA
	case EncodingPCM8, "PCM16_8KHZ":
		f = codec.L16(8000)
	case "PCM16_16KHZ":
		f = codec.L16(16000)
	case EncodingPCM16:
		switch rate {
		case 8000:
			return codec.L16(8000), nil
		case 0, 16000:
			return codec.L16(16000), nil
		}
		return codec.Format{}, fmt.Errorf("%w: %s at %d Hz (want 8000 or 16000)", ErrEncoding, EncodingPCM16, rate)
	case EncodingOpus:
		f = codec.Opus
	default:
		return codec.Format{}, fmt.Errorf("%w: encoding %q (want ULAW, ALAW, PCM16, PCM8 or OPUS)", ErrEncoding, encoding)
	}
	if rate != 0 && rate != f.Clock {
		return codec.Format{}, fmt.Errorf("%w: %s is %d Hz, not %d Hz", ErrEncoding, strings.ToUpper(encoding), f.Clock, rate)
	}
	return f, nil
}
