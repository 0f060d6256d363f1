package sipcaller

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/callstream/callstream/internal/limit"
	gwsip "github.com/callstream/callstream/internal/sip"
)

// leakCheck records the goroutine count now and, at cleanup (after every
// cleanup registered later), waits for it to settle back.
func leakCheck(t *testing.T) {
	t.Helper()
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > base {
			if time.Now().After(deadline) {
				var buf bytes.Buffer
				_ = pprof.Lookup("goroutine").WriteTo(&buf, 1)
				t.Errorf("goroutines: %d, want <= %d\n%s", runtime.NumGoroutine(), base, buf.String())
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// env is a gateway SIP server and a caller client on loopback.
type env struct {
	t      *testing.T
	srv    *gwsip.Server
	client *Client
}

func newEnv(t *testing.T, handler func(ctx context.Context, call *gwsip.Invite)) *env {
	t.Helper()
	leakCheck(t)
	// The calls of a test come quickly from one address: no INVITE rate.
	srv := startGateway(t, gwsip.Config{Handler: handler, Limits: limit.Limits{InviteRate: -1}})
	client := newClient(t, ClientConfig{})
	return &env{t: t, srv: srv, client: client}
}

func (e *env) dial(cfg Config) *Call {
	e.t.Helper()
	if cfg.Target == "" {
		cfg.Target = e.srv.Addr()
	}
	if cfg.From == "" {
		cfg.From = "+15550001111"
	}
	if cfg.To == "" {
		cfg.To = "+15550002222"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	call, err := e.client.Dial(ctx, cfg)
	if err != nil {
		e.t.Fatalf("Dial: %v", err)
	}
	e.t.Cleanup(func() { call.Close() })
	return call
}

// rtpSocket is the test's stand-in for the gateway's RTP port.
func rtpSocket(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func addrOf(c *net.UDPConn) netip.AddrPort { return c.LocalAddr().(*net.UDPAddr).AddrPort() }

type rxPacket struct {
	rtp.Packet
	at time.Time
}

// readRTP reads n packets from c.
func readRTP(t *testing.T, c *net.UDPConn, n int) []rxPacket {
	t.Helper()
	out := make([]rxPacket, 0, n)
	buf := make([]byte, 1500)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for len(out) < n {
		m, _, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			t.Fatalf("read rtp (%d of %d): %v", len(out), n, err)
		}
		var p rtp.Packet
		if err := p.Unmarshal(append([]byte(nil), buf[:m]...)); err != nil {
			t.Fatalf("bad rtp: %v", err)
		}
		out = append(out, rxPacket{p, time.Now()})
	}
	return out
}

func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(3 * time.Second):
		t.Fatalf("%s not closed", what)
	}
}

// answering returns a handler that answers on gw's port and reports the call.
func answering(gw *net.UDPConn) (func(context.Context, *gwsip.Invite), chan *gwsip.Invite) {
	calls := make(chan *gwsip.Invite, 1024)
	return func(ctx context.Context, c *gwsip.Invite) {
		if err := c.Answer(addrOf(gw), c.Offer.Codecs[0], c.Offer.DTMFType); err != nil {
			c.Logger().Error("answer", "error", err)
			return
		}
		calls <- c
		<-ctx.Done()
	}, calls
}

func recvInvite(t *testing.T, ch <-chan *gwsip.Invite) *gwsip.Invite {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(3 * time.Second):
		t.Fatal("gateway handler not called")
		return nil
	}
}

func TestDialExchangeRTPAndHangup(t *testing.T) {
	gw := rtpSocket(t)
	handler, invites := answering(gw)
	e := newEnv(t, handler)
	call := e.dial(Config{FromDisplay: "Load Tester", Headers: map[string]string{"Diversion": "<sip:+15550009999@carrier>"}})
	inv := recvInvite(t, invites)

	if inv.CallID != call.CallID() || inv.From != "+15550001111" || inv.To != "+15550002222" ||
		inv.FromDisplay != "Load Tester" || inv.Diversion != "+15550009999" {
		t.Fatalf("gateway saw %+v", inv)
	}
	if got := fmt.Sprint(inv.Offer.Codecs); got != "[PCMU/8000 pt 0 PCMA/8000 pt 8]" || inv.Offer.DTMFType != 0 {
		t.Fatalf("offer codecs %s dtmf %d", got, inv.Offer.DTMFType)
	}
	if inv.Offer.RTPAddr != call.LocalRTP() {
		t.Fatalf("offer RTP %v, call socket %v", inv.Offer.RTPAddr, call.LocalRTP())
	}
	if call.Codec() != "PCMU" || call.RemoteRTP() != addrOf(gw) {
		t.Fatalf("call codec %s remote %v, want PCMU %v", call.Codec(), call.RemoteRTP(), addrOf(gw))
	}

	// Caller -> gateway: 3.5 frames become 4 paced packets, the last padded.
	audio := make([]byte, 560)
	for i := range audio {
		audio[i] = byte(i)
	}
	start := time.Now()
	if err := call.SendAudio(context.Background(), audio); err != nil {
		t.Fatalf("SendAudio: %v", err)
	}
	if took := time.Since(start); took < 55*time.Millisecond || took > 200*time.Millisecond {
		t.Errorf("SendAudio of 4 frames took %v, want ~60 ms", took)
	}
	pkts := readRTP(t, gw, 4)
	for i, p := range pkts {
		if p.PayloadType != 0 || p.SSRC != pkts[0].SSRC || p.Marker != (i == 0) ||
			p.SequenceNumber != pkts[0].SequenceNumber+uint16(i) || p.Timestamp != pkts[0].Timestamp+uint32(160*i) {
			t.Fatalf("packet %d header %+v (first %+v)", i, p.Header, pkts[0].Header)
		}
		want := make([]byte, 160)
		n := copy(want, audio[min(i*160, len(audio)):])
		for j := n; j < 160; j++ {
			want[j] = 0xFF
		}
		if !bytes.Equal(p.Payload, want) {
			t.Fatalf("packet %d payload differs", i)
		}
	}

	// Gateway -> caller.
	var live atomic.Int32
	call.OnPacket(func(p *Packet) { live.Add(1) })
	for i := 0; i < 5; i++ {
		p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: uint16(100 + i),
			Timestamp: uint32(8000 + 160*i), SSRC: 0xCAFE, Marker: i == 0}, Payload: bytes.Repeat([]byte{byte(i)}, 160)}
		b, _ := p.Marshal()
		if _, err := gw.WriteToUDPAddrPort(b, inv.Offer.RTPAddr); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := call.WaitPackets(ctx, 5); err != nil {
		t.Fatal(err)
	}
	if err := call.WaitHeard(ctx, bytes.Repeat([]byte{4}, 160)); err != nil {
		t.Fatal(err)
	}
	short, stop := context.WithTimeout(ctx, 20*time.Millisecond)
	defer stop()
	if err := call.WaitPackets(short, 6); err == nil {
		t.Fatal("waiting for a sixth packet that was never sent succeeded")
	}
	got := call.Received()
	if len(got) != 5 || live.Load() != 5 {
		t.Fatalf("received %d packets, callback saw %d, want 5", len(got), live.Load())
	}
	for i, p := range got {
		if p.Seq != uint16(100+i) || p.Timestamp != uint32(8000+160*i) || p.SSRC != 0xCAFE ||
			p.Marker != (i == 0) || !bytes.Equal(p.Payload, bytes.Repeat([]byte{byte(i)}, 160)) || p.Arrival.IsZero() {
			t.Fatalf("received packet %d: %+v", i, p)
		}
	}
	var want []byte
	for i := range 5 {
		want = append(want, bytes.Repeat([]byte{byte(i)}, 160)...)
	}
	if !bytes.Equal(call.Heard(), want) || !bytes.Equal(Payloads(got[1:3]), want[160:480]) {
		t.Fatalf("heard %d bytes, not the 5 payloads in order", len(call.Heard()))
	}

	if err := call.Hangup(context.Background()); err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	waitClosed(t, call.Ended(), "Ended")
	waitClosed(t, inv.Done(), "gateway Done")
	if inv.EndCause() != gwsip.EndRemoteBye {
		t.Fatalf("gateway end cause %v", inv.EndCause())
	}
	if err := call.SendFrame(make([]byte, 160)); !errors.Is(err, ErrCallEnded) {
		t.Fatalf("SendFrame after hangup: %v", err)
	}
	if err := call.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := call.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestGatewayHangsUp(t *testing.T) {
	gw := rtpSocket(t)
	invites := make(chan *gwsip.Invite, 1)
	e := newEnv(t, func(ctx context.Context, c *gwsip.Invite) {
		if err := c.Answer(addrOf(gw), c.Offer.Codecs[0], 0); err != nil {
			t.Errorf("Answer: %v", err)
			return
		}
		invites <- c
		time.Sleep(50 * time.Millisecond)
		if err := c.Hangup(ctx); err != nil {
			t.Errorf("gateway Hangup: %v", err)
		}
	})
	call := e.dial(Config{Codec: "pcma", Only: true})
	inv := recvInvite(t, invites)
	if got := fmt.Sprint(inv.Offer.Codecs); got != "[PCMA/8000 pt 8]" {
		t.Fatalf("Only PCMA offered %s", got)
	}
	if call.Codec() != "PCMA" {
		t.Fatalf("Codec = %s", call.Codec())
	}
	waitClosed(t, call.Ended(), "Ended after gateway BYE")
	waitClosed(t, inv.Done(), "gateway Done")
	if inv.EndCause() != gwsip.EndLocalBye {
		t.Fatalf("gateway end cause %v", inv.EndCause())
	}
	if err := call.Hangup(context.Background()); err != nil {
		t.Fatalf("Hangup after remote BYE: %v", err)
	}
	// PCMA silence pads a short frame.
	if err := call.SendAudio(context.Background(), []byte{1}); !errors.Is(err, ErrCallEnded) {
		t.Fatalf("SendAudio after end: %v", err)
	}
}

func TestSendDTMF(t *testing.T) {
	gw := rtpSocket(t)
	handler, invites := answering(gw)
	e := newEnv(t, handler)
	call := e.dial(Config{DTMF: true})
	inv := recvInvite(t, invites)
	if inv.Offer.DTMFType != 101 {
		t.Fatalf("DTMF not offered: %+v", inv.Offer)
	}
	if err := call.SendFrame(make([]byte, 160)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := call.SendDTMF('#', 100*time.Millisecond); err != nil {
		t.Fatalf("SendDTMF: %v", err)
	}
	if took := time.Since(start); took < 75*time.Millisecond {
		t.Errorf("5 event packets sent in %v, want paced at 20 ms", took)
	}
	if err := call.SendFrame(make([]byte, 160)); err != nil {
		t.Fatal(err)
	}
	pkts := readRTP(t, gw, 1+7+1)
	audio0, events, audio1 := pkts[0], pkts[1:8], pkts[8]
	for i, p := range events {
		last := i >= 4
		dur := 160 * min(i+1, 5)
		want := []byte{11, 10, byte(dur >> 8), byte(dur)}
		if last {
			want[1] |= 0x80
		}
		if p.PayloadType != 101 || p.Timestamp != audio0.Timestamp+160 || p.Marker != (i == 0) ||
			p.SequenceNumber != audio0.SequenceNumber+uint16(i+1) || !bytes.Equal(p.Payload, want) {
			t.Fatalf("event packet %d: %+v payload %v want %v", i, p.Header, p.Payload, want)
		}
	}
	if audio1.Timestamp != audio0.Timestamp+160+5*160 || audio1.Marker {
		t.Fatalf("audio after DTMF: ts %d (want %d) marker %v", audio1.Timestamp, audio0.Timestamp+960, audio1.Marker)
	}
	if err := call.SendDTMF('x', time.Millisecond); !errors.Is(err, ErrBadDigit) {
		t.Fatalf("bad digit: %v", err)
	}
	noDTMF := e.dial(Config{})
	if err := noDTMF.SendDTMF('1', time.Millisecond); !errors.Is(err, ErrNoDTMF) {
		t.Fatalf("DTMF without negotiation: %v", err)
	}
}

func TestSendAudioDoesNotDrift(t *testing.T) {
	gw := rtpSocket(t)
	handler, _ := answering(gw)
	e := newEnv(t, handler)
	call := e.dial(Config{})
	const frames = 50
	done := make(chan error, 1)
	go func() { done <- call.SendAudio(context.Background(), make([]byte, frames*160)) }()
	pkts := readRTP(t, gw, frames)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	span := pkts[frames-1].at.Sub(pkts[0].at)
	if span < 970*time.Millisecond || span > 1060*time.Millisecond {
		t.Fatalf("%d frames spanned %v, want ~980 ms", frames, span)
	}
	for i := 1; i < frames; i++ {
		// Each frame leaves no earlier than its absolute deadline.
		if off := pkts[i].at.Sub(pkts[0].at); off < time.Duration(i)*frameDuration-5*time.Millisecond {
			t.Fatalf("frame %d at %v, before its %v deadline", i, off, time.Duration(i)*frameDuration)
		}
	}
}

func TestCancelBeforeAnswer(t *testing.T) {
	invites := make(chan *gwsip.Invite, 1)
	e := newEnv(t, func(ctx context.Context, c *gwsip.Invite) {
		c.Ringing()
		invites <- c
		<-ctx.Done()
	})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := e.client.Dial(ctx, Config{Target: e.srv.Addr(), From: "a", To: "b"})
		errc <- err
	}()
	inv := recvInvite(t, invites)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Dial: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Dial did not return after cancel")
	}
	waitClosed(t, inv.Done(), "gateway Done")
	if inv.EndCause() != gwsip.EndCancel {
		t.Fatalf("gateway end cause %v", inv.EndCause())
	}
}

