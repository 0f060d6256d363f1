package rtpio

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// sink is a plain UDP socket that parses what it gets with pion/rtp.
type sink struct {
	uc *net.UDPConn
}

func newSink(t *testing.T) *sink {
	t.Helper()
	uc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { uc.Close() })
	return &sink{uc: uc}
}

func (s *sink) addr() netip.AddrPort { return s.uc.LocalAddr().(*net.UDPAddr).AddrPort() }

func (s *sink) read(t *testing.T) (rtp.Packet, netip.AddrPort) {
	t.Helper()
	buf := make([]byte, 2000)
	s.uc.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, from, err := s.uc.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatal(err)
	}
	var p rtp.Packet
	if err := p.Unmarshal(buf[:n]); err != nil {
		t.Fatal(err)
	}
	return p, from
}

func TestSenderHeaders(t *testing.T) {
	conn := newConn(t)
	dst := newSink(t)
	s := NewSender(conn, dst.addr(), 8)

	type step struct {
		before func()
		marker bool
		dTS    uint32 // timestamp step from the previous packet
	}
	steps := []step{
		{marker: true}, {dTS: 160}, {dTS: 160}, {dTS: 160},
		{before: s.MarkTalkspurt, marker: true, dTS: 160},
		{dTS: 160},
		{before: func() { s.Skip(3) }, dTS: 4 * 160},
		{before: func() { s.Skip(2); s.MarkTalkspurt() }, marker: true, dTS: 3 * 160},
		{dTS: 160},
	}
	var prev rtp.Packet
	for i, st := range steps {
		if st.before != nil {
			st.before()
		}
		payload := bytes.Repeat([]byte{byte(i)}, frameSamples)
		if err := s.WriteFrame(payload); err != nil {
			t.Fatal(err)
		}
		p, from := dst.read(t)
		if from != conn.LocalAddr() {
			t.Fatalf("packet %d from %v, want %v", i, from, conn.LocalAddr())
		}
		if p.Version != 2 || p.PayloadType != 8 || p.SSRC != s.SSRC() || p.Marker != st.marker ||
			len(p.CSRC) != 0 || p.Extension || p.Padding || !bytes.Equal(p.Payload, payload) {
			t.Fatalf("packet %d: %v marker %v", i, p, p.Marker)
		}
		if i > 0 {
			if p.SequenceNumber != prev.SequenceNumber+1 {
				t.Fatalf("packet %d: seq %d after %d", i, p.SequenceNumber, prev.SequenceNumber)
			}
			if p.Timestamp-prev.Timestamp != st.dTS {
				t.Fatalf("packet %d: timestamp step %d, want %d", i, p.Timestamp-prev.Timestamp, st.dTS)
			}
		}
		prev = p
	}
}

func TestSenderWrap(t *testing.T) {
	conn := newConn(t)
	dst := newSink(t)
	s := NewSender(conn, dst.addr(), 0)
	s.hdr.SequenceNumber = 65534
	s.hdr.Timestamp = 0xFFFFFFFF - 200
	wantSeq := []uint16{65534, 65535, 0, 1}
	wantTS := []uint32{0xFFFFFFFF - 200, 0xFFFFFFFF - 40, 119, 279}
	for i := range wantSeq {
		if err := s.WriteFrame(make([]byte, frameSamples)); err != nil {
			t.Fatal(err)
		}
		p, _ := dst.read(t)
		if p.SequenceNumber != wantSeq[i] || p.Timestamp != wantTS[i] {
			t.Fatalf("packet %d: seq %d ts %d, want %d %d", i, p.SequenceNumber, p.Timestamp, wantSeq[i], wantTS[i])
		}
	}
}

func TestSenderRandomStart(t *testing.T) {
	conn := newConn(t)
	a, b := NewSender(conn, netip.AddrPort{}, 0), NewSender(conn, netip.AddrPort{}, 0)
	if a.SSRC() == b.SSRC() && a.hdr.SequenceNumber == b.hdr.SequenceNumber && a.hdr.Timestamp == b.hdr.Timestamp {
		t.Fatal("two senders start identically")
	}
}

