package codec

import "slices"

// G.722 at 64 kbit/s (ITU-T G.722): 16 kHz audio split by a quadrature
// mirror filter into two 8 kHz sub-bands, the lower coded with 6-bit ADPCM
// and the higher with 2-bit ADPCM; each byte carries one sample of each band
// (the higher band's code in the top two bits), so one byte stands for two
// samples of audio. This is a pure Go implementation of the Recommendation's
// fixed-point algorithm, bit-exact with other conforming ones.

// qmfEven holds the even-indexed coefficients h0, h2, …, h22 of the 24-tap
// QMF. The filter is symmetric, so the odd-indexed ones h1, h3, …, h23 are
// the same numbers in reverse order (qmfOdd).
var qmfEven = [12]int32{3, -11, 12, 32, -210, 951, 3876, -805, 362, -156, 53, -11}

// qmfOdd holds h1, h3, …, h23.
var qmfOdd = reversed(qmfEven)

// reversed returns c in reverse order.
func reversed(c [12]int32) [12]int32 {
	slices.Reverse(c[:])
	return c
}

// g722Encoder encodes 16 kHz PCM as G.722 at 64 kbit/s. A call with an odd
// number of samples keeps the last one for the next call.
type g722Encoder struct {
	low, high g722Band
	x         [24]int32 // input history for the analysis QMF, newest last
	carry     int16
	hasCarry  bool
}

func newG722Encoder() *g722Encoder {
	e := &g722Encoder{}
	e.Reset()
	return e
}

// Reset returns the encoder to the Recommendation's reset state.
func (e *g722Encoder) Reset() {
	*e = g722Encoder{}
	e.low.reset(lowDetReset)
	e.high.reset(highDetReset)
}

// Rate returns 16000.
func (e *g722Encoder) Rate() int { return 16000 }

// Encode appends one byte per two samples of pcm to dst.
func (e *g722Encoder) Encode(dst []byte, pcm []int16) ([]byte, error) {
	dst = slices.Grow(dst, (len(pcm)+1)/2)
	if e.hasCarry && len(pcm) > 0 {
		dst = append(dst, e.encodePair(e.carry, pcm[0]))
		pcm = pcm[1:]
		e.hasCarry = false
	}
	for len(pcm) >= 2 {
		dst = append(dst, e.encodePair(pcm[0], pcm[1]))
		pcm = pcm[2:]
	}
	if len(pcm) == 1 {
		e.carry, e.hasCarry = pcm[0], true
	}
	return dst, nil
}

// encodePair splits two input samples (older first) into one sample of each
// band with the analysis QMF and codes them as one byte.
func (e *g722Encoder) encodePair(s0, s1 int16) byte {
	copy(e.x[:22], e.x[2:])
	e.x[22], e.x[23] = int32(s0), int32(s1)
	// a: even taps on the newest sample and every second one before it;
	// b: odd taps on the others.
	var a, b int32
	for i := range 12 {
		a += qmfEven[i] * e.x[23-2*i]
		b += qmfOdd[i] * e.x[22-2*i]
	}
	low := e.low.encodeLow((a + b) >> 14)
	high := e.high.encodeHigh((a - b) >> 14)
	return byte(high<<6 | low)
}

// g722Decoder decodes G.722 at 64 kbit/s to 16 kHz PCM.
type g722Decoder struct {
	low, high g722Band
	diff, sum [12]int32 // synthesis QMF history of low−high and low+high, newest last
}

func newG722Decoder() *g722Decoder {
	d := &g722Decoder{}
	d.Reset()
	return d
}

// Reset returns the decoder to the Recommendation's reset state.
func (d *g722Decoder) Reset() {
	*d = g722Decoder{}
	d.low.reset(lowDetReset)
	d.high.reset(highDetReset)
}

// Rate returns 16000.
func (d *g722Decoder) Rate() int { return 16000 }

// Decode appends two samples per byte of payload to dst. Every byte is a
// valid code, so it never fails.
func (d *g722Decoder) Decode(dst []int16, payload []byte) ([]int16, error) {
	n := len(dst)
	dst = slices.Grow(dst, 2*len(payload))[:n+2*len(payload)]
	out := dst[n:]
	for i, c := range payload {
		out[2*i], out[2*i+1] = d.decodeByte(c)
	}
	return dst, nil
}

// decodeByte decodes one byte into two output samples (older first),
// saturated to 16 bits.
func (d *g722Decoder) decodeByte(c byte) (int16, int16) {
	y0, y1 := d.decodeWide(c)
	return int16(sat16(y0)), int16(sat16(y1))
}

// decodeWide decodes one byte into the two output samples as the synthesis
// QMF makes them, before saturation: overloaded input (a full-scale square,
// random bytes) can take them past 16 bits.
func (d *g722Decoder) decodeWide(c byte) (int32, int32) {
	rl := d.low.decodeLow(int32(c & 0x3F))
	rh := d.high.decodeHigh(int32(c >> 6))
	copy(d.diff[:11], d.diff[1:])
	copy(d.sum[:11], d.sum[1:])
	d.diff[11], d.sum[11] = rl-rh, rl+rh
	// The sample aligned with the sub-band sample takes the even taps over
	// low−high; the one after it the odd taps over low+high.
	var y0, y1 int32
	for i := range 12 {
		y0 += qmfEven[i] * d.diff[11-i]
		y1 += qmfOdd[i] * d.sum[11-i]
	}
	return y0 >> 11, y1 >> 11
}

// Conceal appends n samples of silence.
func (d *g722Decoder) Conceal(dst []int16, n int) []int16 { return appendZeros(dst, n) }

// g722Silence is the frame the encoder makes from silence once it has
// settled: what Silence appends for G722.
var g722Silence = makeG722Silence()

// makeG722Silence encodes 200 ms of silence and keeps the last frame.
func makeG722Silence() [160]byte {
	var frame [160]byte
	var zeros [320]int16
	e := newG722Encoder()
	for range 10 {
		_, _ = e.Encode(frame[:0], zeros[:])
	}
	return frame
}
