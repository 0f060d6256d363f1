package sip

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"

	"github.com/callstream/callstream/internal/limit"
	"github.com/callstream/callstream/internal/limit/limittest"
	"github.com/callstream/callstream/internal/logtest"
)

// newPeerAt is newPeer on another loopback address (any 127/8 address
// answers on Linux).
func newPeerAt(t *testing.T, server string, ip string) *peer {
	t.Helper()
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip), 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &peer{t: t, conn: conn, server: netip.MustParseAddrPort(server), local: conn.LocalAddr().(*net.UDPAddr).AddrPort()}
}

// finals reads final responses to INVITEs until n have come, by Call-ID.
func (p *peer) finals(n int, timeout time.Duration) map[string]*sip.Response {
	p.t.Helper()
	out := map[string]*sip.Response{}
	deadline := time.Now().Add(timeout)
	for len(out) < n {
		left := time.Until(deadline)
		if left <= 0 {
			p.t.Fatalf("%d final INVITE responses within %v, want %d", len(out), timeout, n)
		}
		if res, ok := p.recv(left).(*sip.Response); ok && res.StatusCode >= 200 && res.CSeq().MethodName == sip.INVITE {
			out[res.CallID().Value()] = res
		}
	}
	return out
}

// holdHandler keeps every call up (unanswered) until it ends, and reports it.
func holdHandler() (func(context.Context, *Invite), chan *Invite) {
	calls := make(chan *Invite, 64)
	return func(ctx context.Context, c *Invite) {
		calls <- c
		<-ctx.Done()
	}, calls
}

func retryAfterOf(t *testing.T, res *sip.Response) int {
	t.Helper()
	h := res.GetHeader("Retry-After")
	if h == nil {
		t.Fatalf("%d without Retry-After", res.StatusCode)
	}
	n, err := strconv.Atoi(h.Value())
	if err != nil || n < 1 {
		t.Fatalf("Retry-After %q", h.Value())
	}
	return n
}

