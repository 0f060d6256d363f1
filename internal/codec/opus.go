//go:build opus

package codec

import (
	"fmt"

	"github.com/hraban/opus"
)

// OpusAvailable reports whether this build encodes and decodes Opus (a
// build with the opus tag, libopus through cgo).
const OpusAvailable = true

// maxOpusMillis is the longest audio one Opus packet carries, in ms: a
// decoder at rate r needs room for 120·r/1000 samples.
const maxOpusMillis = 120

// opusDecoder decodes Opus packets (libopus through cgo) to mono PCM at its
// rate, and conceals a lost packet with libopus's own loss concealment.
type opusDecoder struct {
	dec  *opus.Decoder
	rate int
	pcm  []int16 // room for the longest packet
}

func newOpusDecoder(rate int) (Decoder, error) {
	dec, err := opus.NewDecoder(rate, 1)
	if err != nil {
		return nil, fmt.Errorf("codec: opus decoder at %d Hz: %w", rate, err)
	}
	return &opusDecoder{dec: dec, rate: rate, pcm: make([]int16, maxOpusMillis*rate/1000)}, nil
}

func (d *opusDecoder) Decode(dst []int16, payload []byte) ([]int16, error) {
	if len(payload) == 0 {
		return dst, errorf(ErrBadPayload, "codec: empty opus packet")
	}
	n, err := d.dec.Decode(payload, d.pcm)
	if err != nil {
		return dst, fmt.Errorf("%w: opus packet of %d bytes: %w", ErrBadPayload, len(payload), err)
	}
	return append(dst, d.pcm[:n]...), nil
}

// Conceal appends n samples of libopus's loss concealment; n beyond the
// longest packet, or not a whole number of 2.5 ms, is padded with silence.
func (d *opusDecoder) Conceal(dst []int16, n int) []int16 {
	step := d.rate / 400 // 2.5 ms
	k := min(n, len(d.pcm)) / step * step
	if k > 0 && d.dec.DecodePLC(d.pcm[:k:k]) == nil {
		dst = append(dst, d.pcm[:k]...)
	} else {
		k = 0
	}
	return appendZeros(dst, n-k)
}

func (d *opusDecoder) Rate() int { return d.rate }

// Reset starts a new decoder; libopus's reset is not reachable from Go, and
// a clear is rare.
func (d *opusDecoder) Reset() {
	if dec, err := opus.NewDecoder(d.rate, 1); err == nil {
		d.dec = dec
	}
}

// opusEncoder encodes mono PCM at its rate as one Opus packet per call
// (VoIP application, 32 kbit/s).
// opusBitrate is the bit rate of the gateway's Opus: 32 kbit/s, where
// wideband speech is transparent (RFC 7587 §3.1.1 gives 28–40 kbit/s for
// fullband speech); libopus's own default for a mono 48 kHz VoIP encoder
// is lower and blurs the upper band.
const opusBitrate = 32000

type opusEncoder struct {
	enc  *opus.Encoder
	rate int
	pkt  [maxOpusFrame]byte
}

func newOpusEncoder(rate int) (Encoder, error) {
	enc, err := opus.NewEncoder(rate, 1, opus.AppVoIP)
	if err != nil {
		return nil, fmt.Errorf("codec: opus encoder at %d Hz: %w", rate, err)
	}
	if err := enc.SetBitrate(opusBitrate); err != nil {
		return nil, fmt.Errorf("codec: opus encoder bit rate: %w", err)
	}
	return &opusEncoder{enc: enc, rate: rate}, nil
}

// Encode appends one Opus packet holding pcm, which must be 2.5, 5, 10, 20,
// 40 or 60 ms at the encoder's rate.
func (e *opusEncoder) Encode(dst []byte, pcm []int16) ([]byte, error) {
	if !opusFrameSize(len(pcm), e.rate) {
		return dst, errorf(ErrFrameSize, "codec: opus cannot encode %d samples at %d Hz", len(pcm), e.rate)
	}
	n, err := e.enc.Encode(pcm, e.pkt[:])
	if err != nil {
		return dst, fmt.Errorf("codec: opus encode: %w", err)
	}
	return append(dst, e.pkt[:n]...), nil
}

// opusFrameSize reports whether n samples at rate are 2.5, 5, 10, 20, 40 or
// 60 ms, the durations an Opus frame can have.
func opusFrameSize(n, rate int) bool {
	if n*400%rate != 0 {
		return false
	}
	switch n * 400 / rate { // in units of 2.5 ms
	case 1, 2, 4, 8, 16, 24:
		return true
	}
	return false
}

func (e *opusEncoder) Rate() int { return e.rate }

// Reset returns the encoder to its initial state.
func (e *opusEncoder) Reset() { _ = e.enc.Reset() }
