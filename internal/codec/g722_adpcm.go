package codec

// The sub-band ADPCM of ITU-T G.722 (09/2012), 64 kbit/s mode: a 6-bit
// quantizer in the lower band and a 2-bit one in the higher band, each with
// its own scale-factor adaptation and the block 4 predictor (two poles, six
// zeros). The arithmetic follows the Recommendation's fixed-point
// description block by block, so that encoder and decoder stay in step with
// every other conforming implementation. Names in comments are the
// Recommendation's block and signal names.

// Lower sub-band quantizer (QUANTL): decision levels, scaled by DETL >> 12,
// and the 6-bit codes of each interval for a positive and a negative
// difference.
var (
	lowDecision = [31]int32{
		0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650, 714,
		786, 858, 940, 1023, 1121, 1219, 1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919, 0,
	}
	lowCodePositive = [31]int32{
		0, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47,
		46, 45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32,
	}
	lowCodeNegative = [31]int32{
		0, 63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19,
		18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4,
	}
)

// lowLevel6 is the 6-bit inverse quantizer of the lower band (INVQBL at
// 64 kbit/s), indexed by the 6-bit code; codes 0 to 3 are never sent.
var lowLevel6 = [64]int32{
	-136, -136, -136, -136, -24808, -21904, -19008, -16704,
	-14984, -13512, -12280, -11192, -10232, -9360, -8576, -7856,
	-7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576,
	-3168, -2776, -2400, -2032, -1688, -1360, -1040, -728,
	24808, 21904, 19008, 16704, 14984, 13512, 12280, 11192,
	10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456,
	4944, 4464, 4008, 3576, 3168, 2776, 2400, 2032,
	1688, 1360, 1040, 728, 432, 136, -432, -136,
}

// lowLevel4 is the 4-bit inverse quantizer that feeds the lower band's
// predictor (INVQAL), indexed by the 6-bit code's top four bits.
var lowLevel4 = [16]int32{
	0, -20456, -12896, -8968, -6288, -4240, -2584, -1200,
	20456, 12896, 8968, 6288, 4240, 2584, 1200, 0,
}

// Lower band scale-factor adaptation (LOGSCL): the magnitude class of each
// 4-bit code and the log scale step of each class.
var (
	lowMagnitude = [16]int32{0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0}
	lowLogStep   = [8]int32{-60, -30, 58, 172, 334, 538, 1198, 3042}
)

// Higher sub-band: the 2-bit codes for a small or large positive and negative
// difference (QUANTH), the inverse quantizer (INVQAH) and the log scale step
// of each code (LOGSCH).
var (
	highCodeNegative = [3]int32{0, 1, 0}
	highCodePositive = [3]int32{0, 3, 2}
	highLevel        = [4]int32{-7408, -1616, 7408, 1616}
	highMagnitude    = [4]int32{2, 1, 2, 1}
	highLogStep      = [3]int32{0, -214, 798}
)

// scaleTable is the antilog table of the scale-factor computation (SCALEL,
// SCALEH): 2048·2^(i/32) rounded.
var scaleTable = [32]int32{
	2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834,
	2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
}

// Scale-factor limits and starting values of the two bands.
const (
	lowLogMax    = 18432 // NBL's upper bound
	highLogMax   = 22528 // NBH's upper bound
	lowDetReset  = 32    // DETL after reset
	highDetReset = 8     // DETH after reset
	lowScaleExp  = 8     // SCALEL's exponent offset
	highScaleExp = 10    // SCALEH's exponent offset
	highThresh   = 564   // QUANTH's decision level, scaled by DETH >> 12
)

// g722Band is the ADPCM state of one sub-band. Every value is a 16-bit
// quantity of the Recommendation held in an int32.
type g722Band struct {
	logScale int32    // NBL / NBH: log-domain quantizer scale factor
	det      int32    // DETL / DETH: quantizer scale factor
	pred     int32    // SL / SH: predicted signal
	predZero int32    // SZL / SZH: the six-zero section's share of pred
	recon    [2]int32 // RLT / RH one and two samples back: reconstructed signal
	partial  [2]int32 // PLT / PH one and two samples back: partial reconstruction
	pole     [2]int32 // AL1, AL2 / AH1, AH2: pole coefficients
	zero     [6]int32 // BL1..BL6 / BH1..BH6: zero coefficients
	diff     [6]int32 // DLT1..DLT6 / DH1..DH6: quantized differences
}

// reset returns the band to the Recommendation's reset state with det as its
// scale factor.
func (b *g722Band) reset(det int32) {
	*b = g722Band{det: det}
}

// sat16 saturates x to the 16-bit range.
func sat16(x int32) int32 {
	return min(max(x, -32768), 32767)
}

// signBit returns the sign bit of a 16-bit value: 1 for negative, 0 for zero
// and positive.
func signBit(x int32) int32 { return int32(uint32(x) >> 31) }

// scaleFactor converts a log scale factor to the linear one (SCALEL with
// exp lowScaleExp, SCALEH with highScaleExp).
func scaleFactor(logScale, exp int32) int32 {
	m := scaleTable[(logScale>>6)&31]
	shift := exp - (logScale >> 11)
	if shift < 0 {
		m <<= -shift
	} else {
		m >>= shift
	}
	return m << 2
}

// adaptLow updates the lower band's scale factor from the top four bits of a
// 6-bit code (LOGSCL, SCALEL).
func (b *g722Band) adaptLow(code4 int32) {
	nb := (b.logScale*127)>>7 + lowLogStep[lowMagnitude[code4]]
	b.logScale = min(max(nb, 0), lowLogMax)
	b.det = scaleFactor(b.logScale, lowScaleExp)
}

