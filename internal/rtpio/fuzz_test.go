package rtpio

import (
	"testing"

	"github.com/pion/rtp"
)

// checkHandler fails the fuzz run on a contract violation.
type checkHandler struct {
	t                    *testing.T
	frames, lost, digits uint64
}

func (h *checkHandler) HandleFrame(p []byte, pt uint8, lost bool) {
	if lost {
		h.lost++
		if p != nil {
			h.t.Fatal("lost frame with a payload")
		}
	} else {
		h.frames++
		if len(p) != frameSamples {
			h.t.Fatalf("frame of %d bytes", len(p))
		}
	}
	if pt != 0 && pt != 8 {
		h.t.Fatalf("frame of payload type %d", pt)
	}
}

func (h *checkHandler) HandleDTMF(d byte) {
	h.digits++
	if indexDigit(d) > 15 {
		h.t.Fatalf("digit %q", d)
	}
}

func indexDigit(d byte) int {
	for i := range 16 {
		if EventDigit(byte(i)) == d {
			return i
		}
	}
	return 255
}

func fuzzSeeds(f *testing.F) {
	for _, p := range []rtp.Packet{
		{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: 1}, Payload: make([]byte, 160)},
		{Header: rtp.Header{Version: 2, PayloadType: 8, SequenceNumber: 65535, Marker: true}, Payload: make([]byte, 240)},
		{Header: rtp.Header{Version: 2, PayloadType: 101, SequenceNumber: 9, Timestamp: 800}, Payload: eventPayload(11, true, 800)},
		{Header: rtp.Header{Version: 2, PayloadType: 0, CSRC: []uint32{1, 2}}, Payload: []byte{1, 2, 3}},
	} {
		b, err := p.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x90, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0})
	f.Add([]byte{0xa0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 1, 2, 3})
}

// FuzzHandlePacket feeds one arbitrary datagram after a valid stream.
func FuzzHandlePacket(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReceiver(nil, ReceiverConfig{AudioTypes: []uint8{0, 8}, DTMFType: 101})
		r.h = &checkHandler{t: t}
		src := newPacketSource(t, 0, make([]byte, 160))
		r.handlePacket(src.at(100, 0), benchFrom)
		before := r.Stats()
		r.handlePacket(b, benchFrom)
		after := r.Stats()
		if after.Packets+after.Invalid != before.Packets+before.Invalid+1 {
			t.Fatalf("datagram counted %d times", after.Packets+after.Invalid-before.Packets-before.Invalid)
		}
	})
}

// FuzzPacketSequence cuts the input into datagrams (a length byte, then that
// many bytes; the first 12 of each overwrite a valid header) to drive the
// ordering, framing and DTMF logic with arbitrary sequences.
func FuzzPacketSequence(f *testing.F) {
	f.Add([]byte{12, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 12, 0x80, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{16, 0x80, 101, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 5, 0x80, 0, 160, 40, 0x80, 8, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReceiver(nil, ReceiverConfig{AudioTypes: []uint8{0, 8}, DTMFType: 101, Window: int(len(data) % 6)})
		h := &checkHandler{t: t}
		r.h = h
		buf := make([]byte, maxPacket+1)
		n := 0
		for len(data) > 0 {
			size := int(data[0])
			data = data[1:]
			// Sizes are scaled so payloads of 80..480 bytes are reachable.
			size = size * 2
			hdr := min(len(data), 12)
			copy(buf, data[:hdr])
			data = data[hdr:]
			for i := 12; i < size; i++ {
				buf[i] = byte(i)
			}
			r.handlePacket(buf[:max(size, hdr)], benchFrom)
			n++
		}
		r.flushHeld()
		s := r.Stats()
		if s.Packets+s.Invalid != uint64(n) {
			t.Fatalf("%d datagrams, stats %+v", n, s)
		}
		if s.Frames != h.frames || s.Lost != h.lost || s.DTMF != h.digits {
			t.Fatalf("stats %+v disagree with the handler %d/%d/%d", s, h.frames, h.lost, h.digits)
		}
		if r.held != 0 {
			t.Fatalf("%d packets still held after flush", r.held)
		}
		if s.Lost > uint64(n)*maxLostFrames+maxLostFrames {
			t.Fatalf("%d lost frames from %d packets", s.Lost, n)
		}
	})
}
