package media

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ErrMalformedOgg reports an Ogg file whose pages or packets are broken:
// a bad capture pattern, version or checksum, or a file that ends inside a
// page.
var ErrMalformedOgg = errors.New("ogg: malformed file")

// Ogg page layout (RFC 3533 section 6).
const (
	oggHeaderBytes = 27      // fixed part of a page header
	oggMaxPage     = 65307   // 27 + 255 lacing values + 255·255 bytes of data
	oggMaxPacket   = 1 << 20 // a packet longer than this is skipped (cover art in tags) or refused (audio)
	oggFlagBOS     = 0x02    // first page of a logical stream
)

// oggCRCTable is the table of the Ogg page checksum: CRC-32 with the
// polynomial 0x04C11DB7, not reflected, initial value 0.
var oggCRCTable = func() [256]uint32 {
	var t [256]uint32
	for i := range t {
		r := uint32(i) << 24
		for range 8 {
			if r&0x80000000 != 0 {
				r = r<<1 ^ 0x04C11DB7
			} else {
				r <<= 1
			}
		}
		t[i] = r
	}
	return t
}()

// oggCRC continues the Ogg checksum crc over b.
func oggCRC(crc uint32, b []byte) uint32 {
	for _, c := range b {
		crc = crc<<8 ^ oggCRCTable[byte(crc>>24)^c]
	}
	return crc
}

// oggPage is one page as read: its header fields and its data.
type oggPage struct {
	flags   byte
	granule int64
	serial  uint32
	lacing  []byte
	data    []byte
}

// oggReader reads the packets of the first logical stream of an Ogg file
// page by page, checking every page's checksum. Pages of other streams
// (a multiplexed video or second track) are skipped.
type oggReader struct {
	r       *bufio.Reader
	buf     []byte // one page, reused
	serial  uint32
	started bool

	page    oggPage
	seg     int    // next lacing value of page
	off     int    // where that segment starts in page.data
	packet  []byte // the packet being put together
	skip    bool   // the packet being put together passed oggMaxPacket
	granule int64  // granule position of the last page of the stream read
	last    bool   // the stream's last page (EOS) has been read
}

func newOggReader(r io.Reader) *oggReader {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReader(r)
	}
	return &oggReader{r: br, buf: make([]byte, oggMaxPage), granule: -1}
}

// readPage reads the next page of the stream into o.page.
func (o *oggReader) readPage() error {
	for {
		h := o.buf[:oggHeaderBytes]
		if _, err := io.ReadFull(o.r, h); err != nil {
			if errors.Is(err, io.EOF) {
				return io.EOF
			}
			return errorf(ErrMalformedOgg, "ogg: the file ends inside a page header")
		}
		if string(h[:4]) != "OggS" {
			return errorf(ErrMalformedOgg, "ogg: no page capture pattern \"OggS\"")
		}
		if h[4] != 0 {
			return errorf(ErrMalformedOgg, "ogg: page version %d, want 0", h[4])
		}
		n := int(h[26])
		lacing := o.buf[oggHeaderBytes : oggHeaderBytes+n]
		if _, err := io.ReadFull(o.r, lacing); err != nil {
			return errorf(ErrMalformedOgg, "ogg: the file ends inside a page's segment table")
		}
		size := 0
		for _, l := range lacing {
			size += int(l)
		}
		body := o.buf[oggHeaderBytes+n : oggHeaderBytes+n+size]
		if _, err := io.ReadFull(o.r, body); err != nil {
			return errorf(ErrMalformedOgg, "ogg: the file ends inside a page of %d bytes", size)
		}
		want := binary.LittleEndian.Uint32(h[22:26])
		clear(h[22:26])
		if got := oggCRC(0, o.buf[:oggHeaderBytes+n+size]); got != want {
			return errorf(ErrMalformedOgg, "ogg: page checksum %08x, the header says %08x", got, want)
		}
		serial := binary.LittleEndian.Uint32(h[14:18])
		if !o.started {
			if h[5]&oggFlagBOS == 0 {
				return errorf(ErrMalformedOgg, "ogg: the first page does not begin a stream")
			}
			o.started, o.serial = true, serial
		} else if serial != o.serial {
			continue // another logical stream
		}
		o.page = oggPage{
			flags:   h[5],
			granule: int64(binary.LittleEndian.Uint64(h[6:14])),
			serial:  serial,
			lacing:  lacing,
			data:    body,
		}
		if o.page.granule != -1 {
			o.granule = o.page.granule
		}
		o.last = h[5]&0x04 != 0
		o.seg, o.off = 0, 0
		return nil
	}
}

// nextPacket returns the stream's next whole packet; the slice is valid
// until the next call. It returns io.EOF after the last one. A packet
// longer than oggMaxPacket comes back as nil with errPacketTooLong.
func (o *oggReader) nextPacket() ([]byte, error) {
	o.packet = o.packet[:0]
	o.skip = false
	for {
		for o.seg < len(o.page.lacing) {
			l := int(o.page.lacing[o.seg])
			part := o.page.data[o.off : o.off+l]
			o.seg++
			o.off += l
			if !o.skip {
				if len(o.packet)+l > oggMaxPacket {
					o.skip = true
					o.packet = o.packet[:0]
				} else {
					o.packet = append(o.packet, part...)
				}
			}
			if l < 255 { // the packet ends here
				if o.skip {
					return nil, errPacketTooLong
				}
				return o.packet, nil
			}
		}
		if o.last && o.started {
			return nil, io.EOF
		}
		if err := o.readPage(); err != nil {
			if errors.Is(err, io.EOF) && (len(o.packet) > 0 || o.skip) {
				return nil, errorf(ErrMalformedOgg, "ogg: the file ends inside a packet")
			}
			return nil, err
		}
	}
}

// errPacketTooLong is a packet over oggMaxPacket bytes.
var errPacketTooLong = fmt.Errorf("%w: a packet of more than %d bytes", ErrMalformedOgg, oggMaxPacket)
