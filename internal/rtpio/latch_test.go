package rtpio

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/rtp"

	"github.com/callstream/callstream/internal/limit"
	"github.com/callstream/callstream/internal/limit/limittest"
	"github.com/callstream/callstream/internal/logtest"
)

// direct drives a Receiver with handlePacket calls, without a socket, so
// that synctest's clock governs the latch's grace and the warnings.
type direct struct {
	r    *Receiver
	rec  *recorder
	ref  *limittest.Counts
	logs *logtest.Buffer
}

func newDirect(t *testing.T, cfg ReceiverConfig) *direct {
	t.Helper()
	d := &direct{rec: &recorder{}, ref: &limittest.Counts{}}
	cfg.Refusals = d.ref
	cfg.Logger, d.logs = logtest.Text(slog.LevelInfo)
	d.r = NewReceiver(nil, cfg)
	d.r.h = d.rec
	t.Cleanup(func() {
		if len(d.rec.bad) > 0 {
			t.Errorf("handler contract violated: %v", d.rec.bad)
		}
	})
	return d
}

// packet delivers a 20 ms PCMU packet of ssrc and seq from from, every
// byte fill.
func (d *direct) packet(t *testing.T, from netip.AddrPort, ssrc uint32, seq uint16, fill byte) {
	t.Helper()
	b, err := (&rtp.Packet{
		Header:  rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(seq) * frameSamples, SSRC: ssrc},
		Payload: bytes.Repeat([]byte{fill}, frameSamples),
	}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	d.r.handlePacket(b, from)
}

// audio delivers the caller's packet seq, every byte byte(seq).
func (d *direct) audio(t *testing.T, from netip.AddrPort, ssrc uint32, seq uint16) {
	t.Helper()
	d.packet(t, from, ssrc, seq, byte(seq))
}

func (d *direct) expect(t *testing.T, want string) {
	t.Helper()
	if got := d.rec.summary(); got != want {
		t.Fatalf("events:\n got %q\nwant %q", got, want)
	}
}

func (d *direct) expectSource(t *testing.T, want netip.AddrPort) {
	t.Helper()
	if got := d.r.Source(); got != want {
		t.Fatalf("latched to %v, want %v", got, want)
	}
}

var (
	callerAddr   = netip.MustParseAddrPort("192.0.2.10:4000")
	callerPort2  = netip.MustParseAddrPort("192.0.2.10:4002")
	strangerAddr = netip.MustParseAddrPort("198.51.100.7:5000")
	natAddr      = netip.MustParseAddrPort("203.0.113.9:31000")
	privateSDP   = netip.MustParseAddrPort("10.0.0.5:4000")
	movedAddr    = netip.MustParseAddrPort("192.0.2.20:6000")
)

const stranger = 0xEE // the payload byte of a stranger's packets

// The first source latches; another address, another port of the same
// host, garbage from a stranger and the caller's own SSRC sent from
// elsewhere are dropped and counted, and none of them moves LastPacket.
func TestLatchFirstSourceDropsOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newDirect(t, ReceiverConfig{})
		d.audio(t, callerAddr, 0xA, 1)
		d.expectSource(t, callerAddr)
		last := d.r.LastPacket()
		time.Sleep(time.Second)
		d.packet(t, strangerAddr, 0xB, 2, stranger)
		d.packet(t, callerPort2, 0xA, 2, stranger) // the caller's SSRC and seq, from another port
		d.r.handlePacket([]byte{1, 2, 3}, strangerAddr)
		if got := d.r.LastPacket(); !got.Equal(last) {
			t.Fatalf("LastPacket moved by strangers: %v, was %v", got, last)
		}
		d.audio(t, callerAddr, 0xA, 2)
		d.expect(t, "1 2")
		if st := d.r.Stats(); st != (ReceiverStats{Packets: 2, Frames: 2, Foreign: 3}) {
			t.Fatalf("stats %+v", st)
		}
		if n := d.ref.Get(limit.RTPSource); n != 3 {
			t.Fatalf("%d rtp_source refusals, want 3", n)
		}
		if got := d.r.LastPacket(); !got.After(last) {
			t.Fatal("the caller's packet did not move LastPacket")
		}
	})
}

// A new SSRC from the latched source is the caller's new stream: it is
// accepted and sequence tracking restarts.
func TestLatchNewSSRCFromLatchedSource(t *testing.T) {
	d := newDirect(t, ReceiverConfig{Remote: callerAddr})
	d.audio(t, callerAddr, 0xA, 1)
	d.audio(t, callerAddr, 0xA, 2)
	d.audio(t, callerAddr, 0xB, 100)
	d.audio(t, callerAddr, 0xB, 101)
	d.packet(t, strangerAddr, 0xB, 102, stranger) // the new SSRC from elsewhere is still foreign
	d.audio(t, callerAddr, 0xB, 102)
	d.expect(t, "1 2 100 101 102")
	if st := d.r.Stats(); st != (ReceiverStats{Packets: 5, Frames: 5, Foreign: 1}) {
		t.Fatalf("stats %+v", st)
	}
}

