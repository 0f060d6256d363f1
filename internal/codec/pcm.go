package codec

import (
	"encoding/binary"
	"slices"
)

// PCM16LEToSamples appends the little-endian 16-bit samples in src to dst. A
// trailing odd byte is ignored.
func PCM16LEToSamples(dst []int16, src []byte) []int16 {
	count := len(src) / 2
	n := len(dst)
	dst = slices.Grow(dst, count)[:n+count]
	out := dst[n:]
	for i := range out {
		out[i] = int16(binary.LittleEndian.Uint16(src[2*i:]))
	}
	return dst
}

// SamplesToPCM16LE appends the samples src to dst as little-endian 16-bit
// values.
func SamplesToPCM16LE(dst []byte, src []int16) []byte {
	n := len(dst)
	dst = slices.Grow(dst, 2*len(src))[:n+2*len(src)]
	out := dst[n:]
	for i, s := range src {
		binary.LittleEndian.PutUint16(out[2*i:], uint16(s))
	}
	return dst
}

// PCM16BEToSamples appends the big-endian (network order) 16-bit samples in
// src to dst, as RTP's L16 carries them. A trailing odd byte is ignored.
func PCM16BEToSamples(dst []int16, src []byte) []int16 {
	count := len(src) / 2
	n := len(dst)
	dst = slices.Grow(dst, count)[:n+count]
	out := dst[n:]
	for i := range out {
		out[i] = int16(binary.BigEndian.Uint16(src[2*i:]))
	}
	return dst
}

// SamplesToPCM16BE appends the samples src to dst as big-endian (network
// order) 16-bit values, as RTP's L16 carries them.
func SamplesToPCM16BE(dst []byte, src []int16) []byte {
	n := len(dst)
	dst = slices.Grow(dst, 2*len(src))[:n+2*len(src)]
	out := dst[n:]
	for i, s := range src {
		binary.BigEndian.PutUint16(out[2*i:], uint16(s))
	}
	return dst
}

// l16Decoder reads 16-bit linear PCM in either byte order. A payload of odd
// length leaves its last byte for the next one, so a stream cut anywhere
// reads as if it were whole.
type l16Decoder struct {
	rate      int
	bigEndian bool
	carry     byte
	hasCarry  bool
}

func (d *l16Decoder) Decode(dst []int16, p []byte) ([]int16, error) {
	if d.hasCarry && len(p) > 0 {
		pair := [2]byte{d.carry, p[0]}
		dst = d.samples(dst, pair[:])
		p = p[1:]
		d.hasCarry = false
	}
	whole := len(p) &^ 1
	dst = d.samples(dst, p[:whole])
	if whole < len(p) {
		d.carry, d.hasCarry = p[whole], true
	}
	return dst, nil
}

// samples appends the samples of the even-length b in the decoder's order.
func (d *l16Decoder) samples(dst []int16, b []byte) []int16 {
	if d.bigEndian {
		return PCM16BEToSamples(dst, b)
	}
	return PCM16LEToSamples(dst, b)
}

func (d *l16Decoder) Conceal(dst []int16, n int) []int16 { return appendZeros(dst, n) }
func (d *l16Decoder) Rate() int                          { return d.rate }
func (d *l16Decoder) Reset()                             { d.hasCarry = false }

// l16Encoder writes 16-bit linear PCM in either byte order.
type l16Encoder struct {
	rate      int
	bigEndian bool
}

func (e l16Encoder) Encode(dst []byte, pcm []int16) ([]byte, error) {
	if e.bigEndian {
		return SamplesToPCM16BE(dst, pcm), nil
	}
	return SamplesToPCM16LE(dst, pcm), nil
}
func (e l16Encoder) Rate() int { return e.rate }
func (e l16Encoder) Reset()    {}
