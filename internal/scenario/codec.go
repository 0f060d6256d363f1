package scenario

import (
	"fmt"
	"strings"

	"github.com/callstream/callstream/internal/call"
	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/stream/voximplant"
)

// Canonical WebSocketAudioEncoding values, as the script names them and
// MEDIA_STARTED reports them. On the wire PCM8 is written "PCM16" with
// sampleRate 8000 (VoxEngine's PCM16_8KHZ) and PCM16 is "PCM16" at 16000.
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

// encoding describes one WebSocketAudioEncoding.
type encoding struct {
	name string       // canonical name (the script's)
	rate int          // sample rate on the wire (the clock of its timestamps)
	wire codec.Format // what the payloads are
}

// The format of each encoding on the socket.
var encodings = map[string]*encoding{
	EncULaw:  {name: EncULaw, rate: 8000, wire: codec.PCMU},
	EncALaw:  {name: EncALaw, rate: 8000, wire: codec.PCMA},
	EncPCM8:  {name: EncPCM8, rate: 8000, wire: codec.L16(8000)},
	EncPCM16: {name: EncPCM16, rate: 16000, wire: codec.L16(16000)},
	EncOpus:  {name: EncOpus, rate: 48000, wire: codec.Opus},
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

// remoteEncoding finds the encoding of a remote's start: its
// mediaFormat's encoding and sampleRate ("PCM16" at 8000 is PCM8).
func remoteEncoding(name string, rate int) (*encoding, error) {
	f, err := voximplant.ParseFormat(name, rate)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEncoding, err)
	}
	for _, e := range encodings {
		if e.wire.SameEncoding(f) && e.wire.Rate == f.Rate {
			return e, nil
		}
	}
	return nil, fmt.Errorf("%w: %v", ErrEncoding, f)
}

// wireName returns the encoding name and sample rate the start message
// of a flow in e gives.
func (e *encoding) wireName() (string, int) {
	wf, _ := voximplant.Dialect{}.Wire(e.wire)
	return wf.Encoding, wf.SampleRate
}

// check reports whether frames of from can be sent in e (Opus needs a
// build with it), so that sendMediaTo fails at once rather than sending
// nothing.
func (e *encoding) check(from codec.Format) error { return e.checkConvert(from, e.wire) }

// checkIn reports whether payloads in e can be played to a unit taking to.
func (e *encoding) checkIn(to codec.Format) error { return e.checkConvert(e.wire, to) }

func (e *encoding) checkConvert(from, to codec.Format) error {
	if _, err := codec.Convert(from, to, codec.NewSink("check", to.Rate, discard)); err != nil {
		return e.fail(err)
	}
	return nil
}

func discard([]byte) error { return nil }

// fail wraps a codec error of the encoding: OPUS errors are ErrOpus.
func (e *encoding) fail(err error) error {
	if e.name == EncOpus {
		return fmt.Errorf("%w: %w", ErrOpus, err)
	}
	return fmt.Errorf("%s: %w", e.name, err)
}

// samples8k returns how much audio a stream in e carries, in samples at
// 8 kHz, after a payload that made its bytes received so far; prev is the
// count before that payload (an Opus payload is one 20 ms packet).
func (e *encoding) samples8k(received, prev uint64) uint64 {
	switch {
	case e.wire.Name == codec.NameL16:
		return received / 2 * 8000 / uint64(e.wire.Rate)
	case e.wire.SameEncoding(codec.Opus):
		return prev + 160
	}
	return received
}

// formatted is a source that says what its frames are; a source that does
// not is µ-law at 8 kHz (players, relays of µ-law calls).
type formatted interface{ Format() codec.Format }

// sourceFormat returns the format of src's frames.
func sourceFormat(src call.Source) codec.Format {
	if f, ok := src.(formatted); ok {
		return f.Format()
	}
	return codec.PCMU
}

// adaptSource returns src reading frames of to: src itself when it already
// makes them, else a source converting each frame once.
func adaptSource(src call.Source, to codec.Format) (call.Source, error) {
	from := sourceFormat(src)
	if from.SameEncoding(to) {
		return src, nil
	}
	c := &convertSource{src: src, to: to, in: make([]byte, from.MaxFrameBytes()), silence: codec.Silence(to, nil)}
	w, err := codec.Convert(from, to, codec.NewSink("unit", to.Rate, c.appendOut))
	if err != nil {
		return nil, fmt.Errorf("audio of %v to a unit taking %v: %w", from, to, err)
	}
	c.w = w
	return c, nil
}

// convertSource converts the frames of a source to another format, one
// frame per ReadFrame; it allocates nothing once warm.
type convertSource struct {
	src call.Source
	to  codec.Format
	in  []byte // one frame of the source
	out []byte // the converted frame
	w   codec.Writer[[]byte]

	silence []byte // one frame of silence in to
}

// Format returns the format of the frames it reads.
func (c *convertSource) Format() codec.Format { return c.to }

// ReadFrame reads one frame of the source and converts it into dst.
func (c *convertSource) ReadFrame(dst []byte) bool {
	return c.src.ReadFrame(c.in) && c.convert(dst)
}

// ReadLateFrame is ReadFrame for the call's second look within a tick.
func (c *convertSource) ReadLateFrame(dst []byte) bool {
	if lr, ok := c.src.(call.LateReader); ok {
		return lr.ReadLateFrame(c.in) && c.convert(dst)
	}
	return c.ReadFrame(dst)
}

func (c *convertSource) convert(dst []byte) bool {
	c.out = c.out[:0]
	if err := c.w.WriteFrame(c.in); err != nil {
		return false
	}
	n := copy(dst, c.out)
	if n < len(dst) {
		copy(dst[n:], c.silence[min(n, len(c.silence)):]) // a short conversion is padded with silence
	}
	return true
}

func (c *convertSource) appendOut(p []byte) error {
	c.out = append(c.out, p...)
	return nil
}

// formattedSource is a source whose frames are in format (a relay of a
// call's audio is in that call's format).
type formattedSource struct {
	call.Source
	format codec.Format
}

// Format returns the format of the frames.
func (f formattedSource) Format() codec.Format { return f.format }
