package sipcaller

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/limit"
	gwsip "github.com/callstream/callstream/internal/sip"
)

// accepting is a gateway handler that takes the gateway's choice of media
// on gw's address and reports the agreed media.
func accepting(gw *net.UDPConn) (func(context.Context, *gwsip.Invite), chan *gwsip.Invite) {
	calls := make(chan *gwsip.Invite, 16)
	return func(ctx context.Context, c *gwsip.Invite) {
		if _, err := c.Accept(addrOf(gw)); err != nil {
			c.Logger().Error("accept", "error", err)
			return
		}
		calls <- c
		<-ctx.Done()
	}, calls
}

// newEnvWith is newEnv with a server configuration.
func newEnvWith(t *testing.T, cfg gwsip.Config) *env {
	t.Helper()
	e := newEnv(t, cfg.Handler)
	if cfg.Limits.SessionMinSE == 0 {
		return e
	}
	// A second server with the configuration; the first stays idle.
	srv, err := gwsip.NewServer(gwsip.Config{Addr: "127.0.0.1:0", Handler: cfg.Handler, Limits: cfg.Limits})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe(ctx) }()
	<-srv.Ready()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("gateway: %v", err)
		}
	})
	e.srv = srv
	return e
}

// eventually polls cond until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("within %v: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A late-offer call sends no SDP in the INVITE and answers the gateway's
// offer in the ACK, renumbering the codec when asked (and sending with the
// new number).
func TestLateOffer(t *testing.T) {
	gw := rtpSocket(t)
	handler, invites := accepting(gw)
	e := newEnv(t, handler)
	call := e.dial(Config{LateOffer: true, Codec: "PCMA", AnswerPayloadType: 96, DTMF: true})
	inv := recvInvite(t, invites)
	if !inv.LateOffer {
		t.Fatal("the INVITE carried SDP")
	}
	m := inv.Media()
	if m.Codec != (gwsip.Codec{Name: "PCMA", PayloadType: 96, ClockRate: 8000, Channels: 1}) || m.DTMFType != 101 || m.OfferedType != 8 || m.Remote != call.LocalRTP() {
		t.Fatalf("gateway agreed %+v", m)
	}
	if call.Codec() != "PCMA" || call.RemoteRTP() != addrOf(gw) {
		t.Fatalf("caller: codec %s, remote %v", call.Codec(), call.RemoteRTP())
	}
	if err := call.SendFrame(make([]byte, 160)); err != nil {
		t.Fatal(err)
	}
	if p := readRTP(t, gw, 1)[0]; p.PayloadType != 96 {
		t.Fatalf("sent with payload type %d, want the answer's 96", p.PayloadType)
	}

	// PCMU, the gateway's first choice, unchanged.
	call2 := e.dial(Config{LateOffer: true})
	inv2 := recvInvite(t, invites)
	if m := inv2.Media(); m.Codec.Name != "PCMU" || m.Codec.PayloadType != 0 || m.DTMFType != 0 {
		t.Fatalf("gateway agreed %+v", m)
	}
	if call2.Codec() != "PCMU" {
		t.Fatalf("caller codec %s", call2.Codec())
	}
}

// A caller asking for a session timer below the gateway's Min-SE gets 422
// with Min-SE; one that refreshes keeps its call past the interval.
func TestSessionTimer(t *testing.T) {
	gw := rtpSocket(t)
	handler, invites := answering(gw)
	e := newEnvWith(t, gwsip.Config{Handler: handler, Limits: limit.Limits{SessionMinSE: time.Second}})
	_, err := e.client.Dial(context.Background(), Config{Target: e.srv.Addr(), From: "a", To: "b", SessionExpires: 500 * time.Millisecond})
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 422 || se.Header["min-se"] != "1" {
		t.Fatalf("interval below Min-SE: %v", err)
	}

	call := e.dial(Config{SessionExpires: 3 * time.Second, Refresher: "uac", Refresh: true})
	inv := recvInvite(t, invites)
	if d, r := call.SessionTimer(); d != 3*time.Second || r != "uac" {
		t.Fatalf("granted %v %q", d, r)
	}
	// 4 refreshes take 4 s, more than the interval.
	eventually(t, 15*time.Second, "4 refreshes", func() bool { sent, _ := call.Refreshes(); return sent >= 4 })
	select {
	case <-inv.Done():
		t.Fatalf("refreshed call ended: %v", inv.EndCause())
	case <-call.Ended():
		t.Fatal("refreshed call ended")
	default:
	}
}

// When the gateway refreshes, the caller answers its refreshes; a caller
// that vanishes answers nothing, not even the gateway's BYE.
func TestGatewayRefreshesAndVanish(t *testing.T) {
	gw := rtpSocket(t)
	handler, invites := answering(gw)
	e := newEnvWith(t, gwsip.Config{Handler: handler, Limits: limit.Limits{SessionMinSE: time.Second}})
	call := e.dial(Config{SessionExpires: 3 * time.Second, Refresher: "uas"})
	inv := recvInvite(t, invites)
	eventually(t, 10*time.Second, "a refresh from the gateway", func() bool { _, got := call.Refreshes(); return got >= 1 })

	call.Vanish()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := inv.Hangup(ctx); err == nil {
		t.Fatal("a vanished caller answered the BYE")
	}
}
