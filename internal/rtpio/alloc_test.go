package rtpio

import (
	"encoding/binary"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/callstream/callstream/internal/jitter"
	"github.com/callstream/callstream/internal/limit/limittest"
)

// nopHandler counts what it gets.
type nopHandler struct{ frames, lost, digits atomic.Uint64 }

func (h *nopHandler) HandleFrame(p []byte, _ uint8, lost bool) {
	if lost {
		h.lost.Add(1)
	} else {
		h.frames.Add(1)
	}
}
func (h *nopHandler) HandleDTMF(byte) { h.digits.Add(1) }

// packetSource builds packets in one buffer, rewriting seq and timestamp in place.
type packetSource struct {
	buf []byte
}

func newPacketSource(t testing.TB, pt uint8, payload []byte) *packetSource {
	b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SSRC: 77}, Payload: payload}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return &packetSource{buf: b}
}

func (s *packetSource) at(seq uint16, ts uint32) []byte {
	binary.BigEndian.PutUint16(s.buf[2:], seq)
	binary.BigEndian.PutUint32(s.buf[4:], ts)
	return s.buf
}

var (
	benchFrom     = netip.MustParseAddrPort("127.0.0.1:4000")
	benchStranger = netip.MustParseAddrPort("127.0.0.2:4000")
)

func TestHandlePacketAllocs(t *testing.T) {
	r := NewReceiver(nil, ReceiverConfig{AudioTypes: []uint8{0, 8}, DTMFType: 101})
	h := &nopHandler{}
	r.h = h
	audio := newPacketSource(t, 0, make([]byte, 160))
	long := newPacketSource(t, 8, make([]byte, 240))
	event := newPacketSource(t, 101, eventPayload(5, false, 160))
	seq := uint16(0)
	ts := uint32(0)
	cases := map[string]func(){
		"in order": func() {
			seq++
			r.handlePacket(audio.at(seq, ts), benchFrom)
		},
		"reordered": func() { // seq+2 is held, then seq+1 fills the gap
			r.handlePacket(audio.at(seq+2, ts), benchFrom)
			r.handlePacket(audio.at(seq+1, ts), benchFrom)
			seq += 2
		},
		"lost and late": func() {
			r.handlePacket(audio.at(seq+5, ts), benchFrom)
			r.handlePacket(audio.at(seq+1, ts), benchFrom)
			seq += 5
		},
		"duplicate": func() {
			seq++
			r.handlePacket(audio.at(seq, ts), benchFrom)
			r.handlePacket(audio.at(seq, ts), benchFrom)
		},
		"30 ms split": func() {
			seq++
			r.handlePacket(long.at(seq, ts), benchFrom)
		},
		"foreign source": func() {
			r.handlePacket(audio.at(seq+1, ts), benchStranger)
		},
		"dtmf event": func() {
			seq++
			ts += 1000
			r.handlePacket(event.at(seq, ts), benchFrom)
			seq++
			r.handlePacket(event.at(seq, ts), benchFrom)
		},
	}
	// The caller's first packet latches the receiver to it: "foreign
	// source", in whatever order the cases run, is then a stranger's.
	seq++
	r.handlePacket(audio.at(seq, ts), benchFrom)
	for name, f := range cases {
		f() // warm up
		if allocs := testing.AllocsPerRun(200, f); allocs != 0 {
			t.Errorf("%s: %v allocs per run", name, allocs)
		}
	}
	if st := r.Stats(); h.frames.Load() == 0 || h.lost.Load() == 0 || h.digits.Load() == 0 || st.Invalid != 0 || st.Foreign == 0 {
		t.Fatalf("paths not exercised: %+v", r.Stats())
	}
}

func BenchmarkHandlePacket(b *testing.B) {
	r := NewReceiver(nil, ReceiverConfig{})
	r.h = &nopHandler{}
	src := newPacketSource(b, 0, make([]byte, 160))
	seq := uint16(0)
	b.ReportAllocs()
	for b.Loop() {
		seq++
		r.handlePacket(src.at(seq, uint32(seq)*160), benchFrom)
	}
}

// BenchmarkHandlePacketForeign drops packets from a source other than the
// latched one, as under a flood of stray RTP.
func BenchmarkHandlePacketForeign(b *testing.B) {
	r := NewReceiver(nil, ReceiverConfig{Refusals: &limittest.Counts{}})
	r.h = &nopHandler{}
	src := newPacketSource(b, 0, make([]byte, 160))
	r.handlePacket(src.at(1, 160), benchFrom)
	seq := uint16(1)
	b.ReportAllocs()
	for b.Loop() {
		seq++
		r.handlePacket(src.at(seq, uint32(seq)*160), benchStranger)
	}
}

// BenchmarkReceiveLoopback sends packets with a Sender to a running Receiver
// over loopback; allocations cover both ends.
func BenchmarkReceiveLoopback(b *testing.B) {
	rc, sc := newConn(b), newConn(b)
	r := NewReceiver(rc, ReceiverConfig{})
	h := &nopHandler{}
	done := make(chan error, 1)
	go func() { done <- r.Run(h) }()
	s := NewSender(sc, rc.LocalAddr(), 0)
	payload := make([]byte, frameSamples)
	sent := uint64(0)
	send := func() {
		for sent-r.packets.Load() > 32 { // stay well inside the socket buffer
			time.Sleep(0)
		}
		if err := s.WriteFrame(payload); err != nil {
			b.Fatal(err)
		}
		sent++
	}
	for range 100 { // warm up
		send()
	}
	b.ReportAllocs()
	for b.Loop() {
		send()
	}
	b.StopTimer()
	deadline := time.Now().Add(2 * time.Second)
	for r.packets.Load() < sent && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	rc.Close()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	if st := r.Stats(); st.Frames != sent {
		b.Logf("sent %d, got %+v", sent, st)
	}
}

// With a jitter buffer the receiver puts each audio packet into it (by
// timestamp, with its arrival) without allocating, and still reports
// telephone events itself; HandleFrame is never called.
func TestJitterModePutsPacketsWithoutAllocating(t *testing.T) {
	jb, err := jitter.New(jitter.Config{SamplesPerFrame: 160, MaxPayload: 160, Divisible: true, Silence: make([]byte, 160)})
	if err != nil {
		t.Fatal(err)
	}
	var now atomic.Int64
	r := NewReceiver(nil, ReceiverConfig{AudioTypes: []uint8{0}, DTMFType: 101, Jitter: jb,
		Arrival: func() time.Duration { return time.Duration(now.Load()) }})
	h := &nopHandler{}
	r.h = h
	audio := newPacketSource(t, 0, make([]byte, 160))
	event := newPacketSource(t, 101, eventPayload(5, false, 160))
	seq, ts := uint16(0), uint32(0)
	put := func() {
		now.Add(int64(20 * time.Millisecond))
		r.handlePacket(audio.at(seq, ts), benchFrom)
		seq++
		ts += 160
	}
	if n := testing.AllocsPerRun(100, put); n != 0 {
		t.Errorf("%v allocations per packet", n)
	}
	r.handlePacket(event.at(seq, ts), benchFrom)
	if st := jb.Stats(); st.Packets != 101 || h.frames.Load() != 0 || h.digits.Load() != 1 {
		t.Errorf("jitter buffer took %d packets, handler got %d frames and %d digits", st.Packets, h.frames.Load(), h.digits.Load())
	}
}
