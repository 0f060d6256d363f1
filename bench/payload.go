package bench

import "encoding/binary"

// FrameBytes is the size of one 20 ms µ-law frame.
const FrameBytes = 160

// Frame identity layout: two magic bytes, the call index (uint16) and the
// frame number (uint32), big-endian; the remaining bytes are a pattern
// derived from both, so a frame altered on the way is detected.
const (
	magic0 = 0xB7
	magic1 = 0x3C
	idLen  = 8
)

// PutFrameID writes call and frame number into dst (at least FrameBytes
// long) and fills the rest of the frame with their check pattern.
func PutFrameID(dst []byte, call int, seq uint32) {
	dst = dst[:FrameBytes]
	dst[0], dst[1] = magic0, magic1
	binary.BigEndian.PutUint16(dst[2:4], uint16(call))
	binary.BigEndian.PutUint32(dst[4:8], seq)
	fill := byte(call) ^ byte(seq) ^ byte(seq>>8)
	for i := idLen; i < FrameBytes; i++ {
		dst[i] = fill + byte(i)
	}
}

// FrameID reads the identity of a frame written by PutFrameID. ok is false
// when p is not such a frame (wrong size or magic); intact is false when
// the check pattern does not match (the frame was altered).
func FrameID(p []byte) (call int, seq uint32, ok, intact bool) {
	if len(p) != FrameBytes || p[0] != magic0 || p[1] != magic1 {
		return 0, 0, false, false
	}
	call = int(binary.BigEndian.Uint16(p[2:4]))
	seq = binary.BigEndian.Uint32(p[4:8])
	fill := byte(call) ^ byte(seq) ^ byte(seq>>8)
	for i := idLen; i < FrameBytes; i++ {
		if p[i] != fill+byte(i) {
			return call, seq, true, false
		}
	}
	return call, seq, true, true
}