// Past its burst a source gets 503 with Retry-After, before the handler
// runs; another source still gets in; one log line covers the flood.
func TestInviteRate(t *testing.T) {
	var logs logtest.Buffer
	var counted limittest.Counts
	handler, calls := holdHandler()
	srv := startServer(t, Config{Handler: handler, Logger: testLogger(&logs), Refusals: &counted,
		Limits: limit.Limits{InviteRate: 1, InviteBurst: 3}})
	p := newPeer(t, srv.Addr())
	const sent = 10
	for range sent {
		d := p.newDialog()
		d.invite(d.defaultOffer())
	}
	refused := p.finals(sent-3, 3*time.Second)
	for _, res := range refused {
		if res.StatusCode != 503 {
			t.Fatalf("refused with %d, want 503", res.StatusCode)
		}
		if ra := retryAfterOf(t, res); ra > 1 {
			t.Fatalf("Retry-After %d at 1/s, want 1", ra)
		}
	}
	for range 3 {
		recvCall(t, calls)
	}
	if n := counted.Get(limit.InviteRate); n != sent-3 {
		t.Fatalf("%d invite_rate refusals counted, want %d", n, sent-3)
	}
	if n := strings.Count(logs.String(), `"msg":"INVITE refused"`); n != 1 {
		t.Fatalf("%d refusal lines for one flood, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), `"limit":"invite_rate"`) || !strings.Contains(logs.String(), `"source":"127.0.0.1:`) {
		t.Fatalf("refusal line lacks the limit or the source:\n%s", logs.String())
	}
	// Another address has its own bucket.
	q := newPeerAt(t, srv.Addr(), "127.0.0.2")
	d := q.newDialog()
	d.invite(d.defaultOffer())
	if c := recvCall(t, calls); c.Source.Addr() != netip.MustParseAddr("127.0.0.2") {
		t.Fatalf("call from %v", c.Source)
	}
	if srv.Calls() != 4 {
		t.Fatalf("Calls() = %d, want 4", srv.Calls())
	}
}

// INVITEs that name an unknown dialog are charged to the rate too.
func TestStrayReinviteRate(t *testing.T) {
	var counted limittest.Counts
	srv := startServer(t, Config{Handler: func(context.Context, *Invite) {}, Refusals: &counted,
		Limits: limit.Limits{InviteRate: 1, InviteBurst: 1}})
	p := newPeer(t, srv.Addr())
	for range 3 {
		d := p.newDialog()
		d.toTag = "nosuchtag"
		d.invite(d.defaultOffer())
	}
	codes := map[int]int{}
	for _, res := range p.finals(3, 3*time.Second) {
		codes[res.StatusCode]++
	}
	if codes[481] != 1 || codes[503] != 2 || counted.Get(limit.InviteRate) != 2 {
		t.Fatalf("responses %v, refusals %d: want one 481 and two 503", codes, counted.Get(limit.InviteRate))
	}
}

// The N+1th call gets 503 with Retry-After; answered calls whose ACK never
// came count; a call that ends frees its place.
func TestMaxCalls(t *testing.T) {
	var counted limittest.Counts
	handler, calls := recvHandler(true)
	srv := startServer(t, Config{Handler: handler, Refusals: &counted, Limits: limit.Limits{MaxCalls: 2}})
	p := newPeer(t, srv.Addr())
	acked := p.newDialog()
	acked.answered(2 * time.Second)
	recvCall(t, calls)
	unacked := p.newDialog()
	unacked.invite(unacked.defaultOffer())
	p.response(200, sip.INVITE, 2*time.Second) // never acknowledged

	third := p.newDialog()
	third.invite(third.defaultOffer())
	res := p.response(503, sip.INVITE, 2*time.Second)
	if ra := retryAfterOf(t, res); ra != int(callsFullRetryAfter/time.Second) {
		t.Fatalf("Retry-After %d", ra)
	}
	if counted.Get(limit.CallsFull) != 1 || srv.Calls() != 2 {
		t.Fatalf("max_calls refusals %d, calls %d", counted.Get(limit.CallsFull), srv.Calls())
	}
	acked.bye()
	p.response(200, sip.BYE, time.Second)
	deadline := time.Now().Add(3 * time.Second)
	for srv.Calls() > 1 {
		if time.Now().After(deadline) {
			t.Fatalf("Calls() = %d after a BYE", srv.Calls())
		}
		time.Sleep(5 * time.Millisecond)
	}
	fourth := p.newDialog()
	fourth.answered(2 * time.Second)
	recvCall(t, calls)
	fourth.bye()
	p.response(200, sip.BYE, time.Second)
}

// Outside the allow list an INVITE gets 403 and no handler.
func TestAllowList(t *testing.T) {
	var counted limittest.Counts
	handler, calls := holdHandler()
	srv := startServer(t, Config{Handler: handler, Refusals: &counted, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}})
	out := newPeer(t, srv.Addr())
	d := out.newDialog()
	d.invite(d.defaultOffer())
	out.response(403, sip.INVITE, 2*time.Second)
	in := newPeerAt(t, srv.Addr(), "127.0.0.2")
	d = in.newDialog()
	d.invite(d.defaultOffer())
	recvCall(t, calls)
	if counted.Get(limit.SIPSource) != 1 {
		t.Fatalf("sip_source refusals %d", counted.Get(limit.SIPSource))
	}
	if _, err := NewServer(Config{Handler: handler, Allow: []netip.Prefix{{}}}); err == nil {
		t.Fatal("an invalid network in the allow list was accepted")
	}
}

// authorize answers the challenge of res for d as an independent digest
// client would.
func authorize(t *testing.T, d *dialog, res *sip.Response, user, password string) string {
	t.Helper()
	chal, err := digest.ParseChallenge(res.GetHeader("WWW-Authenticate").Value())
	if err != nil {
		t.Fatal(err)
	}
	cred, err := digest.Digest(chal, digest.Options{Method: "INVITE", URI: "sip:+15550002222@" + d.p.server.String(),
		Username: user, Password: password, Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	return "Authorization: " + cred.String()
}

// The digest exchange: a challenge, then the right password gets in, a
// wrong one gets 403, a nonce taken to another address gets a fresh 401.
func TestDigestAuthentication(t *testing.T) {
	var logs logtest.Buffer
	var counted limittest.Counts
	handler, calls := holdHandler()
	srv := startServer(t, Config{Handler: handler, Refusals: &counted, Logger: testLogger(&logs),
		Auth: map[string]string{"alice": "wonder-land"}, Realm: "edge.example"})
	p := newPeer(t, srv.Addr())
	d := p.newDialog()
	d.invite(d.defaultOffer())
	chal := p.response(401, sip.INVITE, 2*time.Second)
	h := chal.GetHeader("WWW-Authenticate").Value()
	for _, want := range []string{`Digest realm="edge.example"`, `qop="auth"`, `algorithm=MD5`, `nonce="`} {
		if !strings.Contains(h, want) {
			t.Fatalf("challenge %q lacks %s", h, want)
		}
	}
	if counted.Get(limit.SIPAuth) != 0 {
		t.Fatal("a plain challenge was counted as a refusal")
	}

	// Wrong password: 403.
	wrong := p.newDialog()
	wrong.invite(wrong.defaultOffer(), authorize(t, wrong, chal, "alice", "guess"))
	p.response(403, sip.INVITE, 2*time.Second)
	// Unknown user: 403 as well.
	nobody := p.newDialog()
	nobody.invite(nobody.defaultOffer(), authorize(t, nobody, chal, "mallory", "wonder-land"))
	p.response(403, sip.INVITE, 2*time.Second)

	// Right password: the call comes in.
	d.branch, d.cseq = newBranch(), d.cseq+1
	good := authorize(t, d, chal, "alice", "wonder-land")
	d.invite(d.defaultOffer(), good)
	recvCall(t, calls)

	// The same credentials from another address: a fresh challenge.
	q := newPeerAt(t, srv.Addr(), "127.0.0.2")
	e := q.newDialog()
	e.invite(e.defaultOffer(), good)
	again := q.response(401, sip.INVITE, 2*time.Second)
	if strings.Contains(again.GetHeader("WWW-Authenticate").Value(), "stale=true") {
		t.Fatal("a foreign nonce was called stale")
	}
	if n := counted.Get(limit.SIPAuth); n != 3 {
		t.Fatalf("%d sip_auth refusals, want 3", n)
	}
	if strings.Contains(logs.String(), "wonder-land") || strings.Contains(logs.String(), "guess") {
		t.Fatalf("a password reached the log:\n%s", logs.String())
	}
	for _, res := range []*sip.Response{chal, again} {
		nonce, _ := digest.ParseChallenge(res.GetHeader("WWW-Authenticate").Value())
		if strings.Contains(logs.String(), nonce.Nonce) {
			t.Fatalf("a nonce reached the log:\n%s", logs.String())
		}
	}
}

// A refused INVITE's transaction ends at once: the refusal is not
// retransmitted to a source that never acknowledges it.
func TestRefusalNotRetransmitted(t *testing.T) {
	srv := startServer(t, Config{Handler: func(context.Context, *Invite) {}, Allow: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}})
	p := newPeer(t, srv.Addr())
	d := p.newDialog()
	d.invite(d.defaultOffer())
	p.response(403, sip.INVITE, 2*time.Second)
	// Timer G would resend it after 500 ms; allow well past that.
	if msg := p.recv(1500 * time.Millisecond); msg != nil {
		t.Fatalf("after the 403: %q", msg.String())
	}
}
