package rtpio

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
)

func TestReceiverInOrderAtOnce(t *testing.T) {
	g := startRig(t, ReceiverConfig{})
	if !g.recv.LastPacket().IsZero() {
		t.Fatal("LastPacket set before any packet")
	}
	before := time.Now()
	for i := 1; i <= 5; i++ {
		g.peer.audio(t, uint16(i))
		// Each frame must arrive before the next packet is sent: nothing is held back.
		g.rec.waitEvents(t, i)
	}
	g.expect(t, "1 2 3 4 5")
	for i, e := range g.rec.snapshot() {
		if e.pt != 0 || !bytes.Equal(e.payload, bytes.Repeat([]byte{byte(i + 1)}, frameSamples)) {
			t.Fatalf("frame %d: pt %d payload %x", i, e.pt, e.payload[:4])
		}
	}
	g.expectStats(t, ReceiverStats{Packets: 5, Frames: 5})
	if lp := g.recv.LastPacket(); lp.Before(before) || lp.After(time.Now()) {
		t.Fatalf("LastPacket %v outside [%v, now]", lp, before)
	}
}

func TestReceiverDuplicateAndLate(t *testing.T) {
	g := startRig(t, ReceiverConfig{})
	for _, s := range []uint16{10, 11, 11, 13, 14} {
		g.peer.audio(t, s)
	}
	g.expect(t, "10 11") // the second 11 is dropped, 13 and 14 are held
	g.peer.audio(t, 15)  // the hold would span 3 > 2: 12 is lost
	g.expect(t, "10 11 lost 13 14 15")
	g.peer.audio(t, 12) // its place was declared lost: late
	g.peer.audio(t, 10) // already handed on: duplicate
	g.peer.audio(t, 17) // held
	g.peer.audio(t, 17) // duplicate of a held packet
	g.peer.audio(t, 16)
	g.expect(t, "10 11 lost 13 14 15 16 17")
	g.expectStats(t, ReceiverStats{Packets: 11, Frames: 7, Lost: 1, Late: 1, Duplicates: 3, Reordered: 1})
}

func TestReceiverReorder(t *testing.T) {
	t.Run("one late", func(t *testing.T) {
		g := startRig(t, ReceiverConfig{})
		g.peer.audio(t, 1)
		g.peer.audio(t, 3)
		g.expect(t, "1")
		g.peer.audio(t, 2)
		g.expect(t, "1 2 3")
		g.peer.audio(t, 4)
		g.expect(t, "1 2 3 4")
		g.expectStats(t, ReceiverStats{Packets: 4, Frames: 4, Reordered: 1})
	})
	t.Run("two late within window", func(t *testing.T) {
		g := startRig(t, ReceiverConfig{})
		for _, s := range []uint16{1, 3, 4} {
			g.peer.audio(t, s)
		}
		g.expect(t, "1")
		g.peer.audio(t, 2)
		g.expect(t, "1 2 3 4")
		g.expectStats(t, ReceiverStats{Packets: 4, Frames: 4, Reordered: 1})
	})
	t.Run("window exceeded", func(t *testing.T) {
		g := startRig(t, ReceiverConfig{})
		for _, s := range []uint16{1, 3, 4} {
			g.peer.audio(t, s)
		}
		g.expect(t, "1")
		g.peer.audio(t, 5)
		g.expect(t, "1 lost 3 4 5")
		g.peer.audio(t, 2)
		g.expect(t, "1 lost 3 4 5")
		g.expectStats(t, ReceiverStats{Packets: 5, Frames: 4, Lost: 1, Late: 1})
	})
	t.Run("reversed inside a wider window", func(t *testing.T) {
		g := startRig(t, ReceiverConfig{Window: 4})
		for _, s := range []uint16{1, 5, 4, 3} {
			g.peer.audio(t, s)
		}
		g.expect(t, "1")
		g.peer.audio(t, 2)
		g.expect(t, "1 2 3 4 5")
		g.expectStats(t, ReceiverStats{Packets: 5, Frames: 5, Reordered: 3})
	})
	t.Run("two gaps", func(t *testing.T) {
		g := startRig(t, ReceiverConfig{Window: 4})
		for _, s := range []uint16{1, 3, 5} {
			g.peer.audio(t, s)
		}
		g.peer.audio(t, 2)
		g.expect(t, "1 2 3") // 5 waits for 4
		g.peer.audio(t, 9)   // span 9-4 = 5 > 4: 4 lost, then 6..8 lost
		g.expect(t, "1 2 3 lost 5 lost lost lost 9")
		g.expectStats(t, ReceiverStats{Packets: 5, Frames: 5, Lost: 4, Reordered: 1})
	})
}

