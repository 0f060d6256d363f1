package sip

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/callstream/callstream/internal/logtest"
)

// checkGoroutines fails the test if the goroutine count does not settle back
// to base.
func checkGoroutines(t *testing.T, base int) {
	t.Helper()
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
}

// startServer runs a server on loopback for the test's duration and checks,
// at cleanup, that it stops and leaves no goroutine behind.
func startServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, _ := runServer(t, cfg)
	return s
}

// runServer is startServer for a test that stops the server itself: stop
// (run at cleanup too, once in all) cancels it, waits for ListenAndServe to
// return and checks that no goroutine is left behind.
func runServer(t *testing.T, cfg Config) (s *Server, stop func()) {
	t.Helper()
	base := runtime.NumGoroutine()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.ListenAndServe(ctx) }()
	select {
	case <-s.Ready():
	case err := <-errc:
		cancel()
		t.Fatalf("ListenAndServe: %v", err)
	case <-time.After(5 * time.Second):
		cancel()
		t.Fatal("server not ready")
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-errc:
				if err != nil {
					t.Errorf("ListenAndServe: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("ListenAndServe did not return after cancel")
				return
			}
			checkGoroutines(t, base)
		})
	}
	t.Cleanup(stop)
	return s, stop
}

// peer is a hand-driven SIP UAC on a UDP socket, so tests see exactly what
// the server puts on the wire.
type peer struct {
	t      *testing.T
	conn   *net.UDPConn
	server netip.AddrPort
	local  netip.AddrPort
}

func newPeer(t *testing.T, server string) *peer {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &peer{
		t:      t,
		conn:   conn,
		server: netip.MustParseAddrPort(server),
		local:  conn.LocalAddr().(*net.UDPAddr).AddrPort(),
	}
}

func (p *peer) send(msg string) {
	p.t.Helper()
	if _, err := p.conn.WriteToUDPAddrPort([]byte(msg), p.server); err != nil {
		p.t.Fatalf("send: %v", err)
	}
}

// recv returns the next SIP message or nil after timeout.
func (p *peer) recv(timeout time.Duration) sip.Message {
	p.t.Helper()
	buf := make([]byte, 65535)
	p.conn.SetReadDeadline(time.Now().Add(timeout))
	n, _, err := p.conn.ReadFromUDPAddrPort(buf)
	if err != nil {
		return nil
	}
	msg, err := sip.ParseMessage(buf[:n])
	if err != nil {
		p.t.Fatalf("parse %q: %v", buf[:n], err)
	}
	return msg
}

// response waits for a response with the given status to the given CSeq
// method, skipping anything else (retransmissions, provisional responses).
func (p *peer) response(code int, method sip.RequestMethod, timeout time.Duration) *sip.Response {
	p.t.Helper()
	return p.awaitResponse(code, method, timeout, false)
}

// awaitResponse is response; with failOnBye, a BYE arriving meanwhile fails
// the test.
func (p *peer) awaitResponse(code int, method sip.RequestMethod, timeout time.Duration, failOnBye bool) *sip.Response {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			p.t.Fatalf("no %d response to %s within %v", code, method, timeout)
		}
		switch m := p.recv(left).(type) {
		case *sip.Response:
			if m.StatusCode == code && m.CSeq().MethodName == method {
				return m
			}
		case *sip.Request:
			if failOnBye && m.Method == sip.BYE {
				p.t.Fatalf("BYE while waiting for %d to %s", code, method)
			}
		}
	}
}

// transact sends msg and waits up to timeout for its code response,
// sending msg again as a UDP client transaction does (RFC 3261 Timer E:
// 500 ms doubling to 4 s), so one datagram lost in a full socket buffer
// does not fail the test.
func (p *peer) transact(msg string, code int, method sip.RequestMethod, timeout time.Duration) *sip.Response {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for wait := 500 * time.Millisecond; ; wait = min(2*wait, 4*time.Second) {
		p.send(msg)
		until := time.Now().Add(wait)
		if until.After(deadline) {
			until = deadline
		}
		for left := time.Until(until); left > 0; left = time.Until(until) {
			if m, ok := p.recv(left).(*sip.Response); ok && m.StatusCode == code && m.CSeq().MethodName == method {
				return m
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no %d response to %s within %v", code, method, timeout)
		}
	}
}

// request waits for a request with the given method, skipping anything else.
func (p *peer) request(method sip.RequestMethod, timeout time.Duration) *sip.Request {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			p.t.Fatalf("no %s request within %v", method, timeout)
		}
		if req, ok := p.recv(left).(*sip.Request); ok && req.Method == method {
			return req
		}
	}
}

// reply answers a request from the server with a bare response.
func (p *peer) reply(req *sip.Request, code int, reason string) {
	p.t.Helper()
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	p.send(res.String())
}

// dialog is the peer's view of one call.
type dialog struct {
	p       *peer
	callID  string
	fromTag string
	toTag   string
	branch  string // the INVITE's branch
	cseq    int
	rtpPort int
	extra   []string
}

