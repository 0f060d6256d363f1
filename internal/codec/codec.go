package codec

import (
	"slices"
	"strings"
)

// Decoder turns the payloads of one stream into 16-bit PCM at Rate. It is
// stateful (one per stream direction) and not safe for concurrent use.
type Decoder interface {
	// Decode appends the PCM of one payload to dst. It allocates only when
	// dst lacks the capacity.
	Decode(dst []int16, payload []byte) ([]int16, error)
	// Conceal appends n samples standing in for a lost payload: silence, or
	// the codec's own loss concealment (Opus).
	Conceal(dst []int16, n int) []int16
	// Rate is the sample rate of the PCM.
	Rate() int
	// Reset forgets the stream so far, as if the Decoder were new.
	Reset()
}

// Encoder turns 16-bit PCM at Rate into the payloads of one stream. It is
// stateful (one per stream direction) and not safe for concurrent use.
type Encoder interface {
	// Encode appends the payload of one frame of PCM (20 ms at Rate) to dst.
	// Sample-by-sample codecs take any length; Opus takes 2.5 to 60 ms.
	Encode(dst []byte, pcm []int16) ([]byte, error)
	// Rate is the sample rate of the PCM.
	Rate() int
	// Reset forgets the stream so far, as if the Encoder were new.
	Reset()
}

// NewDecoder returns a decoder for frames of f.
func NewDecoder(f Format) (Decoder, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	switch {
	case f.is(NamePCMU):
		return ulawDecoder{}, nil
	case f.is(NamePCMA):
		return alawDecoder{}, nil
	case f.is(NameG722):
		return newG722Decoder(), nil
	case f.is(NameL16):
		return &l16Decoder{rate: f.Rate, bigEndian: f.BigEndian}, nil
	}
	return newOpusDecoder(f.Rate)
}

// NewEncoder returns an encoder making frames of f.
func NewEncoder(f Format) (Encoder, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	switch {
	case f.is(NamePCMU):
		return ulawEncoder{}, nil
	case f.is(NamePCMA):
		return alawEncoder{}, nil
	case f.is(NameG722):
		return newG722Encoder(), nil
	case f.is(NameL16):
		return l16Encoder{rate: f.Rate, bigEndian: f.BigEndian}, nil
	}
	return newOpusEncoder(f.Rate)
}

// Silence appends one 20 ms frame of silence in f to dst: PCMU 0xFF…,
// PCMA 0xD5…, L16 zeros, and for G722 and opus a frame their encoders make
// from silence. A Format this package does not know appends nothing.
func Silence(f Format, dst []byte) []byte {
	if f.check() != nil {
		return dst
	}
	switch {
	case f.is(NamePCMU):
		return appendRepeat(dst, ULawSilence, f.FrameSamples())
	case f.is(NamePCMA):
		return appendRepeat(dst, ALawSilence, f.FrameSamples())
	case f.is(NameG722):
		return append(dst, g722Silence[:]...)
	case f.is(NameL16):
		return appendRepeat(dst, 0, 2*f.FrameSamples())
	}
	return append(dst, opusSilence[:]...)
}

// appendRepeat appends n copies of b to dst.
func appendRepeat(dst []byte, b byte, n int) []byte {
	dst = slices.Grow(dst, n)
	for range n {
		dst = append(dst, b)
	}
	return dst
}

// is reports whether f is the codec named name (ignoring case).
func (f Format) is(name string) bool { return strings.EqualFold(f.Name, name) }

// check returns an error unless f is a format this package can encode and
// decode: a known codec at its own clock, rate and channels (any rate libopus
// runs at for opus; any positive rate equal to the clock for mono L16).
func (f Format) check() error {
	ok := false
	switch {
	case f.is(NamePCMU), f.is(NamePCMA):
		ok = f.Clock == 8000 && f.Rate == 8000 && f.channels() == 1 && !f.BigEndian
	case f.is(NameG722):
		ok = f.Clock == 8000 && f.Rate == 16000 && f.channels() == 1 && !f.BigEndian
	case f.is(NameL16):
		ok = f.Clock > 0 && f.Rate == f.Clock && f.channels() == 1
	case f.is(NameOpus):
		ok = f.Clock == 48000 && slices.Contains(opusRates[:], f.Rate) && f.channels() == 2 && !f.BigEndian
	}
	if !ok {
		return errorf(ErrUnknownFormat, "codec: no codec for %v", f)
	}
	return nil
}
