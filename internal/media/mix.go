package media

import "github.com/callstream/callstream/internal/codec"

// MixULaw writes the sum of the µ-law frames a and b to dst:
// dst[i] = encode(saturate(decode(a[i]) + decode(b[i]))). It fills all of dst;
// where a or b is shorter than dst the missing samples count as silence. dst
// may alias a or b. It does not allocate.
func MixULaw(dst, a, b []byte) {
	n := min(len(dst), len(a), len(b))
	for i := range n {
		dst[i] = mixULaw(codec.ULawToPCM(a[i]), codec.ULawToPCM(b[i]))
	}
	for i := n; i < len(dst); i++ {
		var x, y int16
		if i < len(a) {
			x = codec.ULawToPCM(a[i])
		}
		if i < len(b) {
			y = codec.ULawToPCM(b[i])
		}
		dst[i] = mixULaw(x, y)
	}
}

// mixULaw encodes the saturated sum of two samples as µ-law.
func mixULaw(x, y int16) byte {
	s := min(max(int32(x)+int32(y), -32768), 32767)
	return codec.PCMToULaw(int16(s))
}