func (p *peer) newDialog() *dialog {
	return &dialog{
		p:       p,
		callID:  fmt.Sprintf("call-%d@test", rand.Uint64()),
		fromTag: fmt.Sprintf("ft%d", rand.Uint32()),
		branch:  newBranch(),
		cseq:    1,
		rtpPort: 30000,
	}
}

func newBranch() string { return fmt.Sprintf("z9hG4bK-%d", rand.Uint64()) }

func offerLines(port int, formats string, rest ...string) string {
	lines := append([]string{
		"v=0", "o=tester 1 1 IN IP4 127.0.0.1", "s=test", "c=IN IP4 127.0.0.1", "t=0 0",
		"m=audio " + fmt.Sprint(port) + " RTP/AVP " + formats,
	}, rest...)
	return strings.Join(lines, "\r\n") + "\r\n"
}

// defaultOffer offers PCMU, PCMA and telephone-event/101.
func (d *dialog) defaultOffer() string {
	return offerLines(d.rtpPort, "0 8 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000",
		"a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16", "a=ptime:20", "a=sendrecv")
}

func (d *dialog) toHeader() string {
	to := fmt.Sprintf("To: <sip:+15550002222@%s>", d.p.server.Addr())
	if d.toTag != "" {
		to += ";tag=" + d.toTag
	}
	return to
}

func (d *dialog) message(method, branch string, cseq int, body string, extra ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s sip:+15550002222@%s SIP/2.0\r\n", method, d.p.server)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=%s;rport\r\n", d.p.local, branch)
	b.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: \"Alice Caller\" <sip:+15550001111@127.0.0.1>;tag=%s\r\n", d.fromTag)
	b.WriteString(d.toHeader() + "\r\n")
	fmt.Fprintf(&b, "Call-ID: %s\r\n", d.callID)
	fmt.Fprintf(&b, "CSeq: %d %s\r\n", cseq, method)
	fmt.Fprintf(&b, "Contact: <sip:+15550001111@%s>\r\n", d.p.local)
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	if body != "" {
		b.WriteString("Content-Type: application/sdp\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return b.String()
}

// invite sends the initial INVITE.
func (d *dialog) invite(body string, extra ...string) {
	d.p.send(d.message("INVITE", d.branch, d.cseq, body, append(d.extra, extra...)...))
}

// learn records the server's To tag from a response.
func (d *dialog) learn(res *sip.Response) {
	if tag, ok := res.To().Params.Get("tag"); ok {
		d.toTag = tag
	}
}

// ack2xx acknowledges a 200 OK to the INVITE with CSeq cseq.
func (d *dialog) ack2xx(cseq int) { d.p.send(d.message("ACK", newBranch(), cseq, "")) }

// ackNon2xx acknowledges a failure response (same branch as the INVITE).
func (d *dialog) ackNon2xx(res *sip.Response) {
	d.learn(res)
	d.p.send(d.message("ACK", d.branch, d.cseq, ""))
}

func (d *dialog) cancel() {
	saved := d.toTag
	d.toTag = ""
	d.p.send(d.message("CANCEL", d.branch, d.cseq, ""))
	d.toTag = saved
}

func (d *dialog) bye() {
	d.cseq++
	d.p.send(d.message("BYE", newBranch(), d.cseq, ""))
}

func (d *dialog) reinvite(body string) {
	d.cseq++
	d.p.send(d.message("INVITE", newBranch(), d.cseq, body))
}

// answered runs INVITE -> 200 -> ACK and returns the 200.
func (d *dialog) answered(timeout time.Duration) *sip.Response {
	d.p.t.Helper()
	d.invite(d.defaultOffer())
	res := d.p.response(200, sip.INVITE, timeout)
	d.learn(res)
	d.ack2xx(d.cseq)
	return res
}

// recvHandler returns a handler that passes every call to the returned channel.
func recvHandler(answer bool) (func(context.Context, *Invite), chan *Invite) {
	calls := make(chan *Invite, 16)
	return func(ctx context.Context, c *Invite) {
		if answer {
			if err := c.Answer(netip.MustParseAddrPort("127.0.0.1:40000"), c.Offer.Codecs[0], c.Offer.DTMFType); err != nil {
				c.Logger().Error("answer", "error", err)
			}
		}
		calls <- c
		<-ctx.Done()
	}, calls
}

func recvCall(t *testing.T, calls <-chan *Invite) *Invite {
	t.Helper()
	select {
	case c := <-calls:
		return c
	case <-time.After(3 * time.Second):
		t.Fatal("handler not called")
		return nil
	}
}

func waitDone(t *testing.T, c *Invite, want EndCause) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(3 * time.Second):
		t.Fatalf("call not ended (cause %v)", c.EndCause())
	}
	if got := c.EndCause(); got != want {
		t.Fatalf("EndCause = %v, want %v", got, want)
	}
}

// testLogger logs JSON records at INFO and above into buf.
func testLogger(buf *logtest.Buffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func numGoroutines() int { return runtime.NumGoroutine() }