// When the first packet is not from the SDP address, the latch is
// provisional: the SDP address takes it over within the grace, not after.
func TestLatchPrefersSDPAddress(t *testing.T) {
	t.Run("SDP address takes over", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			d := newDirect(t, ReceiverConfig{Remote: callerAddr})
			d.packet(t, strangerAddr, 0xB, 50, stranger)
			d.expectSource(t, strangerAddr)
			time.Sleep(latchGrace / 2)
			d.audio(t, callerAddr, 0xA, 1)
			d.expectSource(t, callerAddr)
			d.packet(t, strangerAddr, 0xB, 51, stranger)
			d.audio(t, callerAddr, 0xA, 2)
			d.expect(t, "238 1 2")
			if st := d.r.Stats(); st.Foreign != 1 || st.Packets != 3 {
				t.Fatalf("stats %+v", st)
			}
			if !strings.Contains(d.logs.String(), "rtp source latched to the caller's SDP address") {
				t.Fatalf("no takeover line:\n%s", d.logs)
			}
		})
	})
	t.Run("behind NAT the first source stays", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			d := newDirect(t, ReceiverConfig{Remote: privateSDP})
			d.audio(t, natAddr, 0xA, 1)
			d.expectSource(t, natAddr)
			d.packet(t, strangerAddr, 0xB, 2, stranger)
			time.Sleep(latchGrace + time.Millisecond)
			d.packet(t, privateSDP, 0xB, 2, stranger) // too late: the latch is firm
			d.audio(t, natAddr, 0xA, 2)
			d.expect(t, "1 2")
			d.expectSource(t, natAddr)
			if st := d.r.Stats(); st.Foreign != 2 {
				t.Fatalf("stats %+v", st)
			}
		})
	})
	t.Run("no SDP address: the first source is firm", func(t *testing.T) {
		d := newDirect(t, ReceiverConfig{Remote: netip.MustParseAddrPort("0.0.0.0:4000")})
		d.audio(t, natAddr, 0xA, 1)
		d.packet(t, callerAddr, 0xB, 2, stranger)
		d.expect(t, "1")
		d.expectSource(t, natAddr)
	})
}

// A re-INVITE that moves the caller opens the latch again: the new SDP
// address latches (and takes over from in-flight packets of the old path),
// the old path is then foreign; a move behind NAT latches the new public
// source.
func TestLatchRelatchOnMove(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newDirect(t, ReceiverConfig{Remote: callerAddr})
		d.audio(t, callerAddr, 0xA, 1)
		d.r.Relatch(movedAddr)
		d.expectSource(t, netip.AddrPort{})
		d.audio(t, callerAddr, 0xA, 2) // in flight on the old path: provisional
		d.audio(t, movedAddr, 0xC, 10) // the new SDP address takes over
		d.expectSource(t, movedAddr)
		d.packet(t, callerAddr, 0xA, 3, stranger)
		d.audio(t, movedAddr, 0xC, 11)
		d.expect(t, "1 2 10 11")

		// A second move, behind NAT: the SDP names a private address, the
		// packets come from the NAT's public one.
		d.r.Relatch(privateSDP)
		d.audio(t, natAddr, 0xD, 20)
		d.packet(t, movedAddr, 0xC, 12, stranger)
		time.Sleep(latchGrace + time.Millisecond)
		d.audio(t, natAddr, 0xD, 21)
		d.expect(t, "1 2 10 11 20 21")
		d.expectSource(t, natAddr)
		if st := d.r.Stats(); st.Foreign != 2 || st.Packets != 6 {
			t.Fatalf("stats %+v", st)
		}
	})
}

// Foreign packets are logged once per period with the count so far, and
// once more when the receiver stops, not once per packet.
func TestLatchWarnsOncePerPeriod(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := newDirect(t, ReceiverConfig{})
		d.audio(t, callerAddr, 0xA, 1)
		for i := range 1000 {
			d.packet(t, strangerAddr, 0xB, uint16(i), stranger)
		}
		time.Sleep(foreignWarnEvery)
		for i := range 10 {
			d.packet(t, strangerAddr, 0xB, uint16(i), stranger)
		}
		d.r.reportForeign()
		d.r.reportForeign() // nothing new: no line
		lines := strings.Split(strings.TrimSpace(d.logs.String()), "\n")
		var warns []string
		for _, l := range lines {
			if strings.Contains(l, "RTP from an unexpected source dropped") {
				warns = append(warns, l)
			}
		}
		if len(warns) != 3 || !strings.Contains(warns[0], "level=WARN") || !strings.HasSuffix(warns[0], "dropped=1") ||
			!strings.Contains(warns[0], "source="+strangerAddr.String()) || !strings.Contains(warns[1], "dropped=1001") ||
			!strings.Contains(warns[2], "dropped=1010") {
			t.Fatalf("warnings:\n%s", strings.Join(warns, "\n"))
		}
		if n := d.ref.Get(limit.RTPSource); n != 1010 {
			t.Fatalf("%d refusals, want 1010", n)
		}
	})
}

// Over real sockets: a stranger on another loopback address sending the
// caller's own SSRC and sequence numbers gets nothing through.
func TestReceiverLatchOverUDP(t *testing.T) {
	ref := &limittest.Counts{}
	g := startRig(t, ReceiverConfig{Refusals: ref})
	g.recv.Relatch(g.peer.addr()) // as the call does with its SDP address
	other := newPeerAt(t, netip.MustParseAddr("127.0.0.2"), g.conn.LocalAddr())
	other.ssrc = g.peer.ssrc
	g.peer.audio(t, 1)
	g.expect(t, "1")
	for seq := uint16(2); seq < 10; seq++ {
		other.send(t, seq, uint32(seq)*frameSamples, 0, false, bytes.Repeat([]byte{stranger}, frameSamples))
		g.peer.n++
	}
	g.peer.audio(t, 2)
	g.expect(t, "1 2")
	g.expectStats(t, ReceiverStats{Packets: 2, Frames: 2, Foreign: 8})
	if ref.Get(limit.RTPSource) != 8 {
		t.Fatalf("%d refusals, want 8", ref.Get(limit.RTPSource))
	}
	if g.recv.Source() != g.peer.addr() {
		t.Fatalf("latched to %v, want %v", g.recv.Source(), g.peer.addr())
	}
}