func TestReceiverGaps(t *testing.T) {
	t.Run("loss reported", func(t *testing.T) {
		g := startRig(t, ReceiverConfig{})
		g.peer.audio(t, 1)
		g.peer.audio(t, 20)
		g.expect(t, "1 "+strings.Repeat("lost ", 18)+"20")
		g.expectStats(t, ReceiverStats{Packets: 2, Frames: 2, Lost: 18})
	})
	t.Run("50 missing is loss", func(t *testing.T) {
		g := startRig(t, ReceiverConfig{})
		g.peer.audio(t, 1)
		g.peer.audio(t, 52)
		g.expectStats(t, ReceiverStats{Packets: 2, Frames: 2, Lost: 50})
	})
	t.Run("51 missing resets", func(t *testing.T) {
		g := startRig(t, ReceiverConfig{})
		for _, s := range []uint16{1, 2, 3, 55, 56} {
			g.peer.audio(t, s)
		}
		g.expect(t, "1 2 3 55 56")
		g.peer.audio(t, 3) // before the reset point: late
		g.expectStats(t, ReceiverStats{Packets: 6, Frames: 5, Late: 1})
	})
	t.Run("lost frames capped", func(t *testing.T) {
		g := startRig(t, ReceiverConfig{})
		long := bytes.Repeat([]byte{7}, 3*frameSamples) // 60 ms packets
		g.peer.send(t, 1, 0, 0, false, long)
		g.peer.send(t, 40, 39*480, 0, false, long) // 38 packets = 114 frames missing
		g.expectStats(t, ReceiverStats{Packets: 2, Frames: 6, Lost: 50})
	})
	t.Run("restart behind after probation", func(t *testing.T) {
		g := startRig(t, ReceiverConfig{})
		for _, s := range []uint16{1000, 1001, 1002, 10, 11, 12} {
			g.peer.audio(t, s)
		}
		g.expect(t, "232 233 234 11 12") // 10 is on probation (late), 11 confirms the restart
		g.expectStats(t, ReceiverStats{Packets: 6, Frames: 5, Late: 1})
	})
}

func TestReceiverSSRCChange(t *testing.T) {
	g := startRig(t, ReceiverConfig{})
	g.peer.audio(t, 1)
	g.peer.audio(t, 3) // held
	g.expect(t, "1")
	g.peer.ssrc = 0x55aa55aa
	g.peer.audio(t, 40000) // new source: the held packet is flushed, tracking restarts
	g.peer.audio(t, 40001)
	g.expect(t, "1 lost 3 64 65")
	g.expectStats(t, ReceiverStats{Packets: 4, Frames: 4, Lost: 1})
}

func TestReceiverSequenceWrap(t *testing.T) {
	t.Run("reorder across wrap", func(t *testing.T) {
		g := startRig(t, ReceiverConfig{})
		for _, s := range []uint16{65533, 65534, 0} {
			g.peer.audio(t, s)
		}
		g.expect(t, "253 254")
		g.peer.audio(t, 65535)
		g.peer.audio(t, 1)
		g.peer.audio(t, 65534) // duplicate, from before the wrap
		g.expect(t, "253 254 255 0 1")
		g.expectStats(t, ReceiverStats{Packets: 6, Frames: 5, Reordered: 1, Duplicates: 1})
	})
	t.Run("loss across wrap", func(t *testing.T) {
		g := startRig(t, ReceiverConfig{})
		g.peer.audio(t, 65535)
		g.peer.audio(t, 3)
		g.expect(t, "255 lost lost lost 3")
		g.expectStats(t, ReceiverStats{Packets: 2, Frames: 2, Lost: 3})
	})
}

