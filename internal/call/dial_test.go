package call

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/rtpio"
	"github.com/callstream/callstream/internal/sip"
	"github.com/callstream/callstream/internal/stream"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// startSIP runs a SIP server on loopback until the test ends.
func startSIP(t *testing.T, handler func(context.Context, *sip.Invite)) *sip.Server {
	t.Helper()
	s, err := sip.NewServer(sip.Config{Addr: "127.0.0.1:0", Handler: handler})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.ListenAndServe(ctx) }()
	select {
	case <-s.Ready():
	case err := <-errc:
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Error(err)
		}
	})
	return s
}

func ports(t *testing.T) *rtpio.PortPool {
	t.Helper()
	p, err := rtpio.NewPortPool(30000, 39999)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// frameSource plays numbered frames: frame k is filled with byte k+1.
type frameSource struct {
	mu sync.Mutex
	n  int
}

func (s *frameSource) ReadFrame(dst []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	for i := range dst {
		dst[i] = byte(s.n)
	}
	return true
}

// dialNumberedCallee dials, from a SIP server of its own, alice to bob at a
// second SIP server whose call answers and plays numbered frames
// (frameSource). It returns the dialing call ("out") and a channel that
// gets the answered one ("callee"); both use pool and clock. The caller
// closes the dialing call.
func dialNumberedCallee(t *testing.T, pool *rtpio.PortPool, clock *Clock) (*Call, <-chan *Call) {
	t.Helper()
	answered := make(chan *Call, 1)
	callee := startSIP(t, func(ctx context.Context, inv *sip.Invite) {
		c := New(Config{Sid: "callee", Invite: inv, Ports: pool, RTPIP: loopback, Clock: clock})
		defer c.Close()
		c.SetSource(&frameSource{})
		if err := c.Answer(); err != nil {
			t.Error(err)
			return
		}
		answered <- c
		<-c.Done()
	})
	dialer := startSIP(t, func(context.Context, *sip.Invite) {})
	// A fixed 200 ms jitter buffer: these tests check what the dialled call
	// carries, frame by frame, and a loaded machine may hold a packet longer
	// than the adaptive floor allows (the jitter tests cover adapting).
	c := Dial(Config{Sid: "out", Ports: pool, RTPIP: loopback, Clock: clock, JitterDelay: 200 * time.Millisecond}, dialer,
		sip.DialConfig{Target: "sip:bob@" + callee.Addr(), From: "alice"})
	return c, answered
}

// collector is a Tap that keeps the first byte of every inbound frame.
type collector struct {
	mu      sync.Mutex
	firsts  []byte
	arrived chan struct{} // closed (and forgotten) on every frame; nil while nobody waits
}

func (c *collector) Wants(t stream.Track) bool { return t == stream.TrackInbound }
func (c *collector) Attach(uint64)             {}
func (c *collector) Push(t stream.Track, _ uint64, fr codec.Frame) {
	if t != stream.TrackInbound {
		return
	}
	c.mu.Lock()
	c.firsts = append(c.firsts, fr.Payload[0])
	if c.arrived != nil {
		close(c.arrived)
		c.arrived = nil
	}
	c.mu.Unlock()
}

// waitFrom1 waits up to 5 s until n frames have arrived from the one
// numbered 1 on (the track may start with silence).
func (c *collector) waitFrom1(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		c.mu.Lock()
		start := bytes.IndexByte(c.firsts, 1)
		got := len(c.firsts) - start
		if c.arrived == nil {
			c.arrived = make(chan struct{})
		}
		arrived := c.arrived
		c.mu.Unlock()
		if start >= 0 && got >= n {
			return
		}
		select {
		case <-arrived:
		case <-timeout:
			t.Fatalf("frames from 1 on: %v, want %d", c.got(), n)
		}
	}
}
func (c *collector) got() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.firsts...)
}

