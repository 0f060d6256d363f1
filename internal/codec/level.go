package codec

// SumSquares returns the samples of one frame of f and the sum of their
// squares on the 16-bit scale, for a level meter: G.711 through its
// tables, L16 as it is. ok is false for the formats whose samples need a
// stateful decoder (G.722, Opus). It allocates nothing.
func SumSquares(f Format, payload []byte) (samples int, sum uint64, ok bool) {
	switch {
	case f.is(NamePCMU):
		for _, b := range payload {
			s := int64(ulawDecode[b])
			sum += uint64(s * s)
		}
		return len(payload), sum, true
	case f.is(NamePCMA):
		for _, b := range payload {
			s := int64(alawDecode[b])
			sum += uint64(s * s)
		}
		return len(payload), sum, true
	case f.is(NameL16):
		n := len(payload) / 2
		for i := range n {
			var s int64
			if f.BigEndian {
				s = int64(int16(uint16(payload[2*i])<<8 | uint16(payload[2*i+1])))
			} else {
				s = int64(int16(uint16(payload[2*i]) | uint16(payload[2*i+1])<<8))
			}
			sum += uint64(s * s)
		}
		return n, sum, true
	}
	return 0, 0, false
}