// stream returns n bytes of a pattern that does not repeat within a frame.
func stream(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func concat(es []event) []byte {
	var b []byte
	for _, e := range es {
		b = append(b, e.payload...)
	}
	return b
}

func TestReceiverFraming(t *testing.T) {
	t.Run("30 ms packets split", func(t *testing.T) {
		g := startRig(t, ReceiverConfig{})
		in := stream(3 * 240)
		for i := range 3 {
			g.peer.send(t, uint16(i+1), uint32(i*240), 0, false, in[i*240:(i+1)*240])
		}
		g.settle(t)
		es := g.rec.snapshot()
		if len(es) != 4 || !bytes.Equal(concat(es), in[:640]) {
			t.Fatalf("got %d frames, bytes match %v", len(es), bytes.Equal(concat(es), in[:640]))
		}
		// The 80-byte remainder completes with the next packet.
		g.peer.send(t, 4, 720, 0, false, stream(80))
		g.settle(t)
		es = g.rec.snapshot()
		if len(es) != 5 || !bytes.Equal(es[4].payload, append(in[640:], stream(80)...)) {
			t.Fatalf("carry-over frame wrong: %d frames", len(es))
		}
	})
	t.Run("10 ms packets accumulated", func(t *testing.T) {
		g := startRig(t, ReceiverConfig{})
		in := stream(4 * 80)
		for i := range 4 {
			g.peer.send(t, uint16(i+1), uint32(i*80), 0, false, in[i*80:(i+1)*80])
			if i == 0 {
				g.settle(t)
				if n := len(g.rec.snapshot()); n != 0 {
					t.Fatalf("half a frame handed on: %d events", n)
				}
			}
		}
		g.settle(t)
		if es := g.rec.snapshot(); len(es) != 2 || !bytes.Equal(concat(es), in) {
			t.Fatalf("got %d frames", len(es))
		}
	})
	t.Run("loss of a 30 ms packet", func(t *testing.T) {
		g := startRig(t, ReceiverConfig{AudioTypes: []uint8{8}})
		in := stream(5 * 240)
		pkt := func(i int) []byte { return in[i*240 : (i+1)*240] }
		for _, i := range []int{0, 2, 3, 4} { // packet 1 is lost
			g.peer.send(t, uint16(i+1), uint32(i*240), 8, false, pkt(i))
		}
		g.settle(t)
		es := g.rec.snapshot()
		silence := bytes.Repeat([]byte{0xD5}, 80)
		want := [][]byte{
			pkt(0)[:160],
			append(bytes.Clone(pkt(0)[160:]), silence...), // 80 real bytes, 80 of the lost packet
			nil, // the other 160 samples of the lost packet
			pkt(2)[:160],
			append(bytes.Clone(pkt(2)[160:]), pkt(3)[:80]...),
			pkt(3)[80:],
			pkt(4)[:160],
		}
		if len(es) != len(want) {
			t.Fatalf("got %d events (%s), want %d", len(es), g.rec.summary(), len(want))
		}
		for i, w := range want {
			if es[i].pt != 8 || es[i].lost != (w == nil) || !bytes.Equal(es[i].payload, w) {
				t.Fatalf("event %d: pt %d lost %v payload mismatch", i, es[i].pt, es[i].lost)
			}
		}
		g.expectStats(t, ReceiverStats{Packets: 4, Frames: 6, Lost: 1})
	})
	t.Run("payload type change pads the carry", func(t *testing.T) {
		g := startRig(t, ReceiverConfig{AudioTypes: []uint8{0, 8}})
		g.peer.send(t, 1, 0, 0, false, stream(80))
		g.peer.send(t, 2, 80, 8, false, stream(160))
		g.settle(t)
		es := g.rec.snapshot()
		if len(es) != 2 || es[0].pt != 0 || es[1].pt != 8 ||
			!bytes.Equal(es[0].payload, append(stream(80), bytes.Repeat([]byte{0xFF}, 80)...)) ||
			!bytes.Equal(es[1].payload, stream(160)) {
			t.Fatalf("got %s", g.rec.summary())
		}
	})
}

func TestReceiverInvalid(t *testing.T) {
	g := startRig(t, ReceiverConfig{DTMFType: 101})
	valid := func(seq uint16, pt uint8, payload []byte) []byte {
		b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, SSRC: 9}, Payload: payload}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	v1 := valid(1, 0, make([]byte, 160))
	v1[0] = 0x40 // version 1
	junk := [][]byte{
		{},
		{0x80},
		[]byte("hello, not rtp at all"),
		v1,
		{0x8f, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9}, // 15 CSRCs announced, none present
		{0x90, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 0xbe, 0xde, 0xff, 0xff}, // extension longer than the packet
		{0xa0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 1, 2, 200},              // padding longer than the packet
		valid(1, 18, make([]byte, 20)),                                  // G.729: not accepted
		valid(1, 101, []byte{5, 0}),                                     // event too short
		valid(1, 0, make([]byte, 1600)),                                 // larger than maxPacket
	}
	for _, b := range junk {
		g.peer.sendRaw(t, b)
	}
	g.peer.audio(t, 7)
	g.expect(t, "7")
	g.expectStats(t, ReceiverStats{Packets: 1, Frames: 1, Invalid: uint64(len(junk))})
}