// An outgoing call is answered by a second SIP server whose call plays
// numbered frames: the dialing call's inbound track carries them in order,
// and the callee's BYE ends the dialing call with "callee hung up".
func TestDialAnsweredMediaAndRemoteHangup(t *testing.T) {
	pool := ports(t)
	clock := NewClock()
	defer clock.Close()
	c, answered := dialNumberedCallee(t, pool, clock)
	defer c.Close()
	if p := c.Parties(); !p.Outgoing || p.To != "bob" || p.From != "alice" {
		t.Errorf("parties before the answer: %+v", p)
	}
	col := &collector{}
	c.AddTap(col)
	select {
	case <-c.Connected():
	case <-c.Done():
		t.Fatalf("not connected: %v (%s)", c.DialErr(), c.EndReason())
	case <-time.After(5 * time.Second):
		t.Fatal("not connected")
	}
	if !c.Answered() || c.Stats().NegotiatedCodec != "PCMU" {
		t.Errorf("answered %v stats %+v", c.Answered(), c.Stats())
	}
	far := <-answered
	col.waitFrom1(t, 15)
	far.Hangup("test done")
	select {
	case <-c.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("BYE from the callee did not end the call")
	}
	if r := c.EndReason(); r != "callee hung up" {
		t.Errorf("end reason %q", r)
	}
	got := col.got()
	if len(got) < 15 {
		t.Fatalf("only %d inbound frames", len(got))
	}
	// The callee's frames arrive numbered 1, 2, 3, … (the track may start
	// with silence before the first packet).
	start := bytes.IndexByte(got, 1)
	if start < 0 {
		t.Fatalf("frame 1 never arrived: %v", got)
	}
	for i, b := range got[start : start+15] {
		if int(b) != i+1 {
			t.Fatalf("frame %d carries %d: %v", i+1, b, got)
		}
	}
}

func TestDialRefusedAndCancelled(t *testing.T) {
	pool := ports(t)
	clock := NewClock()
	defer clock.Close()
	busy := startSIP(t, func(_ context.Context, inv *sip.Invite) { _ = inv.Reject(486, "busy") })
	ringing := make(chan *sip.Invite, 1)
	slow := startSIP(t, func(ctx context.Context, inv *sip.Invite) {
		_ = inv.Ringing()
		ringing <- inv
		<-ctx.Done()
	})
	dialer := startSIP(t, func(context.Context, *sip.Invite) {})
	before := pool.InUse()

	c := Dial(Config{Sid: "busy", Ports: pool, RTPIP: loopback, Clock: clock}, dialer, sip.DialConfig{Target: "bob@" + busy.Addr()})
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("refused call not ended")
	}
	var de *sip.DialError
	if !errors.As(c.DialErr(), &de) || de.Code != 486 || c.EndReason() != "call failed: 486 Busy Here" {
		t.Errorf("dial err %v, reason %q", c.DialErr(), c.EndReason())
	}
	_ = c.Close()

	rang := make(chan struct{}, 1)
	c = Dial(Config{Sid: "cancel", Ports: pool, RTPIP: loopback, Clock: clock}, dialer, sip.DialConfig{Target: "bob@" + slow.Addr(),
		OnProgress: func(int, string) { rang <- struct{}{} }})
	inv := <-ringing
	<-rang // the 180 is in: hanging up now sends CANCEL
	c.Hangup("scenario hung up")
	_ = c.Close()
	select {
	case <-inv.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("CANCEL did not reach the callee")
	}
	if inv.EndCause() != sip.EndCancel || !errors.Is(c.DialErr(), sip.ErrDialCancelled) || c.EndReason() != "scenario hung up" {
		t.Errorf("callee cause %v, dial err %v, reason %q", inv.EndCause(), c.DialErr(), c.EndReason())
	}
	if n := pool.InUse(); n != before {
		t.Errorf("ports in use %d, want %d", n, before)
	}
}

func TestRelayPrimesTrimsAndUnderruns(t *testing.T) {
	r := NewRelay()
	frame := func(b byte) codec.Frame {
		return codec.Frame{Format: codec.PCMU, Payload: bytes.Repeat([]byte{b}, 160)}
	}
	dst := make([]byte, 160)
	if r.ReadFrame(dst) {
		t.Fatal("empty relay played")
	}
	r.Push(stream.TrackOutbound, 0, frame(9)) // not its track
	r.Push(stream.TrackInbound, 0, frame(1))
	if r.ReadFrame(dst) {
		t.Fatal("played before holding relayPrime frames")
	}
	r.Push(stream.TrackInbound, 1, frame(2))
	for _, want := range []byte{1, 2} {
		if !r.ReadFrame(dst) || dst[0] != want {
			t.Fatalf("read %d, want %d", dst[0], want)
		}
	}
	if r.ReadFrame(dst) {
		t.Fatal("played from an empty relay")
	}
	for i := range 10 {
		r.Push(stream.TrackInbound, uint64(i), frame(byte(10+i)))
	}
	// 10 held > relayMax: trimmed to the newest relayPrime.
	if !r.ReadFrame(dst) || dst[0] != 18 {
		t.Fatalf("after trim read %d, want 18", dst[0])
	}
	if u, tr := r.Stats(); u != 1 || tr != 1 {
		t.Errorf("underruns %d trimmed %d", u, tr)
	}
	if n := testing.AllocsPerRun(100, func() {
		r.Push(stream.TrackInbound, 0, codec.Frame{Format: codec.PCMU, Payload: dst})
		r.ReadFrame(dst)
	}); n != 0 {
		t.Errorf("%v allocs per frame", n)
	}
}
