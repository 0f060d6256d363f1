package media

import (
	"bytes"
	"encoding/binary"
)

// oggWriter writes the pages of one logical Ogg stream: the test side of
// the demuxer, used to make fixtures and broken files.
type oggWriter struct {
	buf     bytes.Buffer
	serial  uint32
	seq     uint32
	started bool
}

// page writes one page holding whole packets (each under 255·255 bytes
// together); eos marks the stream's last page.
func (w *oggWriter) page(granule int64, eos bool, packets ...[]byte) {
	var lacing, body []byte
	for _, p := range packets {
		n := len(p)
		for n >= 255 {
			lacing = append(lacing, 255)
			n -= 255
		}
		lacing = append(lacing, byte(n))
		body = append(body, p...)
	}
	w.raw(granule, eos, false, lacing, body)
}

// raw writes one page with the lacing values given (a packet that goes on
// in the next page ends its lacing with 255); cont marks a page that
// begins inside a packet.
func (w *oggWriter) raw(granule int64, eos, cont bool, lacing, body []byte) {
	var flags byte
	if !w.started {
		flags |= oggFlagBOS
		w.started = true
	}
	if eos {
		flags |= 0x04
	}
	if cont {
		flags |= 0x01
	}
	h := make([]byte, oggHeaderBytes, oggHeaderBytes+len(lacing)+len(body))
	copy(h, "OggS")
	h[5] = flags
	binary.LittleEndian.PutUint64(h[6:], uint64(granule))
	binary.LittleEndian.PutUint32(h[14:], w.serial)
	binary.LittleEndian.PutUint32(h[18:], w.seq)
	w.seq++
	h[26] = byte(len(lacing))
	h = append(append(h, lacing...), body...)
	binary.LittleEndian.PutUint32(h[22:], oggCRC(0, h))
	w.buf.Write(h)
}

// opusHead is an OpusHead packet (RFC 7845 section 5.1).
func opusHead(channels, preSkip int) []byte {
	h := []byte("OpusHead\x01")
	h = append(h, byte(channels))
	h = binary.LittleEndian.AppendUint16(h, uint16(preSkip))
	h = binary.LittleEndian.AppendUint32(h, 48000)
	h = append(h, 0, 0, 0) // gain, mapping family 0
	return h
}

// opusTags is an OpusTags packet with no comments.
func opusTags() []byte {
	t := []byte("OpusTags")
	t = binary.LittleEndian.AppendUint32(t, 4)
	t = append(t, "test"...)
	return binary.LittleEndian.AppendUint32(t, 0)
}
