package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/pion/opus"
)

// ErrMalformedOpus reports an Ogg/Opus stream the decoder cannot decode.
var ErrMalformedOpus = errors.New("opus: malformed audio")

// opusRate is the rate Opus audio is decoded at: the codec's own.
const opusRate = 48000

// opusMaxPacketSamples is the longest audio one Opus packet carries
// (120 ms) at opusRate.
const opusMaxPacketSamples = opusRate * 120 / 1000

// decodeOgg decodes the first logical stream of an Ogg file. Opus is
// decoded (pure Go) to 16-bit mono PCM at 48 kHz, with the encoder's
// pre-skip removed and the end trimmed to the last granule position.
// Vorbis, FLAC and Speex in Ogg are refused with an error naming the
// codec.
func decodeOgg(r io.Reader, maxDuration time.Duration) (*Audio, error) {
	o := newOggReader(r)
	head, err := o.nextPacket()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errorf(ErrMalformedOgg, "ogg: no packets")
		}
		return nil, err
	}
	switch {
	case bytes.HasPrefix(head, []byte("OpusHead")):
		return decodeOpusStream(o, head, maxDuration)
	case bytes.HasPrefix(head, []byte("\x01vorbis")):
		return nil, errorf(ErrUnsupportedFormat, "ogg: Vorbis audio is not supported; use WAV, MP3 or Ogg/Opus")
	case bytes.HasPrefix(head, []byte("\x7fFLAC")):
		return nil, errorf(ErrUnsupportedFormat, "ogg: FLAC audio is not supported; use WAV, MP3 or Ogg/Opus")
	case bytes.HasPrefix(head, []byte("Speex   ")):
		return nil, errorf(ErrUnsupportedFormat, "ogg: Speex audio is not supported; use WAV, MP3 or Ogg/Opus")
	}
	return nil, errorf(ErrUnsupportedFormat, "ogg: a stream of an unknown codec; use WAV, MP3 or Ogg/Opus")
}

// decodeOpusStream decodes the packets after an OpusHead (RFC 7845).
func decodeOpusStream(o *oggReader, head []byte, maxDuration time.Duration) (*Audio, error) {
	if len(head) < 19 {
		return nil, errorf(ErrMalformedOpus, "opus: an OpusHead of %d bytes, want at least 19", len(head))
	}
	if v := head[8]; v>>4 != 0 {
		return nil, errorf(ErrUnsupportedFormat, "opus: OpusHead version %d", v)
	}
	channels := int(head[9])
	preSkip := int(binary.LittleEndian.Uint16(head[10:12]))
	if family := head[18]; family != 0 && family != 1 || channels < 1 || channels > 2 {
		return nil, errorf(ErrUnsupportedFormat, "opus: %d channels (mapping family %d); mono or stereo is supported", channels, head[18])
	}
	// OpusTags, possibly long (cover art): skipped whatever its size.
	if _, err := o.nextPacket(); err != nil && !errors.Is(err, errPacketTooLong) {
		if errors.Is(err, io.EOF) {
			return nil, errorf(ErrMalformedOpus, "opus: no audio packets")
		}
		return nil, err
	}
	dec, err := opus.NewDecoderWithOutput(opusRate, 1)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedOpus, err)
	}
	limit := min(int64(MaxDecodedBytes), 2*int64(opusRate)*int64(maxDuration/time.Millisecond)/1000)
	pcm := make([]int16, opusMaxPacketSamples)
	var out []byte
	skip := preSkip
	for n := 0; ; n++ {
		pkt, err := o.nextPacket()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(pkt) == 0 {
			continue
		}
		k, err := decodeOpusPacket(&dec, pkt, pcm)
		if err != nil {
			return nil, errorf(ErrMalformedOpus, "opus: packet %d: %v", n, err)
		}
		s := pcm[:k]
		d := min(skip, len(s))
		s, skip = s[d:], skip-d
		for _, v := range s {
			out = binary.LittleEndian.AppendUint16(out, uint16(v))
		}
		if int64(len(out)) > limit {
			return nil, fmt.Errorf("opus: more than %s of audio (or %d bytes decoded): %w", maxDuration, MaxDecodedBytes, ErrTooLong)
		}
	}
	// The last granule position counts the samples to play, pre-skip
	// included: what the last packet decodes beyond it is padding.
	if o.granule >= int64(preSkip) {
		if end := 2 * (o.granule - int64(preSkip)); end < int64(len(out)) {
			out = out[:end]
		}
	}
	if len(out) == 0 {
		return nil, errorf(ErrMalformedOpus, "opus: no audio")
	}
	return &Audio{Encoding: EncodingPCM16, SampleRate: opusRate, Channels: 1, Data: out}, nil
}

// decodeOpusPacket decodes one packet; a panic of the decoder on damaged
// input is an error of this file, never the end of the process.
func decodeOpusPacket(dec *opus.Decoder, pkt []byte, pcm []int16) (n int, err error) {
	defer func() {
		if r := recover(); r != nil {
			n, err = 0, fmt.Errorf("decoder failed: %v", r)
		}
	}()
	return dec.DecodeToInt16(pkt, pcm)
}