func TestRejections(t *testing.T) {
	e := newEnv(t, func(ctx context.Context, c *gwsip.Invite) {
		var code int
		fmt.Sscan(c.To, &code)
		c.Reject(code, "no route for "+c.To)
	})
	for _, code := range []int{404, 486, 503, 603} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			_, err := e.client.Dial(context.Background(), Config{Target: e.srv.Addr(), From: "a", To: fmt.Sprint(code)})
			se, ok := err.(*StatusError)
			if !ok {
				t.Fatalf("Dial: %v, want *StatusError", err)
			}
			wantReason := fmt.Sprintf(`SIP;cause=%d;text="no route for %d"`, code, code)
			if se.Code != code || se.Header["reason"] != wantReason ||
				se.Header["warning"] != fmt.Sprintf(`399 callstream "no route for %d"`, code) {
				t.Fatalf("StatusError %+v", se)
			}
		})
	}
	// The gateway refuses an offer it cannot use.
	_, err := e.client.Dial(context.Background(), Config{Target: "127.0.0.1:1", From: "a", To: "b", Codec: "G729"})
	if !errors.Is(err, ErrUnsupportedCodec) {
		t.Fatalf("G729: %v", err)
	}
}

func TestReinviteHold(t *testing.T) {
	gw := rtpSocket(t)
	handler, invites := answering(gw)
	e := newEnv(t, handler)
	call := e.dial(Config{})
	inv := recvInvite(t, invites)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := call.SendReinvite(ctx, "sendonly"); err != nil {
		t.Fatalf("hold: %v", err)
	}
	if d := inv.RemoteOffer().Direction; d != "sendonly" {
		t.Fatalf("gateway sees direction %q", d)
	}
	if err := call.SendReinvite(ctx, "sendrecv"); err != nil {
		t.Fatalf("resume: %v", err)
	}
	if d := inv.RemoteOffer().Direction; d != "sendrecv" {
		t.Fatalf("gateway sees direction %q", d)
	}
	if err := call.SendReinvite(ctx, "sideways"); err == nil {
		t.Fatal("bad direction accepted")
	}
	select {
	case <-inv.Done():
		t.Fatal("re-INVITE ended the call")
	default:
	}
	if call.RemoteRTP() != addrOf(gw) {
		t.Fatalf("RemoteRTP %v", call.RemoteRTP())
	}
}

