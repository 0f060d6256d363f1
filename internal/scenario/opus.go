//go:build opus

package scenario

import (
	"fmt"

	"github.com/hraban/opus"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/stream"
)

// OpusSupported reports whether this build encodes and decodes OPUS.
const OpusSupported = true

// opusEncoder encodes each 20 ms frame as one Opus packet. The codec runs
// at 8 kHz; the wire clock is Opus's 48 kHz.
type opusEncoder struct {
	enc *opus.Encoder
	pcm [media.FrameSamples]int16
	pkt [1275]byte
}

func newOpusEncoder() (stream.FrameEncoder, error) {
	enc, err := opus.NewEncoder(8000, 1, opus.AppVoIP)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOpus, err)
	}
	return &opusEncoder{enc: enc}, nil
}

func (e *opusEncoder) Encode(dst, ulaw []byte) []byte {
	n := min(len(ulaw), len(e.pcm))
	for i := range n {
		e.pcm[i] = codec.ULawToPCM(ulaw[i])
	}
	size, err := e.enc.Encode(e.pcm[:], e.pkt[:])
	if err != nil {
		return dst
	}
	return append(dst, e.pkt[:size]...)
}

func (e *opusEncoder) SamplesPerFrame() int { return 960 }

// opusDecoder decodes one Opus packet per media payload at 8 kHz.
type opusDecoder struct {
	dec *opus.Decoder
	pcm [960]int16 // 120 ms at 8 kHz, the longest Opus packet
}

func newOpusDecoder() (decoder, error) {
	dec, err := opus.NewDecoder(8000, 1)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrOpus, err)
	}
	return &opusDecoder{dec: dec}, nil
}

func (d *opusDecoder) decode(dst, p []byte) ([]byte, error) {
	n, err := d.dec.Decode(p, d.pcm[:])
	if err != nil {
		return dst, fmt.Errorf("%w: %w", ErrOpus, err)
	}
	return codec.EncodeULaw(dst, d.pcm[:n]), nil
}
