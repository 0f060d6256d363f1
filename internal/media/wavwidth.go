package media

import (
	"encoding/binary"
	"math"
)

// sampleLayout is how a WAV file stores one sample of one channel: width
// bytes of G.711, of signed linear PCM (unsigned at 8 bits), or of IEEE
// float.
type sampleLayout struct {
	width     int
	float     bool
	unsigned8 bool // 8-bit linear PCM, offset by 128
}

// native reports whether samples are stored as the Audio holds them:
// G.711 bytes or 16-bit PCM.
func (l sampleLayout) native() bool {
	return !l.float && !l.unsigned8 && (l.width == 1 || l.width == 2)
}

// toPCM16 returns data as the Audio holds it: the same slice for native
// layouts; 16-bit little-endian PCM converted in place from wider
// samples, or in a new slice from 8-bit PCM. Linear samples keep their top 16 bits;
// float samples are scaled by 32767, rounded and clipped to full scale.
func (l sampleLayout) toPCM16(data []byte) []byte {
	if l.native() {
		return data
	}
	n := len(data) / l.width
	if l.unsigned8 {
		out := make([]byte, 2*n)
		for i, b := range data[:n] {
			binary.LittleEndian.PutUint16(out[2*i:], uint16((int16(b)-128)<<8))
		}
		return out
	}
	// Wider samples shrink: writing sample i at 2i never overtakes reading
	// it at width*i.
	for i := range n {
		s := data[i*l.width : (i+1)*l.width]
		var v int16
		switch {
		case l.float && l.width == 4:
			v = floatTo16(float64(math.Float32frombits(binary.LittleEndian.Uint32(s))))
		case l.float:
			v = floatTo16(math.Float64frombits(binary.LittleEndian.Uint64(s)))
		default:
			v = int16(binary.LittleEndian.Uint16(s[l.width-2:])) // the top two bytes
		}
		binary.LittleEndian.PutUint16(data[2*i:], uint16(v))
	}
	return data[:2*n]
}

// floatTo16 scales a float sample in [-1, 1] to 16 bits, clipping beyond.
func floatTo16(f float64) int16 {
	if math.IsNaN(f) {
		return 0
	}
	return int16(max(math.MinInt16, min(math.MaxInt16, math.Round(f*math.MaxInt16))))
}
