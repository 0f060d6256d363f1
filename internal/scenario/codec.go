package scenario

import (
	"fmt"
	"strings"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/stream"
)

// Canonical WebSocketAudioEncoding values, as sent in mediaFormat.encoding.
const (
	EncULaw  = "ULAW"
	EncALaw  = "ALAW"
	EncPCM8  = "PCM8"
	EncPCM16 = "PCM16"
	EncOpus  = "OPUS"
)

// DefaultEncoding is the encoding of a sendMediaTo without one.
const DefaultEncoding = EncPCM8

// OpusSupported reports whether this build encodes and decodes OPUS.
const OpusSupported = codec.OpusAvailable

// decoder turns one media payload of a remote's stream into 8 kHz µ-law,
// appended to dst. A decoder keeps state between payloads (a split sample,
// filter history) and is used by one goroutine at a time.
type decoder interface {
	decode(dst, payload []byte) ([]byte, error)
}

// encoding describes one WebSocketAudioEncoding.
type encoding struct {
	name string       // canonical name on the wire
	rate int          // sample rate on the wire (the clock of its timestamps)
	wire codec.Format // what the payloads are
}

// The codec of each encoding. OPUS runs at 8 kHz, the rate of the call's
// µ-law; its timestamps count Opus's 48 kHz clock.
var encodings = map[string]*encoding{
	EncULaw:  {name: EncULaw, rate: 8000, wire: codec.PCMU},
	EncALaw:  {name: EncALaw, rate: 8000, wire: codec.PCMA},
	EncPCM8:  {name: EncPCM8, rate: 8000, wire: codec.L16(8000)},
	EncPCM16: {name: EncPCM16, rate: 16000, wire: codec.L16(16000)},
	EncOpus:  {name: EncOpus, rate: 48000, wire: codec.Opus.WithRate(8000)},
}

// encodingAliases maps the other accepted names to canonical ones.
var encodingAliases = map[string]string{
	"PCM16_8KHZ":    EncPCM8,
	"PCM16_16KHZ":   EncPCM16,
	"AUDIO/X-MULAW": EncULaw,
	"AUDIO/X-ALAW":  EncALaw,
	"PCMU":          EncULaw,
	"PCMA":          EncALaw,
}

// lookupEncoding finds an encoding by name or alias, ignoring case. An
// empty name is the default encoding.
func lookupEncoding(name string) (*encoding, error) {
	if name == "" {
		return encodings[DefaultEncoding], nil
	}
	up := strings.ToUpper(name)
	if e, ok := encodings[up]; ok {
		return e, nil
	}
	if canon, ok := encodingAliases[up]; ok {
		return encodings[canon], nil
	}
	return nil, fmt.Errorf("%w: %q (want ULAW, ALAW, PCM8, PCM16 or OPUS)", ErrEncoding, name)
}

// newEncoder returns the encoder of one flow: the call's 20 ms µ-law
// frames converted to the wire format (as they are for ULAW).
func (e *encoding) newEncoder() (stream.FrameEncoder, error) {
	out := &appendSink{rate: e.wire.Rate}
	w, err := codec.Convert(codec.PCMU, e.wire, out)
	if err != nil {
		return nil, e.fail(err)
	}
	return &convertEncoder{w: w, out: out, samples: e.rate / 50}, nil
}

// newDecoder returns the decoder of one remote stream: its payloads
// converted to the call's µ-law.
func (e *encoding) newDecoder() (decoder, error) {
	out := &appendSink{rate: codec.PCMU.Rate}
	w, err := codec.Convert(e.wire, codec.PCMU, out)
	if err != nil {
		return nil, e.fail(err)
	}
	return &convertDecoder{w: w, out: out, enc: e}, nil
}

// fail wraps a codec error of the encoding: OPUS errors are ErrOpus.
func (e *encoding) fail(err error) error {
	if e.name == EncOpus {
		return fmt.Errorf("%w: %w", ErrOpus, err)
	}
	return fmt.Errorf("%s: %w", e.name, err)
}

// appendSink ends a codec chain: it appends each frame to dst.
type appendSink struct {
	rate int
	dst  []byte
}

func (s *appendSink) WriteFrame(p []byte) error { s.dst = append(s.dst, p...); return nil }
func (s *appendSink) SampleRate() int           { return s.rate }
func (s *appendSink) String() string            { return "ws" }

// convertEncoder is a stream.FrameEncoder over a codec chain. A frame the
// codec refuses (an Opus failure) is left out.
type convertEncoder struct {
	w       codec.Writer[[]byte]
	out     *appendSink
	samples int
}

func (e *convertEncoder) Encode(dst, ulaw []byte) []byte {
	e.out.dst = dst
	_ = e.w.WriteFrame(ulaw)
	dst, e.out.dst = e.out.dst, nil
	return dst
}

func (e *convertEncoder) SamplesPerFrame() int { return e.samples }

// convertDecoder is a decoder over a codec chain.
type convertDecoder struct {
	w   codec.Writer[[]byte]
	out *appendSink
	enc *encoding
}

func (d *convertDecoder) decode(dst, payload []byte) ([]byte, error) {
	d.out.dst = dst
	err := d.w.WriteFrame(payload)
	dst, d.out.dst = d.out.dst, nil
	if err != nil {
		return dst, d.enc.fail(err)
	}
	return dst, nil
}
