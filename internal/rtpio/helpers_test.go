package rtpio

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// freeRange returns an inclusive range of n ports that were all bindable on
// loopback a moment ago.
func freeRange(t testing.TB, n int) (int, int) {
	t.Helper()
	for range 50 {
		base := 20000 + rand.IntN(10000)
		ok := true
		var held []*net.UDPConn
		for p := base; p < base+n; p++ {
			c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: p})
			if err != nil {
				ok = false
				break
			}
			held = append(held, c)
		}
		for _, c := range held {
			c.Close()
		}
		if ok {
			return base, base + n - 1
		}
	}
	t.Fatal("no free port range")
	return 0, 0
}

// newConn returns a Conn on loopback, closed at cleanup.
func newConn(t testing.TB) *Conn {
	t.Helper()
	lo, hi := freeRange(t, 4)
	pool, err := NewPortPool(lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	c, err := pool.Listen(loopback)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// event is one Handler call.
type event struct {
	payload []byte
	pt      uint8
	lost    bool
	digit   byte
}

func (e event) String() string {
	switch {
	case e.digit != 0:
		return "dtmf:" + string(e.digit)
	case e.lost:
		return "lost"
	}
	return fmt.Sprint(e.payload[0])
}

// recorder is a Handler that keeps copies of what it gets.
type recorder struct {
	mu     sync.Mutex
	events []event
	bad    []string // contract violations seen
}

func (r *recorder) HandleFrame(payload []byte, pt uint8, lost bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if lost != (payload == nil) || (!lost && len(payload) != frameSamples) {
		r.bad = append(r.bad, fmt.Sprintf("frame len %d lost %v", len(payload), lost))
	}
	r.events = append(r.events, event{payload: bytes.Clone(payload), pt: pt, lost: lost})
}

func (r *recorder) HandleDTMF(digit byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, event{digit: digit})
}

func (r *recorder) snapshot() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event(nil), r.events...)
}

// summary renders the events as "1 2 lost dtmf:5".
func (r *recorder) summary() string {
	var s []string
	for _, e := range r.snapshot() {
		s = append(s, e.String())
	}
	return strings.Join(s, " ")
}

// waitEvents waits until at least n events were recorded.
func (r *recorder) waitEvents(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for len(r.snapshot()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("got %d events (%s), want %d", len(r.snapshot()), r.summary(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// peer sends RTP built with pion/rtp straight to a receiver.
type peer struct {
	uc   *net.UDPConn
	to   netip.AddrPort
	ssrc uint32
	n    int // datagrams sent
}

func newPeer(t *testing.T, to netip.AddrPort) *peer {
	t.Helper()
	return newPeerAt(t, loopback, to)
}

// newPeerAt returns a peer sending from ip (any loopback address).
func newPeerAt(t *testing.T, ip netip.Addr, to netip.AddrPort) *peer {
	t.Helper()
	uc, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { uc.Close() })
	return &peer{uc: uc, to: to, ssrc: 0x1234abcd}
}

func (p *peer) addr() netip.AddrPort { return p.uc.LocalAddr().(*net.UDPAddr).AddrPort() }

func (p *peer) sendRaw(t *testing.T, b []byte) {
	t.Helper()
	if _, err := p.uc.WriteToUDPAddrPort(b, p.to); err != nil {
		t.Fatal(err)
	}
	p.n++
}

func (p *peer) send(t *testing.T, seq uint16, ts uint32, pt uint8, marker bool, payload []byte) {
	t.Helper()
	pkt := rtp.Packet{
		Header: rtp.Header{
			Version: 2, Marker: marker, PayloadType: pt,
			SequenceNumber: seq, Timestamp: ts, SSRC: p.ssrc,
		},
		Payload: payload,
	}
	b, err := pkt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	p.sendRaw(t, b)
}

// audio sends a 20 ms PCMU packet whose bytes all equal byte(seq).
func (p *peer) audio(t *testing.T, seq uint16) {
	t.Helper()
	p.send(t, seq, uint32(seq)*frameSamples, 0, false, bytes.Repeat([]byte{byte(seq)}, frameSamples))
}

// rig is a running Receiver with a recorder and a peer.
type rig struct {
	conn *Conn
	recv *Receiver
	rec  *recorder
	peer *peer

	finished chan struct{} // closed when Run returns
	runErr   error         // Run's result, set before finished is closed
}

func startRig(t *testing.T, cfg ReceiverConfig) *rig {
	t.Helper()
	conn := newConn(t)
	g := &rig{conn: conn, recv: NewReceiver(conn, cfg), rec: &recorder{}, finished: make(chan struct{})}
	g.peer = newPeer(t, conn.LocalAddr())
	go func() {
		g.runErr = g.recv.Run(g.rec)
		close(g.finished)
	}()
	t.Cleanup(func() {
		g.stop(t)
		g.rec.mu.Lock()
		defer g.rec.mu.Unlock()
		if len(g.rec.bad) > 0 {
			t.Errorf("handler contract violated: %v", g.rec.bad)
		}
	})
	return g
}

// stop closes the Conn and checks that Run returns nil within 2 s.
func (g *rig) stop(t *testing.T) {
	t.Helper()
	if err := g.conn.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	select {
	case <-g.finished:
		if g.runErr != nil {
			t.Errorf("Run: %v", g.runErr)
		}
	case <-time.After(2 * time.Second):
		t.Error("Run did not return after Close")
	}
}

// settle waits until the receiver has processed every datagram the peer sent.
func (g *rig) settle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		s := g.recv.Stats()
		if int(s.Packets+s.Invalid+s.Foreign) >= g.peer.n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("receiver processed %d of %d datagrams", s.Packets+s.Invalid+s.Foreign, g.peer.n)
		}
		time.Sleep(time.Millisecond)
	}
}

func (g *rig) expect(t *testing.T, want string) {
	t.Helper()
	g.settle(t)
	if got := g.rec.summary(); got != want {
		t.Fatalf("events:\n got %q\nwant %q", got, want)
	}
}

func (g *rig) expectStats(t *testing.T, want ReceiverStats) {
	t.Helper()
	g.settle(t)
	if got := g.recv.Stats(); got != want {
		t.Fatalf("stats:\n got %+v\nwant %+v", got, want)
	}
}
