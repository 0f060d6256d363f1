package sip

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/callstream/callstream/internal/limit"
	"github.com/callstream/callstream/internal/limit/limittest"
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

// tcpCall sets up an answered call over c and returns the dialog and a
// sender of messages over it.
func tcpCall(t *testing.T, srv string, c net.Conn, transport string) (*dialog, *tcpPeer, func(string), *sip.Response) {
	t.Helper()
	tp := &tcpPeer{t: t, conn: c, r: bufio.NewReader(c)}
	local := c.LocalAddr().String()
	p := &peer{t: t, server: netip.MustParseAddrPort(srv), local: netip.MustParseAddrPort(local)}
	d := p.newDialog()
	send := func(msg string) {
		msg = strings.Replace(msg, "SIP/2.0/UDP", "SIP/2.0/"+strings.ToUpper(transport), 1)
		msg = strings.Replace(msg, "Contact: <sip:+15550001111@"+local+">", "Contact: <sip:+15550001111@"+local+";transport="+transport+">", 1)
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
	}
	send(d.message("INVITE", d.branch, 1, d.defaultOffer()))
	var ok *sip.Response
	for ok == nil {
		if res, isRes := tp.recv().(*sip.Response); isRes && res.StatusCode == 200 {
			ok = res
		}
	}
	d.learn(ok)
	send(d.message("ACK", newBranch(), 1, ""))
	return d, tp, send, ok
}

// byeOver ends the call over its connection and waits for the 200.
func byeOver(t *testing.T, d *dialog, tp *tcpPeer, send func(string)) {
	t.Helper()
	send(d.message("BYE", newBranch(), 2, ""))
	for {
		if res, isRes := tp.recv().(*sip.Response); isRes && res.StatusCode == 200 && res.CSeq().MethodName == sip.BYE {
			return
		}
	}
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

// selfSigned returns a certificate for 127.0.0.1.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "callstream test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// A call over TLS: answered with a Contact that says transport=tls on the
// TLS port, ended over the same connection.
func TestCallOverTLS(t *testing.T) {
	handler, calls := recvHandler(true)
	cert := selfSigned(t)
	srv := startServer(t, Config{Handler: handler, TLSAddr: "127.0.0.1:0",
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}})
	roots := x509.NewCertPool()
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	roots.AddCert(leaf)
	c, err := tls.Dial("tcp", srv.TLSAddr(), &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
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
	var logs logBuffer
	handler, calls := recvHandler(true)
	srv := startServer(t, Config{Handler: handler, Logger: testLogger(&logs)})
	if err := srv.tcpLn.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), `"msg":"SIP listener stopped; calls go on over the others","listener":"sip-tcp"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line about the stopped listener:\n%s", logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	p := newPeer(t, srv.Addr())
	d := p.newDialog()
	d.answered(2 * time.Second)
	recvCall(t, calls)
	d.bye()
	p.response(200, sip.BYE, time.Second)
}
