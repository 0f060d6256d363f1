package codec

import "fmt"

// Writer is one stage of a media chain: it takes frames of type F (encoded
// payloads as []byte, PCM as []int16), does its work and hands the result
// to the next stage. A frame is valid only during the WriteFrame call that
// hands it over; a stage that keeps audio copies it. Stages are not safe for
// concurrent use: a chain belongs to one goroutine.
type Writer[F any] interface {
	// WriteFrame takes one frame.
	WriteFrame(f F) error
	// SampleRate is the sample rate of the audio the frames carry.
	SampleRate() int
	// String describes the chain from this stage on, sink last:
	// "PCMA/8000(decode) -> resample(8000->16000) -> L16/16000(encode) -> ws".
	String() string
}

// Resetter is implemented by stages that keep state across frames (codec
// and filter history). Reset forgets it, for a clear: nothing of the audio
// before reaches the audio after. The stages of this package reset the rest
// of their chain too.
type Resetter interface{ Reset() }

// Frame is one frame of a track as taps receive it: the payload and what its
// bytes are. Payload is valid only during the call that hands it over.
type Frame struct {
	Format  Format
	Payload []byte
}

// resetNext resets next if it keeps state.
func resetNext(next any) {
	if r, ok := next.(Resetter); ok {
		r.Reset()
	}
}

// NewSink returns the end of a chain: a Writer that calls write with each
// frame, reports rate and prints as name.
func NewSink[F any](name string, rate int, write func(F) error) Writer[F] {
	return &sink[F]{name: name, rate: rate, write: write}
}

// sink adapts a function to a Writer.
type sink[F any] struct {
	name  string
	rate  int
	write func(F) error
}

func (s *sink[F]) WriteFrame(f F) error { return s.write(f) }
func (s *sink[F]) SampleRate() int      { return s.rate }
func (s *sink[F]) String() string       { return s.name }

// NewDecodeWriter returns a stage that decodes payloads of from and hands
// the PCM to next, which must run at from's rate.
func NewDecodeWriter(from Format, next Writer[[]int16]) (Writer[[]byte], error) {
	dec, err := NewDecoder(from)
	if err != nil {
		return nil, err
	}
	return newDecodeStage(from, dec, next)
}

func newDecodeStage(from Format, dec Decoder, next Writer[[]int16]) (*decodeStage, error) {
	if dec.Rate() != next.SampleRate() {
		return nil, errorf(ErrRateMismatch, "codec: %v decodes at %d Hz, %v takes %d Hz", from, dec.Rate(), next, next.SampleRate())
	}
	return &decodeStage{from: from, dec: dec, next: next, pcm: make([]int16, 0, from.WithRate(dec.Rate()).FrameSamples())}, nil
}

// decodeStage decodes each payload into its own PCM buffer.
type decodeStage struct {
	from Format
	dec  Decoder         // owned
	next Writer[[]int16] // borrowed
	pcm  []int16         // reused; grows to the largest payload once
}

func (s *decodeStage) WriteFrame(p []byte) error {
	pcm, err := s.dec.Decode(s.pcm[:0], p)
	s.pcm = pcm[:0]
	if err != nil {
		return fmt.Errorf("codec: %v decode: %w", s.from, err)
	}
	if len(pcm) == 0 {
		return nil
	}
	return s.next.WriteFrame(pcm)
}

func (s *decodeStage) SampleRate() int { return s.dec.Rate() }
func (s *decodeStage) String() string  { return s.from.String() + "(decode) -> " + s.next.String() }
func (s *decodeStage) Reset()          { s.dec.Reset(); resetNext(s.next) }

// NewResampleWriter returns a stage that converts PCM at fromRate to next's
// rate.
func NewResampleWriter(fromRate int, next Writer[[]int16]) (Writer[[]int16], error) {
	rs, err := NewResampler(fromRate, next.SampleRate())
	if err != nil {
		return nil, err
	}
	return &resampleStage{rs: rs, next: next, out: make([]int16, 0, rs.OutputLen(fromRate/framesPerSecond)+1)}, nil
}

// resampleStage resamples each frame into its own buffer.
type resampleStage struct {
	rs   *Resampler      // owned
	next Writer[[]int16] // borrowed
	out  []int16         // reused; grows to the largest frame once
}

func (s *resampleStage) WriteFrame(pcm []int16) error {
	out := s.rs.Process(s.out[:0], pcm)
	s.out = out[:0]
	if len(out) == 0 {
		return nil
	}
	return s.next.WriteFrame(out)
}

func (s *resampleStage) SampleRate() int { return s.rs.From() }
func (s *resampleStage) String() string {
	return fmt.Sprintf("resample(%d->%d) -> %s", s.rs.From(), s.rs.To(), s.next)
}
func (s *resampleStage) Reset() { s.rs.Reset(); resetNext(s.next) }

// NewEncodeWriter returns a stage that encodes PCM at to's rate as to and
// hands the payloads to next, which must take to's rate.
func NewEncodeWriter(to Format, next Writer[[]byte]) (Writer[[]int16], error) {
	if next.SampleRate() != to.Rate {
		return nil, errorf(ErrRateMismatch, "codec: %v is %d Hz audio, %v takes %d Hz", to, to.Rate, next, next.SampleRate())
	}
	enc, err := NewEncoder(to)
	if err != nil {
		return nil, err
	}
	return newEncodeStage(to, enc, next), nil
}

func newEncodeStage(to Format, enc Encoder, next Writer[[]byte]) *encodeStage {
	return &encodeStage{to: to, enc: enc, next: next, buf: make([]byte, 0, to.MaxFrameBytes())}
}

// encodeStage encodes each frame into its own buffer.
type encodeStage struct {
	to   Format
	enc  Encoder        // owned
	next Writer[[]byte] // borrowed
	buf  []byte         // reused; grows to the largest payload once
}

func (s *encodeStage) WriteFrame(pcm []int16) error {
	b, err := s.enc.Encode(s.buf[:0], pcm)
	s.buf = b[:0]
	if err != nil {
		return fmt.Errorf("codec: %v encode: %w", s.to, err)
	}
	if len(b) == 0 {
		return nil
	}
	return s.next.WriteFrame(b)
}

func (s *encodeStage) SampleRate() int { return s.enc.Rate() }
func (s *encodeStage) String() string  { return s.to.String() + "(encode) -> " + s.next.String() }
func (s *encodeStage) Reset()          { s.enc.Reset(); resetNext(s.next) }
