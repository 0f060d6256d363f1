package scenario

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/media"
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

// decoder turns one media payload of a remote's stream into 8 kHz µ-law,
// appended to dst. A decoder keeps state between payloads (a split sample,
// filter history) and is used by one goroutine at a time.
type decoder interface {
	decode(dst, payload []byte) ([]byte, error)
}

// encoding describes one WebSocketAudioEncoding.
type encoding struct {
	name       string // canonical name on the wire
	rate       int    // sample rate on the wire
	newEncoder func() (stream.FrameEncoder, error)
	newDecoder func() (decoder, error)
}

var encodings = map[string]*encoding{
	EncULaw:  {name: EncULaw, rate: 8000, newEncoder: func() (stream.FrameEncoder, error) { return ulawEncoder{}, nil }, newDecoder: func() (decoder, error) { return ulawDecoder{}, nil }},
	EncALaw:  {name: EncALaw, rate: 8000, newEncoder: func() (stream.FrameEncoder, error) { return alawEncoder{}, nil }, newDecoder: func() (decoder, error) { return alawDecoder{}, nil }},
	EncPCM8:  {name: EncPCM8, rate: 8000, newEncoder: func() (stream.FrameEncoder, error) { return pcm8Encoder{}, nil }, newDecoder: func() (decoder, error) { return &pcm8Decoder{}, nil }},
	EncPCM16: {name: EncPCM16, rate: 16000, newEncoder: newPCM16Encoder, newDecoder: newPCM16Decoder},
	EncOpus:  {name: EncOpus, rate: 48000, newEncoder: newOpusEncoder, newDecoder: newOpusDecoder},
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

// ulawEncoder sends µ-law as is.
type ulawEncoder struct{}

func (ulawEncoder) Encode(dst, ulaw []byte) []byte { return append(dst, ulaw...) }
func (ulawEncoder) SamplesPerFrame() int           { return media.FrameSamples }

// alawEncoder transcodes µ-law to A-law.
type alawEncoder struct{}

func (alawEncoder) Encode(dst, ulaw []byte) []byte {
	for _, b := range ulaw {
		dst = append(dst, codec.ULawToALaw(b))
	}
	return dst
}
func (alawEncoder) SamplesPerFrame() int { return media.FrameSamples }

// pcm8Encoder sends 16-bit little-endian samples at 8 kHz.
type pcm8Encoder struct{}

func (pcm8Encoder) Encode(dst, ulaw []byte) []byte {
	for _, b := range ulaw {
		dst = binary.LittleEndian.AppendUint16(dst, uint16(codec.ULawToPCM(b)))
	}
	return dst
}
func (pcm8Encoder) SamplesPerFrame() int { return media.FrameSamples }

// pcm16Encoder sends 16-bit little-endian samples at 16 kHz, upsampled with
// the media package's polyphase low-pass filter. It keeps the filter state
// of one flow.
type pcm16Encoder struct {
	rs  *codec.Resampler
	in  [media.FrameSamples]int16
	out []int16
}

func newPCM16Encoder() (stream.FrameEncoder, error) {
	rs, err := codec.NewResampler(8000, 16000)
	if err != nil {
		return nil, fmt.Errorf("pcm16 encoder: %w", err)
	}
	return &pcm16Encoder{rs: rs, out: make([]int16, 0, 2*media.FrameSamples)}, nil
}

func (e *pcm16Encoder) Encode(dst, ulaw []byte) []byte {
	n := min(len(ulaw), len(e.in))
	for i := range n {
		e.in[i] = codec.ULawToPCM(ulaw[i])
	}
	e.out = e.rs.Process(e.out[:0], e.in[:n])
	return codec.SamplesToPCM16LE(dst, e.out)
}

func (e *pcm16Encoder) SamplesPerFrame() int { return 2 * media.FrameSamples }

// ulawDecoder takes µ-law as is.
type ulawDecoder struct{}

func (ulawDecoder) decode(dst, p []byte) ([]byte, error) { return append(dst, p...), nil }

// alawDecoder transcodes A-law to µ-law.
type alawDecoder struct{}

func (alawDecoder) decode(dst, p []byte) ([]byte, error) {
	for _, b := range p {
		dst = append(dst, codec.ALawToULaw(b))
	}
	return dst, nil
}

// pcm8Decoder reads 16-bit little-endian samples at 8 kHz. A payload of odd
// length leaves its last byte for the next one.
type pcm8Decoder struct {
	carry    byte
	hasCarry bool
}

func (d *pcm8Decoder) decode(dst, p []byte) ([]byte, error) {
	if d.hasCarry && len(p) > 0 {
		dst = append(dst, codec.PCMToULaw(int16(uint16(d.carry)|uint16(p[0])<<8)))
		p = p[1:]
		d.hasCarry = false
	}
	for len(p) >= 2 {
		dst = append(dst, codec.PCMToULaw(int16(binary.LittleEndian.Uint16(p))))
		p = p[2:]
	}
	if len(p) == 1 {
		d.carry, d.hasCarry = p[0], true
	}
	return dst, nil
}

// pcm16Decoder reads 16-bit little-endian samples at 16 kHz and downsamples
// them to 8 kHz with the media package's low-pass filter.
type pcm16Decoder struct {
	rs       *codec.Resampler
	carry    byte
	hasCarry bool
	in, out  []int16
}

func newPCM16Decoder() (decoder, error) {
	rs, err := codec.NewResampler(16000, 8000)
	if err != nil {
		return nil, fmt.Errorf("pcm16 decoder: %w", err)
	}
	return &pcm16Decoder{rs: rs}, nil
}

func (d *pcm16Decoder) decode(dst, p []byte) ([]byte, error) {
	d.in = d.in[:0]
	if d.hasCarry && len(p) > 0 {
		d.in = append(d.in, int16(uint16(d.carry)|uint16(p[0])<<8))
		p = p[1:]
		d.hasCarry = false
	}
	whole := len(p) &^ 1
	d.in = codec.PCM16LEToSamples(d.in, p[:whole])
	if whole < len(p) {
		d.carry, d.hasCarry = p[whole], true
	}
	d.out = d.rs.Process(d.out[:0], d.in)
	return codec.EncodeULaw(dst, d.out), nil
}
