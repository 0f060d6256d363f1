package codec

import (
	"math/bits"
	"slices"
)

// G.711 silence bytes: the codes that decode to (nearly) zero.
const (
	// ULawSilence is the µ-law code for 0.
	ULawSilence byte = 0xFF
	// ALawSilence is the A-law code for +8 (A-law has no zero level).
	ALawSilence byte = 0xD5
)

// Scaling convention. G.711 µ-law works on 14-bit and A-law on 13-bit linear
// samples. Like sox, this package scales them to 16 bits by shifting left
// (µ-law 0x80 decodes to 32124, A-law 0xAA to 32256) and, when encoding,
// rounds a 16-bit sample to the nearest 14-bit (µ-law) or 13-bit (A-law)
// value, halves rounding up. The one sample that rounds past the top of the
// range (+8192 or +4096) encodes like the largest in-range value.

// ulawBias is the bias G.711 adds to the 14-bit µ-law magnitude so that
// every segment boundary falls on a power of two.
const ulawBias = 33

// Lookup tables, filled once at package initialisation and only read after.
var (
	ulawDecode = makeULawDecodeTable()
	alawDecode = makeALawDecodeTable()
	ulawEncode = makeULawEncodeTable() // indexed by rounded 14-bit sample + 8192
	alawEncode = makeALawEncodeTable() // indexed by rounded 13-bit sample + 4096
	alawToULaw = makeTranscodeTable(&alawDecode, PCMToULaw)
	ulawToALaw = makeTranscodeTable(&ulawDecode, PCMToALaw)
)

// ULawToPCM decodes one µ-law byte to a 16-bit linear sample.
func ULawToPCM(b byte) int16 { return ulawDecode[b] }

// ALawToPCM decodes one A-law byte to a 16-bit linear sample.
func ALawToPCM(b byte) int16 { return alawDecode[b] }

// PCMToULaw encodes one 16-bit linear sample as µ-law.
func PCMToULaw(s int16) byte { return ulawEncode[(int32(s)+2)>>2+8192] }

// PCMToALaw encodes one 16-bit linear sample as A-law.
func PCMToALaw(s int16) byte { return alawEncode[(int32(s)+4)>>3+4096] }

// ALawToULaw converts an A-law byte to the µ-law byte for the same level. The
// result is the µ-law encoding of the A-law byte's decoded value.
func ALawToULaw(b byte) byte { return alawToULaw[b] }

// ULawToALaw converts a µ-law byte to the A-law byte for the same level. The
// result is the A-law encoding of the µ-law byte's decoded value.
func ULawToALaw(b byte) byte { return ulawToALaw[b] }

// DecodeULaw appends the decoded samples of the µ-law bytes src to dst.
func DecodeULaw(dst []int16, src []byte) []int16 {
	n := len(dst)
	dst = slices.Grow(dst, len(src))[:n+len(src)]
	out := dst[n:]
	for i, b := range src {
		out[i] = ulawDecode[b]
	}
	return dst
}

// DecodeALaw appends the decoded samples of the A-law bytes src to dst.
func DecodeALaw(dst []int16, src []byte) []int16 {
	n := len(dst)
	dst = slices.Grow(dst, len(src))[:n+len(src)]
	out := dst[n:]
	for i, b := range src {
		out[i] = alawDecode[b]
	}
	return dst
}

// EncodeULaw appends the µ-law encoding of the samples src to dst.
func EncodeULaw(dst []byte, src []int16) []byte {
	n := len(dst)
	dst = slices.Grow(dst, len(src))[:n+len(src)]
	out := dst[n:]
	for i, s := range src {
		out[i] = ulawEncode[(int32(s)+2)>>2+8192]
	}
	return dst
}

// EncodeALaw appends the A-law encoding of the samples src to dst.
func EncodeALaw(dst []byte, src []int16) []byte {
	n := len(dst)
	dst = slices.Grow(dst, len(src))[:n+len(src)]
	out := dst[n:]
	for i, s := range src {
		out[i] = alawEncode[(int32(s)+4)>>3+4096]
	}
	return dst
}

// TranscodeALawToULaw converts the A-law bytes src to µ-law in dst, which
// must be at least len(src) long (it panics otherwise). dst and src may be the
// same slice.
func TranscodeALawToULaw(dst, src []byte) {
	dst = dst[:len(src)]
	for i, b := range src {
		dst[i] = alawToULaw[b]
	}
}

// TranscodeULawToALaw converts the µ-law bytes src to A-law in dst, which
// must be at least len(src) long (it panics otherwise). dst and src may be the
// same slice.
func TranscodeULawToALaw(dst, src []byte) {
	dst = dst[:len(src)]
	for i, b := range src {
		dst[i] = ulawToALaw[b]
	}
}