// eventPayload builds an RFC 4733 payload.
func eventPayload(event byte, end bool, duration uint16) []byte {
	e := byte(10) // volume
	if end {
		e |= 0x80
	}
	return []byte{event, e, byte(duration >> 8), byte(duration)}
}

// sendEvent sends one event as a real peer does: three start packets (the
// first with the marker), updates every 20 ms, then three end packets.
// It returns the next sequence number.
func sendEvent(t *testing.T, p *peer, seq uint16, ts uint32, event byte, updates int) uint16 {
	t.Helper()
	dur := uint16(0)
	for i := range 3 + updates {
		dur += 160
		p.send(t, seq, ts, 101, i == 0, eventPayload(event, false, dur))
		seq++
	}
	for range 3 {
		p.send(t, seq, ts, 101, false, eventPayload(event, true, dur))
		seq++
	}
	return seq
}

func TestReceiverDTMF(t *testing.T) {
	g := startRig(t, ReceiverConfig{DTMFType: 101})
	g.peer.audio(t, 1)
	g.peer.audio(t, 2)
	seq := sendEvent(t, g.peer, 3, 480, 5, 4)
	mid := seq
	g.peer.audio(t, mid)
	seq++
	seq = sendEvent(t, g.peer, seq, 4000, 5, 2) // the same digit again: a second event
	// A late end packet of the first event must not report it again.
	g.peer.send(t, seq, 480, 101, false, eventPayload(5, true, 1120))
	seq++
	for _, ev := range []byte{11, 10, 12, 15, 0, 9, 16} { // #, *, A, D, 0, 9, flash (no digit)
		seq = sendEvent(t, g.peer, seq, 8000+uint32(seq)*160, ev, 1)
	}
	// An event whose start packets were lost is still reported once.
	p := eventPayload(3, false, 800)
	g.peer.send(t, seq, 200000, 101, false, p)
	g.peer.send(t, seq+1, 200000, 101, false, p)
	g.peer.audio(t, seq+2)
	g.expect(t, "1 2 dtmf:5 "+byte2str(byte(mid))+" dtmf:5 dtmf:# dtmf:* dtmf:A dtmf:D dtmf:0 dtmf:9 dtmf:3 "+byte2str(byte(seq+2)))
	s := g.recv.Stats()
	if s.DTMF != 9 || s.Lost != 0 || s.Frames != 4 || s.Invalid != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func byte2str(b byte) string { return event{payload: []byte{b}}.String() }

func TestReceiverRemoteFilter(t *testing.T) {
	g := startRig(t, ReceiverConfig{})
	other := newPeer(t, g.conn.LocalAddr())
	g.recv.SetRemoteFilter(g.peer.addr())
	g.peer.audio(t, 1)
	other.audio(t, 2)
	g.peer.n++ // count other's datagram for settle
	g.expect(t, "1")
	g.expectStats(t, ReceiverStats{Packets: 1, Frames: 1, Invalid: 1})
	// Without the filter the source latch still keeps other out.
	g.recv.SetRemoteFilter(netip.AddrPort{})
	other.audio(t, 2)
	g.peer.n++
	g.peer.audio(t, 2)
	g.expect(t, "1 2")
	g.expectStats(t, ReceiverStats{Packets: 2, Frames: 2, Invalid: 1, Foreign: 1})
}

func TestReceiverCloseFlushesAndReturns(t *testing.T) {
	g := startRig(t, ReceiverConfig{})
	g.peer.audio(t, 1)
	g.peer.audio(t, 3)
	g.expect(t, "1")
	g.stop(t)
	if got := g.rec.summary(); got != "1 lost 3" {
		t.Fatalf("after close: %q", got)
	}
	if err := g.recv.Run(g.rec); err != nil {
		t.Fatalf("Run on a closed Conn: %v", err)
	}
}

func TestReceiverRunTwice(t *testing.T) {
	g := startRig(t, ReceiverConfig{})
	g.peer.audio(t, 1)
	g.expect(t, "1") // the first Run is active
	if err := g.recv.Run(g.rec); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Run: %v, want ErrRunning", err)
	}
}
