package sip

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/callstream/callstream/internal/limit"
	"github.com/callstream/callstream/internal/limit/limittest"
	"github.com/callstream/callstream/internal/logtest"
	"github.com/callstream/callstream/internal/tlstest"
)

func TestConnsWithin(t *testing.T) {
	for _, tc := range []struct{ conns, files, streams, want int }{
		{1000, 1024, 1, 256},
		{1000, 1024, 2, 128},
		{100, 1024, 1, 100},
		{1000, 0, 1, 1000}, // limit unknown
		{1000, 2, 1, 1},
	} {
		if got := connsWithin(tc.conns, tc.files, tc.streams); got != tc.want {
			t.Errorf("connsWithin(%d, %d, %d) = %d, want %d", tc.conns, tc.files, tc.streams, got, tc.want)
		}
	}
}

// waitClosedByPeer waits until the other end closes c.
func waitClosedByPeer(t *testing.T, c net.Conn, within time.Duration) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	if _, err := io.ReadAll(c); err != nil && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		t.Fatalf("connection not closed by the server within %v: %v", within, err)
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// A connection over the bound is closed at once; idle ones after SIPIdle.
func TestTCPConnectionBounds(t *testing.T) {
	var counted limittest.Counts
	srv := startServer(t, Config{Handler: func(context.Context, *Invite) {}, Refusals: &counted,
		Limits: limit.Limits{SIPConns: 2, SIPIdle: 300 * time.Millisecond}})
	var conns []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	waitClosedByPeer(t, conns[2], 2*time.Second)
	counted.WaitFor(t, limit.SIPConnsFull, 1, 5*time.Second)
	start := time.Now()
	waitClosedByPeer(t, conns[0], 5*time.Second)
	waitClosedByPeer(t, conns[1], 5*time.Second)
	if time.Since(start) < 100*time.Millisecond {
		t.Fatal("idle connections closed long before SIPIdle")
	}
	counted.WaitFor(t, limit.SIPConnIdle, 2, 5*time.Second)
}

// The connection of a live call never idles out: an idle connection
// opened after the call's last message is closed, the call's is not.
func TestTCPCallPinned(t *testing.T) {
	handler, calls := recvHandler(true)
	srv := startServer(t, Config{Handler: handler, Limits: limit.Limits{SIPIdle: 300 * time.Millisecond}})
	c, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d, tp, send, _ := tcpCall(t, srv.Addr(), c, "tcp")
	call := recvCall(t, calls)
	idle, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	waitClosedByPeer(t, idle, 5*time.Second)
	byeOver(t, d, tp, send)
	waitDone(t, call, EndRemoteBye)
}

// A call over TLS: answered with a Contact that says transport=tls on the
// TLS port, ended over the same connection.
func TestCallOverTLS(t *testing.T) {
	handler, calls := recvHandler(true)
	server, client := tlstest.Configs(t)
	srv := startServer(t, Config{Handler: handler, TLSAddr: "127.0.0.1:0", TLS: server})
	client.ServerName = "127.0.0.1"
	c, err := tls.Dial("tcp", srv.TLSAddr(), client)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d, tp, send, ok := tcpCall(t, srv.TLSAddr(), c, "tls")
	contact := ok.Contact().Address
	if tr, _ := contact.UriParams.Get("transport"); tr != "tls" || netip.MustParseAddrPort(srv.TLSAddr()).Port() != uint16(contact.Port) {
		t.Fatalf("200 OK Contact %v, want the TLS port and transport=tls", ok.Contact())
	}
	call := recvCall(t, calls)
	if !strings.Contains(call.Headers["via"], "SIP/2.0/TLS") {
		t.Fatalf("Via %q", call.Headers["via"])
	}
	byeOver(t, d, tp, send)
	waitDone(t, call, EndRemoteBye)

	if _, err := NewServer(Config{Handler: handler, TLSAddr: "127.0.0.1:0"}); err == nil {
		t.Fatal("TLSAddr without a certificate was accepted")
	}
}

// A listener that fails is logged and the server goes on over the others.
func TestListenerFailureKeepsServing(t *testing.T) {
	var logs logtest.Buffer
	handler, calls := recvHandler(true)
	srv := startServer(t, Config{Handler: handler, Logger: testLogger(&logs)})
	if err := srv.tcpLn.Close(); err != nil {
		t.Fatal(err)
	}
	logs.WaitContains(t, 5*time.Second, `"msg":"SIP listener stopped; calls go on over the others","listener":"sip-tcp"`)
	p := newPeer(t, srv.Addr())
	d := p.newDialog()
	d.answered(2 * time.Second)
	recvCall(t, calls)
	d.bye()
	p.response(200, sip.BYE, time.Second)
}
