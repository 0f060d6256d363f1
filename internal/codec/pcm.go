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