// makeULawDecodeTable builds the µ-law decoding table. A µ-law byte is the
// complement of sign (bit 7), segment (bits 4-6) and step (bits 0-3); the
// 14-bit magnitude is ((2*step + 33) << segment) - 33.
func makeULawDecodeTable() (t [256]int16) {
	for i := range t {
		c := ^byte(i)
		seg := (c >> 4) & 7
		step := int32(c & 0x0F)
		mag := (2*step+ulawBias)<<seg - ulawBias
		if c&0x80 != 0 {
			mag = -mag
		}
		t[i] = int16(mag << 2)
	}
	return t
}

// makeALawDecodeTable builds the A-law decoding table. An A-law byte with its
// even bits inverted (xor 0x55) holds sign (bit 7 set for positive), segment
// and step; the 13-bit magnitude is 2*step+1 in segment 0 and
// (2*step + 33) << (segment-1) above it.
func makeALawDecodeTable() (t [256]int16) {
	for i := range t {
		c := byte(i) ^ 0x55
		seg := (c >> 4) & 7
		step := int32(c & 0x0F)
		mag := 2*step + 1
		if seg > 0 {
			mag = (2*step + 33) << (seg - 1)
		}
		if c&0x80 == 0 {
			mag = -mag
		}
		t[i] = int16(mag << 3)
	}
	return t
}

// makeULawEncodeTable builds the µ-law encoder for rounded 14-bit samples
// -8192..+8192 (index = sample + 8192).
func makeULawEncodeTable() (t [16385]byte) {
	for i := range t {
		x := int32(i) - 8192
		var sign byte
		if x < 0 {
			sign, x = 0x80, -x
		}
		var code byte
		if b := x + ulawBias; b > 0x1FFF {
			code = 0x7F // beyond the last segment: clip to full scale
		} else {
			seg := bits.Len32(uint32(b)) - 6 // b >= 33 has at least 6 bits
			code = byte(seg<<4) | byte(b>>(seg+1))&0x0F
		}
		t[i] = ^(sign | code)
	}
	return t
}

// makeALawEncodeTable builds the A-law encoder for rounded 13-bit samples
// -4096..+4096 (index = sample + 4096). Negative samples use the one's
// complement magnitude (-1 maps to the smallest negative level).
func makeALawEncodeTable() (t [8193]byte) {
	for i := range t {
		x := int32(i) - 4096
		sign := byte(0x80)
		if x < 0 {
			sign, x = 0, -x-1
		}
		x = min(x, 0x0FFF)
		var code byte
		if x < 32 {
			code = byte(x>>1) & 0x0F
		} else {
			seg := bits.Len32(uint32(x)) - 5 // 32 <= x < 4096: segments 1..7
			code = byte(seg<<4) | byte(x>>seg)&0x0F
		}
		t[i] = (sign | code) ^ 0x55
	}
	return t
}

// makeTranscodeTable builds a direct code-to-code table by encoding each
// decoded level of the source law with enc.
func makeTranscodeTable(decode *[256]int16, enc func(int16) byte) (t [256]byte) {
	for i, s := range decode {
		t[i] = enc(s)
	}
	return t
}

// ulawDecoder decodes PCMU payloads. G.711 keeps no state.
type ulawDecoder struct{}

func (ulawDecoder) Decode(dst []int16, p []byte) ([]int16, error) { return DecodeULaw(dst, p), nil }
func (ulawDecoder) Conceal(dst []int16, n int) []int16            { return appendZeros(dst, n) }
func (ulawDecoder) Rate() int                                     { return 8000 }
func (ulawDecoder) Reset()                                        {}

// alawDecoder decodes PCMA payloads. G.711 keeps no state.
type alawDecoder struct{}

func (alawDecoder) Decode(dst []int16, p []byte) ([]int16, error) { return DecodeALaw(dst, p), nil }
func (alawDecoder) Conceal(dst []int16, n int) []int16            { return appendZeros(dst, n) }
func (alawDecoder) Rate() int                                     { return 8000 }
func (alawDecoder) Reset()                                        {}

// ulawEncoder encodes PCM as PCMU.
type ulawEncoder struct{}

func (ulawEncoder) Encode(dst []byte, pcm []int16) ([]byte, error) { return EncodeULaw(dst, pcm), nil }
func (ulawEncoder) Rate() int                                      { return 8000 }
func (ulawEncoder) Reset()                                         {}

// alawEncoder encodes PCM as PCMA.
type alawEncoder struct{}

func (alawEncoder) Encode(dst []byte, pcm []int16) ([]byte, error) { return EncodeALaw(dst, pcm), nil }
func (alawEncoder) Rate() int                                      { return 8000 }
func (alawEncoder) Reset()                                         {}

// appendZeros appends n zero samples to dst.
func appendZeros(dst []int16, n int) []int16 {
	k := len(dst)
	dst = slices.Grow(dst, n)[:k+n]
	clear(dst[k:])
	return dst
}