// adaptHigh updates the higher band's scale factor from a 2-bit code
// (LOGSCH, SCALEH).
func (b *g722Band) adaptHigh(code int32) {
	nb := (b.logScale*127)>>7 + highLogStep[highMagnitude[code]]
	b.logScale = min(max(nb, 0), highLogMax)
	b.det = scaleFactor(b.logScale, highScaleExp)
}

// quantizeLow returns the 6-bit code of the lower band difference el
// (QUANTL).
func (b *g722Band) quantizeLow(el int32) int32 {
	mag := el
	if el < 0 {
		mag = -(el + 1) // one's complement magnitude
	}
	i := int32(1)
	for ; i < 30; i++ {
		if mag < (lowDecision[i]*b.det)>>12 {
			break
		}
	}
	if el < 0 {
		return lowCodeNegative[i]
	}
	return lowCodePositive[i]
}

// quantizeHigh returns the 2-bit code of the higher band difference eh
// (QUANTH).
func (b *g722Band) quantizeHigh(eh int32) int32 {
	mag := eh
	if eh < 0 {
		mag = -(eh + 1)
	}
	class := int32(1)
	if mag >= (highThresh*b.det)>>12 {
		class = 2
	}
	if eh < 0 {
		return highCodeNegative[class]
	}
	return highCodePositive[class]
}

// predict runs block 4 with the quantized difference d: it reconstructs the
// signal, adapts the pole and zero coefficients by their sign algorithms,
// shifts the delay lines and computes the next prediction into pred.
func (b *g722Band) predict(d int32) {
	r := sat16(b.pred + d)     // RECONS
	p := sat16(b.predZero + d) // PARREC

	// UPPOL2: the second pole coefficient.
	sg0, sg1, sg2 := signBit(p), signBit(b.partial[0]), signBit(b.partial[1])
	wd1 := sat16(b.pole[0] << 2)
	wd2 := wd1
	if sg0 == sg1 {
		wd2 = -wd1
	}
	wd2 = min(wd2, 32767)
	wd3 := wd2 >> 7
	if sg0 == sg2 {
		wd3 += 128
	} else {
		wd3 -= 128
	}
	wd3 += (b.pole[1] * 32512) >> 15
	pole2 := min(max(wd3, -12288), 12288)

	// UPPOL1: the first pole coefficient, bounded by the second.
	step := int32(-192)
	if sg0 == sg1 {
		step = 192
	}
	pole1 := sat16(step + (b.pole[0]*32640)>>15)
	limit := sat16(15360 - pole2)
	pole1 = min(max(pole1, -limit), limit)

	// UPZERO: the zero coefficients, against the differences before d.
	gain := int32(0)
	if d != 0 {
		gain = 128
	}
	sgd := signBit(d)
	for i := range b.zero {
		g := -gain
		if signBit(b.diff[i]) == sgd {
			g = gain
		}
		b.zero[i] = sat16(g + (b.zero[i]*32640)>>15)
	}

	// DELAYA: shift the delay lines.
	copy(b.diff[1:], b.diff[:5])
	b.diff[0] = d
	b.recon[1], b.recon[0] = b.recon[0], r
	b.partial[1], b.partial[0] = b.partial[0], p
	b.pole[0], b.pole[1] = pole1, pole2

	// FILTEP, FILTEZ, PREDIC: the next prediction.
	sp := sat16((b.pole[0]*sat16(2*b.recon[0]))>>15 + (b.pole[1]*sat16(2*b.recon[1]))>>15)
	var sz int32
	for i := len(b.diff) - 1; i >= 0; i-- {
		sz += (b.zero[i] * sat16(2*b.diff[i])) >> 15
	}
	b.predZero = sat16(sz)
	b.pred = sat16(sp + b.predZero)
}

// encodeLow quantizes one lower band sample xl and updates the band; it
// returns the 6-bit code.
func (b *g722Band) encodeLow(xl int32) int32 {
	code := b.quantizeLow(sat16(xl - b.pred))
	code4 := code >> 2
	d := (b.det * lowLevel4[code4]) >> 15 // INVQAL
	b.adaptLow(code4)
	b.predict(d)
	return code
}

// encodeHigh quantizes one higher band sample xh and updates the band; it
// returns the 2-bit code.
func (b *g722Band) encodeHigh(xh int32) int32 {
	code := b.quantizeHigh(sat16(xh - b.pred))
	d := (b.det * highLevel[code]) >> 15 // INVQAH
	b.adaptHigh(code)
	b.predict(d)
	return code
}

// decodeLow reconstructs one lower band sample from a 6-bit code and
// updates the band (INVQBL, RECONS with the 6-bit level, limited).
func (b *g722Band) decodeLow(code int32) int32 {
	out := min(max(b.pred+(b.det*lowLevel6[code])>>15, -16384), 16383)
	code4 := code >> 2
	d := (b.det * lowLevel4[code4]) >> 15
	b.adaptLow(code4)
	b.predict(d)
	return out
}

// decodeHigh reconstructs one higher band sample from a 2-bit code and
// updates the band.
func (b *g722Band) decodeHigh(code int32) int32 {
	d := (b.det * highLevel[code]) >> 15
	out := min(max(b.pred+d, -16384), 16383)
	b.adaptHigh(code)
	b.predict(d)
	return out
}
