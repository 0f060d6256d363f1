package sipcaller

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/limit"
	gwsip "github.com/callstream/callstream/internal/sip"
)

// startGateway runs a gateway SIP server with cfg (its Addr filled in) on
// loopback for the test; cleanup stops it and checks that it stopped
// cleanly.
func startGateway(t *testing.T, cfg gwsip.Config) *gwsip.Server {
	t.Helper()
	cfg.Addr = "127.0.0.1:0"
	srv, err := gwsip.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe(ctx) }()
	select {
	case <-srv.Ready():
	case err := <-errc:
		cancel()
		t.Fatalf("gateway: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("gateway: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("gateway did not stop")
		}
	})
	return srv
}

// newClient returns a caller client that cleanup closes.
func newClient(t *testing.T, cfg ClientConfig) *Client {
	t.Helper()
	c, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("client Close: %v", err)
		}
	})
	return c
}

// Over TCP two calls share one connection, the gateway sees TCP, its BYE
// comes back over the connection and the caller's BYE goes out on it.
func TestDialOverTCP(t *testing.T) {
	leakCheck(t)
	gw := rtpSocket(t)
	handler, invites := answering(gw)
	srv := startGateway(t, gwsip.Config{Handler: handler})
	client := newClient(t, ClientConfig{Transport: "tcp"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	first, err := client.Dial(ctx, Config{Target: srv.Addr(), From: "a", To: "b"})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	second, err := client.Dial(ctx, Config{Target: srv.Addr(), From: "a", To: "c"})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	in1, in2 := recvInvite(t, invites), recvInvite(t, invites)
	for _, in := range []*gwsip.Invite{in1, in2} {
		if !strings.Contains(in.Headers["via"], "SIP/2.0/TCP") {
			t.Fatalf("Via %q, want TCP", in.Headers["via"])
		}
	}
	if in1.Source != in2.Source {
		t.Fatalf("calls came from %s and %s, want one connection", in1.Source, in2.Source)
	}
	if err := first.SendAudio(ctx, make([]byte, 160)); err != nil {
		t.Fatal(err)
	}
	readRTP(t, gw, 1)
	// The gateway hangs up the first call: its BYE must find the caller.
	if err := in1.Hangup(ctx); err != nil {
		t.Fatalf("gateway BYE: %v", err)
	}
	waitClosed(t, first.Ended(), "first call Ended after the gateway's BYE")
	if err := second.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, in2.Done(), "second call Done at the gateway")
	if in2.EndCause() != gwsip.EndRemoteBye {
		t.Fatalf("end cause %v", in2.EndCause())
	}
}

func TestBadTransport(t *testing.T) {
	if _, err := NewClient(ClientConfig{Transport: "sctp"}); err == nil || !strings.Contains(err.Error(), "sctp") {
		t.Fatalf("NewClient with sctp: %v", err)
	}
}

// A caller with the right password gets through the gateway's digest
// challenge; one with a wrong password is refused with 403; one with no
// password sees the 401 and its challenge.
func TestDigestAuth(t *testing.T) {
	leakCheck(t)
	gw := rtpSocket(t)
	handler, invites := answering(gw)
	srv := startGateway(t, gwsip.Config{Handler: handler, Auth: map[string]string{"alice": "s3cret"}, Limits: limit.Limits{InviteRate: -1}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	none := newClient(t, ClientConfig{})
	_, err := none.Dial(ctx, Config{Target: srv.Addr(), From: "a", To: "b"})
	var se *StatusError
	if !errors.As(err, &se) || se.Code != 401 {
		t.Fatalf("no credentials: %v, want 401", err)
	}
	if ch := se.Header["www-authenticate"]; !strings.Contains(ch, `realm="callstream"`) || !strings.Contains(ch, `qop="auth"`) {
		t.Fatalf("challenge %q", ch)
	}

	wrong := newClient(t, ClientConfig{Username: "alice", Password: "guess"})
	_, err = wrong.Dial(ctx, Config{Target: srv.Addr(), From: "a", To: "b"})
	if !errors.As(err, &se) || se.Code != 403 {
		t.Fatalf("wrong password: %v, want 403", err)
	}

	right := newClient(t, ClientConfig{Username: "alice", Password: "guess"})
	call, err := right.Dial(ctx, Config{Target: srv.Addr(), From: "a", To: "b", Username: "alice", Password: "s3cret"})
	if err != nil {
		t.Fatalf("right password (per call): %v", err)
	}
	in := recvInvite(t, invites)
	if err := call.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, in.Done(), "gateway Done")
}