func TestParallelCalls(t *testing.T) {
	gw := rtpSocket(t)
	handler, invites := answering(gw)
	e := newEnv(t, handler)
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			call, err := e.client.Dial(ctx, Config{Target: e.srv.Addr(), From: "load", To: fmt.Sprint(i), NoRecord: true})
			if err != nil {
				errs <- err
				return
			}
			defer call.Close()
			if err := call.SendAudio(ctx, make([]byte, 3*160)); err != nil {
				errs <- err
				return
			}
			if err := call.Hangup(ctx); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("call: %v", err)
	}
	pkts := readRTP(t, gw, 3*n)
	ssrcs := map[uint32]int{}
	for _, p := range pkts {
		ssrcs[p.SSRC]++
	}
	if len(ssrcs) != n {
		t.Fatalf("%d distinct SSRCs, want %d", len(ssrcs), n)
	}
	for i := 0; i < n; i++ {
		inv := recvInvite(t, invites)
		waitClosed(t, inv.Done(), "gateway Done")
		if inv.EndCause() != gwsip.EndRemoteBye {
			t.Fatalf("call %s end cause %v", inv.To, inv.EndCause())
		}
	}
}

func BenchmarkSendFrame(b *testing.B) {
	sink, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	call := &Call{conn: conn, remote: addrOf(sink), pt: 0, ended: make(chan struct{})}
	frame := make([]byte, 160)
	b.ReportAllocs()
	for b.Loop() {
		if err := call.SendFrame(frame); err != nil {
			b.Fatal(err)
		}
	}
}

func TestSendFrameDoesNotAllocate(t *testing.T) {
	sink := rtpSocket(t)
	conn := rtpSocket(t)
	call := &Call{conn: conn, remote: addrOf(sink), ended: make(chan struct{})}
	frame := make([]byte, 160)
	allocs := testing.AllocsPerRun(200, func() {
		if err := call.SendFrame(frame); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("SendFrame allocates %.1f times per frame", allocs)
	}
}