func TestSenderRemote(t *testing.T) {
	conn := newConn(t)
	first, second := newSink(t), newSink(t)
	s := NewSender(conn, netip.AddrPort{}, 0)
	if err := s.WriteFrame(make([]byte, frameSamples)); !errors.Is(err, ErrNoRemote) {
		t.Fatalf("WriteFrame without remote = %v, want ErrNoRemote", err)
	}
	s.SetRemote(first.addr())
	if err := s.WriteFrame(make([]byte, frameSamples)); err != nil {
		t.Fatal(err)
	}
	p1, _ := first.read(t)
	if !p1.Marker {
		t.Fatal("first packet sent has no marker")
	}
	done := make(chan struct{})
	go func() { s.SetRemote(second.addr()); close(done) }() // from another goroutine
	<-done
	if err := s.WriteFrame(make([]byte, frameSamples)); err != nil {
		t.Fatal(err)
	}
	p2, _ := second.read(t)
	if p2.SequenceNumber != p1.SequenceNumber+1 || p2.Timestamp != p1.Timestamp+160 || p2.Marker {
		t.Fatalf("after SetRemote: seq %d ts %d marker %v", p2.SequenceNumber, p2.Timestamp, p2.Marker)
	}
	if err := s.WriteFrame(make([]byte, maxPacket)); !errors.Is(err, ErrPayloadTooLarge) {
		t.Fatalf("oversized payload = %v", err)
	}
}

func TestSenderToReceiver(t *testing.T) {
	g := startRig(t, ReceiverConfig{AudioTypes: []uint8{8}})
	s := NewSender(newConn(t), g.conn.LocalAddr(), 8)
	in := stream(100 * frameSamples)
	for i := range 100 {
		if err := s.WriteFrame(in[i*frameSamples : (i+1)*frameSamples]); err != nil {
			t.Fatal(err)
		}
		g.peer.n++ // settle counts datagrams through the peer
		if i%10 == 9 {
			g.settle(t) // keep the socket buffer from overflowing
		}
	}
	g.settle(t)
	es := g.rec.snapshot()
	if len(es) != 100 || !bytes.Equal(concat(es), in) {
		t.Fatalf("got %d frames", len(es))
	}
	if st := g.recv.Stats(); st.Lost != 0 || st.Frames != 100 {
		t.Fatalf("stats %+v", st)
	}
}

func TestWriteFrameAllocs(t *testing.T) {
	conn := newConn(t)
	dst := newSink(t)
	s := NewSender(conn, dst.addr(), 0)
	payload := make([]byte, frameSamples)
	allocs := testing.AllocsPerRun(200, func() {
		if err := s.WriteFrame(payload); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("WriteFrame: %v allocs per call", allocs)
	}
}

func BenchmarkWriteFrame(b *testing.B) {
	conn := newConn(b)
	dst, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer dst.Close()
	s := NewSender(conn, dst.LocalAddr().(*net.UDPAddr).AddrPort(), 0)
	payload := make([]byte, frameSamples)
	b.ReportAllocs()
	for b.Loop() {
		if err := s.WriteFrame(payload); err != nil {
			b.Fatal(err)
		}
	}
}

// With SetFrameTicks(960) (Opus) each frame and each skipped frame moves the
// timestamp by 960; a comfort noise packet goes with its own payload type,
// in sequence, without the marker bit, and the audio after it carries the
// marker bit.
func TestSenderFrameTicksAndComfortNoise(t *testing.T) {
	conn := newConn(t)
	dst := newSink(t)
	s := NewSender(conn, dst.addr(), 111)
	s.SetFrameTicks(960)
	audio := []byte{1, 2, 3}
	if err := s.WriteFrame(audio); err != nil {
		t.Fatal(err)
	}
	a, _ := dst.read(t)
	s.Skip(2)
	if err := s.WriteComfortNoise(13, []byte{70}); err != nil {
		t.Fatal(err)
	}
	cn, _ := dst.read(t)
	if err := s.WriteFrame(audio); err != nil {
		t.Fatal(err)
	}
	b, _ := dst.read(t)
	if cn.PayloadType != 13 || cn.Marker || !bytes.Equal(cn.Payload, []byte{70}) ||
		cn.SequenceNumber != a.SequenceNumber+1 || cn.Timestamp != a.Timestamp+3*960 {
		t.Fatalf("comfort noise: pt %d marker %v payload %v seq %d ts %d after seq %d ts %d",
			cn.PayloadType, cn.Marker, cn.Payload, cn.SequenceNumber, cn.Timestamp, a.SequenceNumber, a.Timestamp)
	}
	if b.PayloadType != 111 || !b.Marker || b.SequenceNumber != cn.SequenceNumber+1 || b.Timestamp != cn.Timestamp+960 {
		t.Fatalf("audio after CN: pt %d marker %v seq %d ts %d", b.PayloadType, b.Marker, b.SequenceNumber, b.Timestamp)
	}
	level := []byte{70}
	if n := testing.AllocsPerRun(50, func() { _ = s.WriteComfortNoise(13, level) }); n != 0 {
		t.Errorf("%v allocations per comfort noise packet", n)
	}
}
