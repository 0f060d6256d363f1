package sip

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/callstream/callstream/internal/logtest"
)

func TestAnswerAndRemoteBye(t *testing.T) {
	var logs logtest.Buffer
	type result struct {
		call  *Invite
		err   error
		ended bool
	}
	results := make(chan result, 1)
	srv := startServer(t, Config{
		Logger:   testLogger(&logs),
		PublicIP: netip.MustParseAddr("203.0.113.5"),
		Handler: func(ctx context.Context, c *Invite) {
			err := c.Answer(netip.MustParseAddrPort("0.0.0.0:41000"), c.Offer.Codecs[0], c.Offer.DTMFType)
			<-ctx.Done()
			select {
			case <-c.Done():
				results <- result{c, err, true}
			default:
				results <- result{c, err, false}
			}
		},
	})
	p := newPeer(t, srv.Addr())
	d := p.newDialog()
	d.invite(d.defaultOffer(), "Diversion: <sip:+15550003333@carrier.example>;reason=unconditional", "X-Custom: hello")

	start := time.Now()
	trying := p.response(100, sip.INVITE, time.Second)
	if wait := time.Since(start); wait > 150*time.Millisecond {
		t.Errorf("100 Trying after %v, want at once", wait)
	}
	if trying.CallID().Value() != d.callID {
		t.Fatalf("100 for wrong call")
	}
	ok := p.response(200, sip.INVITE, 2*time.Second)
	d.learn(ok)
	if d.toTag == "" {
		t.Fatal("200 OK without To tag")
	}
	if ct := ok.ContentType(); ct == nil || ct.Value() != "application/sdp" {
		t.Fatalf("200 OK content type %v", ct)
	}
	if ok.Contact() == nil || ok.Contact().Address.Host != "203.0.113.5" {
		t.Fatalf("200 OK contact %v", ok.Contact())
	}
	body := string(ok.Body())
	for _, line := range []string{
		"c=IN IP4 203.0.113.5\r\n",
		"m=audio 41000 RTP/AVP 0 101\r\n",
		"a=rtpmap:0 PCMU/8000\r\n",
		"a=rtpmap:101 telephone-event/8000\r\n",
		"a=fmtp:101 0-16\r\n",
		"a=ptime:20\r\n",
		"a=sendrecv\r\n",
	} {
		if !strings.Contains(body, line) {
			t.Errorf("answer lacks %q:\n%s", line, body)
		}
	}
	if !strings.Contains(body, " IN IP4 203.0.113.5\r\n") || !strings.HasPrefix(body, "v=0\r\no=callstream ") {
		t.Errorf("answer origin wrong:\n%s", body)
	}
	d.ack2xx(1)

	// The handler is still in the call: no result yet.
	select {
	case r := <-results:
		t.Fatalf("handler returned before BYE: %+v", r)
	case <-time.After(100 * time.Millisecond):
	}
	d.bye()
	p.response(200, sip.BYE, time.Second)
	var r result
	select {
	case r = <-results:
	case <-time.After(2 * time.Second):
		t.Fatal("handler ctx not cancelled by BYE")
	}
	if r.err != nil {
		t.Fatalf("Answer: %v", r.err)
	}
	if !r.ended {
		t.Fatal("Done not closed when ctx was cancelled by BYE")
	}
	c := r.call
	waitDone(t, c, EndRemoteBye)

	if c.CallID != d.callID || c.From != "+15550001111" || c.To != "+15550002222" || c.FromDisplay != "Alice Caller" {
		t.Errorf("identity: %+v", c)
	}
	if c.FromURI != "sip:+15550001111@127.0.0.1" || !strings.HasPrefix(c.ToURI, "sip:+15550002222@127.0.0.1") {
		t.Errorf("URIs: from %q to %q", c.FromURI, c.ToURI)
	}
	if c.Diversion != "+15550003333" {
		t.Errorf("Diversion = %q", c.Diversion)
	}
	if c.Headers["x-custom"] != "hello" || !strings.Contains(c.Headers["diversion"], "reason=unconditional") || c.Headers["call-id"] != d.callID {
		t.Errorf("Headers = %v", c.Headers)
	}
	if c.Source != p.local {
		t.Errorf("Source = %v, want %v", c.Source, p.local)
	}
	want := Offer{
		RTPAddr:   netip.MustParseAddrPort("127.0.0.1:30000"),
		Codecs:    []Codec{{"PCMU", 0, 8000, 1, ""}, {"PCMA", 8, 8000, 1, ""}},
		DTMFType:  101,
		DTMF:      []Codec{{Name: "telephone-event", PayloadType: 101, ClockRate: 8000, Channels: 1}},
		CNType:    -1,
		Direction: "sendrecv",
	}
	if fmt.Sprint(c.Offer) != fmt.Sprint(want) {
		t.Errorf("Offer = %+v, want %+v", c.Offer, want)
	}
	if !strings.Contains(logs.String(), `"sip_call_id":"`+d.callID+`"`) {
		t.Errorf("logs lack sip_call_id attribute:\n%s", logs.String())
	}
	if err := c.Hangup(context.Background()); !errors.Is(err, ErrCallEnded) {
		t.Errorf("Hangup after end: %v", err)
	}
}

func TestUnusableOfferGets488(t *testing.T) {
	var called atomic.Int32
	srv := startServer(t, Config{Handler: func(ctx context.Context, c *Invite) { called.Add(1) }})
	p := newPeer(t, srv.Addr())
	for name, body := range map[string]string{
		"g729 only":  offerLines(4000, "18", "a=rtpmap:18 G729/8000"),
		"video only": strings.Replace(offerLines(4000, "96", "a=rtpmap:96 H264/90000"), "m=audio", "m=video", 1),
	} {
		t.Run(name, func(t *testing.T) {
			d := p.newDialog()
			d.invite(body)
			p.response(100, sip.INVITE, time.Second)
			res := p.response(488, sip.INVITE, time.Second)
			if res.Reason != "Not Acceptable Here" {
				t.Errorf("reason phrase %q", res.Reason)
			}
			d.ackNon2xx(res)
		})
	}
	if n := called.Load(); n != 0 {
		t.Fatalf("handler called %d times for unusable offers", n)
	}
}

func TestHandlerReturnWithoutAnswerGets500(t *testing.T) {
	calls := make(chan *Invite, 1)
	srv := startServer(t, Config{Handler: func(ctx context.Context, c *Invite) { calls <- c }})
	p := newPeer(t, srv.Addr())
	d := p.newDialog()
	d.invite(d.defaultOffer())
	res := p.response(500, sip.INVITE, 2*time.Second)
	d.ackNon2xx(res)
	c := recvCall(t, calls)
	waitDone(t, c, EndRejected)
	if err := c.Answer(netip.MustParseAddrPort("127.0.0.1:4000"), c.Offer.Codecs[0], 0); !errors.Is(err, ErrCallEnded) {
		t.Fatalf("Answer after handler return: %v", err)
	}
}

func TestHandlerReturnAfterAnswerSendsBye(t *testing.T) {
	calls := make(chan *Invite, 1)
	srv := startServer(t, Config{Handler: func(ctx context.Context, c *Invite) {
		if err := c.Answer(netip.MustParseAddrPort("127.0.0.1:4000"), c.Offer.Codecs[0], 0); err != nil {
			t.Errorf("Answer: %v", err)
		}
		calls <- c
	}})
	p := newPeer(t, srv.Addr())
	d := p.newDialog()
	d.answered(2 * time.Second)
	bye := p.request(sip.BYE, 3*time.Second)
	if bye.CallID().Value() != d.callID {
		t.Fatal("BYE for another call")
	}
	if tag, _ := bye.From().Params.Get("tag"); tag != d.toTag {
		t.Fatalf("BYE From tag %q, want %q", tag, d.toTag)
	}
	p.reply(bye, 200, "OK")
	waitDone(t, recvCall(t, calls), EndLocalBye)
}

func TestHangup(t *testing.T) {
	errs := make(chan error, 2)
	calls := make(chan *Invite, 1)
	srv := startServer(t, Config{Handler: func(ctx context.Context, c *Invite) {
		errs <- c.Hangup(ctx) // not answered yet
		if err := c.Answer(netip.MustParseAddrPort("127.0.0.1:4000"), c.Offer.Codecs[1], 0); err != nil {
			t.Errorf("Answer: %v", err)
		}
		errs <- c.Hangup(ctx)
		calls <- c
	}})
	p := newPeer(t, srv.Addr())
	d := p.newDialog()
	ok := d.answered(2 * time.Second)
	if !strings.Contains(string(ok.Body()), "m=audio 4000 RTP/AVP 8\r\n") {
		t.Fatalf("answer did not use PCMA:\n%s", ok.Body())
	}
	if err := <-errs; !errors.Is(err, ErrNotAnswered) {
		t.Fatalf("Hangup before answer: %v", err)
	}
	bye := p.request(sip.BYE, 2*time.Second)
	p.reply(bye, 200, "OK")
	if err := <-errs; err != nil {
		t.Fatalf("Hangup: %v", err)
	}
	waitDone(t, recvCall(t, calls), EndLocalBye)
}

func TestCancelBeforeAnswer(t *testing.T) {
	calls := make(chan *Invite, 1)
	srv := startServer(t, Config{Handler: func(ctx context.Context, c *Invite) {
		if err := c.Ringing(); err != nil {
			t.Errorf("Ringing: %v", err)
		}
		calls <- c
		<-ctx.Done()
	}})
	p := newPeer(t, srv.Addr())
	d := p.newDialog()
	d.invite(d.defaultOffer())
	p.response(180, sip.INVITE, 2*time.Second)
	c := recvCall(t, calls)
	d.cancel()
	p.response(200, sip.CANCEL, time.Second)
	res := p.response(487, sip.INVITE, time.Second)
	d.ackNon2xx(res)
	waitDone(t, c, EndCancel)
	if err := c.Answer(netip.MustParseAddrPort("127.0.0.1:4000"), c.Offer.Codecs[0], 0); err == nil {
		t.Fatal("Answer after CANCEL succeeded")
	}
}

func TestReject(t *testing.T) {
	errs := make(chan error, 2)
	srv := startServer(t, Config{Handler: func(ctx context.Context, c *Invite) {
		errs <- c.Reject(486, `busy "now"`)
		errs <- c.Reject(603, "again")
	}})
	p := newPeer(t, srv.Addr())
	d := p.newDialog()
	d.invite(d.defaultOffer())
	res := p.response(486, sip.INVITE, 2*time.Second)
	d.ackNon2xx(res)
	if res.Reason != "Busy Here" {
		t.Errorf("reason phrase %q", res.Reason)
	}
	if h := res.GetHeader("Reason"); h == nil || h.Value() != `SIP;cause=486;text="busy 'now'"` {
		t.Errorf("Reason header %v", h)
	}
	if h := res.GetHeader("Warning"); h == nil || h.Value() != `399 callstream "busy 'now'"` {
		t.Errorf("Warning header %v", h)
	}
	if err := <-errs; err != nil {
		t.Fatalf("Reject: %v", err)
	}
	if err := <-errs; !errors.Is(err, ErrAlreadyResponded) && !errors.Is(err, ErrCallEnded) {
		t.Fatalf("second Reject: %v", err)
	}
}

func TestRejectInvalidCode(t *testing.T) {
	errs := make(chan error, 1)
	srv := startServer(t, Config{Handler: func(ctx context.Context, c *Invite) {
		errs <- c.Reject(200, "nope")
		c.Reject(404, "")
	}})
	p := newPeer(t, srv.Addr())
	d := p.newDialog()
	d.invite(d.defaultOffer())
	res := p.response(404, sip.INVITE, 2*time.Second)
	d.ackNon2xx(res)
	if err := <-errs; !errors.Is(err, ErrInvalidStatus) {
		t.Fatalf("Reject(200): %v", err)
	}
	if h := res.GetHeader("Reason"); h == nil || h.Value() != "SIP;cause=404" {
		t.Errorf("Reason header %v", h)
	}
}

func TestReinviteHoldAndMove(t *testing.T) {
	calls := make(chan *Invite, 1)
	moved := make(chan netip.AddrPort, 1)
	srv := startServer(t, Config{Handler: func(ctx context.Context, c *Invite) {
		c.OnRemoteChange(func(a netip.AddrPort) { moved <- a })
		if err := c.Answer(netip.MustParseAddrPort("127.0.0.1:42000"), c.Offer.Codecs[0], c.Offer.DTMFType); err != nil {
			t.Errorf("Answer: %v", err)
		}
		calls <- c
		<-ctx.Done()
	}})
	p := newPeer(t, srv.Addr())
	d := p.newDialog()
	first := d.answered(2 * time.Second)
	c := recvCall(t, calls)
	v1 := originVersion(t, first.Body())

	// Hold from the same address: direction changes, address does not.
	d.reinvite(offerLines(30000, "0 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000", "a=sendonly"))
	hold := p.response(200, sip.INVITE, 2*time.Second)
	d.ack2xx(d.cseq)
	body := string(hold.Body())
	if !strings.Contains(body, "m=audio 42000 RTP/AVP 0 101\r\n") || !strings.Contains(body, "a=recvonly\r\n") {
		t.Fatalf("hold answer:\n%s", body)
	}
	if v := originVersion(t, hold.Body()); v != v1+1 {
		t.Fatalf("session version %d after hold, want %d", v, v1+1)
	}
	if got := c.RemoteOffer().Direction; got != "sendonly" {
		t.Fatalf("RemoteOffer().Direction = %q", got)
	}
	select {
	case a := <-moved:
		t.Fatalf("OnRemoteChange(%v) on hold without address change", a)
	default:
	}

	// Resume on a new address.
	d.reinvite(strings.Replace(offerLines(30010, "0", "a=rtpmap:0 PCMU/8000", "a=sendrecv"), "c=IN IP4 127.0.0.1", "c=IN IP4 127.0.0.2", 1))
	resume := p.response(200, sip.INVITE, 2*time.Second)
	d.ack2xx(d.cseq)
	if !strings.Contains(string(resume.Body()), "a=sendrecv\r\n") {
		t.Fatalf("resume answer:\n%s", resume.Body())
	}
	if v := originVersion(t, resume.Body()); v != v1+2 {
		t.Fatalf("session version %d after resume, want %d", v, v1+2)
	}
	want := netip.MustParseAddrPort("127.0.0.2:30010")
	select {
	case a := <-moved:
		if a != want {
			t.Fatalf("OnRemoteChange(%v), want %v", a, want)
		}
	case <-time.After(time.Second):
		t.Fatal("OnRemoteChange not called")
	}
	if c.RemoteRTP() != want {
		t.Fatalf("RemoteRTP = %v", c.RemoteRTP())
	}

	// A re-INVITE dropping our codec is refused and the call stays up.
	d.reinvite(offerLines(30010, "8", "a=rtpmap:8 PCMA/8000"))
	res := p.response(488, sip.INVITE, 2*time.Second)
	d.p.send(d.message("ACK", res.Via().Params.GetOr("branch", ""), d.cseq, ""))
	select {
	case <-c.Done():
		t.Fatal("call ended by re-INVITE")
	case <-time.After(100 * time.Millisecond):
	}
	d.bye()
	p.response(200, sip.BYE, time.Second)
	waitDone(t, c, EndRemoteBye)
}

func originVersion(t *testing.T, body []byte) uint64 {
	t.Helper()
	for _, line := range strings.Split(string(body), "\r\n") {
		if f := strings.Fields(strings.TrimPrefix(line, "o=")); strings.HasPrefix(line, "o=") && len(f) == 6 {
			var v uint64
			fmt.Sscan(f[2], &v)
			return v
		}
	}
	t.Fatalf("no o= line in\n%s", body)
	return 0
}

func TestOptions(t *testing.T) {
	srv := startServer(t, Config{Handler: func(context.Context, *Invite) {}})
	p := newPeer(t, srv.Addr())
	d := p.newDialog()
	p.send(d.message("OPTIONS", newBranch(), 1, ""))
	res := p.response(200, sip.OPTIONS, time.Second)
	if h := res.GetHeader("Allow"); h == nil || !strings.Contains(h.Value(), "INVITE") || !strings.Contains(h.Value(), "BYE") {
		t.Errorf("Allow = %v", h)
	}
	if h := res.GetHeader("Accept"); h == nil || h.Value() != "application/sdp" {
		t.Errorf("Accept = %v", h)
	}

	// The same probe over TCP, on the same port.
	conn, err := net.DialTimeout("tcp", srv.Addr(), time.Second)
	if err != nil {
		t.Fatalf("tcp dial %s: %v", srv.Addr(), err)
	}
	defer conn.Close()
	msg := strings.Replace(d.message("OPTIONS", newBranch(), 2, ""), "SIP/2.0/UDP "+p.local.String(), "SIP/2.0/TCP "+conn.LocalAddr().String(), 1)
	if _, err := conn.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "SIP/2.0 200") {
		t.Fatalf("tcp OPTIONS: %q, %v", status, err)
	}
}

func TestCallsDoNotBlockEachOther(t *testing.T) {
	release := make(chan struct{})
	srv := startServer(t, Config{Handler: func(ctx context.Context, c *Invite) {
		if c.To == "slow" {
			select {
			case <-release:
			case <-ctx.Done():
			}
			return
		}
		if err := c.Answer(netip.MustParseAddrPort("127.0.0.1:4000"), c.Offer.Codecs[0], 0); err != nil {
			t.Errorf("Answer: %v", err)
		}
		<-ctx.Done()
	}})
	defer close(release)
	p := newPeer(t, srv.Addr())
	slow := p.newDialog()
	slow.p.send(strings.Replace(slow.message("INVITE", slow.branch, 1, slow.defaultOffer()), "+15550002222@", "slow@", 2))
	p.response(100, sip.INVITE, time.Second)

	fast := p.newDialog()
	start := time.Now()
	fast.invite(fast.defaultOffer())
	var got100 bool
	for !got100 || fast.toTag == "" {
		res, ok := p.recv(2 * time.Second).(*sip.Response)
		if !ok {
			t.Fatal("no response for the second call")
		}
		if res.CallID().Value() != fast.callID {
			continue
		}
		switch res.StatusCode {
		case 100:
			got100 = true
		case 200:
			fast.learn(res)
		}
	}
	if wait := time.Since(start); wait > 500*time.Millisecond {
		t.Fatalf("second call answered after %v", wait)
	}
	fast.ack2xx(1)
	fast.bye()
	p.response(200, sip.BYE, time.Second)
	slow.cancel()
	slow.ackNon2xx(p.response(487, sip.INVITE, 2*time.Second))
}

func TestAckTimeout(t *testing.T) {
	errs := make(chan error, 1)
	srv := startServer(t, Config{
		AckTimeout: 1200 * time.Millisecond,
		Handler: func(ctx context.Context, c *Invite) {
			errs <- c.Answer(netip.MustParseAddrPort("127.0.0.1:4000"), c.Offer.Codecs[0], 0)
		},
	})
	p := newPeer(t, srv.Addr())
	d := p.newDialog()
	d.invite(d.defaultOffer())
	start := time.Now()
	var oks []time.Duration
	var bye *sip.Request
	for bye == nil {
		switch m := p.recv(3 * time.Second).(type) {
		case *sip.Response:
			if m.StatusCode == 200 {
				oks = append(oks, time.Since(start))
			}
		case *sip.Request:
			if m.Method == sip.BYE {
				bye = m
			}
		case nil:
			t.Fatal("no BYE after ACK timeout")
		}
	}
	p.reply(bye, 200, "OK")
	if err := <-errs; !errors.Is(err, ErrAckTimeout) {
		t.Fatalf("Answer: %v", err)
	}
	// 200 at 0, retransmitted at ~0.5 s and ~1.5 s... cut at 1.2 s: 2 sends.
	if len(oks) < 2 {
		t.Fatalf("200 OK sent %d times (%v), want retransmissions", len(oks), oks)
	}
	if gap := oks[1] - oks[0]; gap < 400*time.Millisecond || gap > 700*time.Millisecond {
		t.Fatalf("first retransmission after %v, want T1 (500 ms)", gap)
	}
}

func TestShutdownEndsCalls(t *testing.T) {
	base := numGoroutines()
	answered := make(chan *Invite, 1)
	pending := make(chan *Invite, 1)
	s, err := NewServer(Config{Addr: "127.0.0.1:0", Handler: func(ctx context.Context, c *Invite) {
		if c.To == "wait" {
			pending <- c
			<-ctx.Done()
			return
		}
		if err := c.Answer(netip.MustParseAddrPort("127.0.0.1:4000"), c.Offer.Codecs[0], 0); err != nil {
			t.Errorf("Answer: %v", err)
		}
		answered <- c
		<-ctx.Done()
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- s.ListenAndServe(ctx) }()
	<-s.Ready()
	if err := s.ListenAndServe(ctx); !errors.Is(err, ErrServerStarted) {
		t.Fatalf("second ListenAndServe: %v", err)
	}

	p := newPeer(t, s.Addr())
	up := p.newDialog()
	up.answered(2 * time.Second)
	upCall := recvCall(t, answered)
	wait := p.newDialog()
	wait.p.send(strings.Replace(wait.message("INVITE", wait.branch, 1, wait.defaultOffer()), "+15550002222@", "wait@", 2))
	waitCall := recvCall(t, pending)

	cancel()
	var gotBye, got503 bool
	for !gotBye || !got503 {
		switch m := p.recv(3 * time.Second).(type) {
		case *sip.Request:
			if m.Method == sip.BYE && m.CallID().Value() == up.callID {
				gotBye = true
				p.reply(m, 200, "OK")
			}
		case *sip.Response:
			if m.StatusCode == 503 && m.CallID().Value() == wait.callID {
				got503 = true
				wait.ackNon2xx(m)
			}
		case nil:
			t.Fatalf("shutdown: bye=%v 503=%v", gotBye, got503)
		}
	}
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("ListenAndServe: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ListenAndServe did not return")
	}
	waitDone(t, upCall, EndLocalBye)
	waitDone(t, waitCall, EndRejected)
	p.conn.Close()
	checkGoroutines(t, base)
}

func TestUnknownDialog(t *testing.T) {
	srv := startServer(t, Config{Handler: func(context.Context, *Invite) {}})
	p := newPeer(t, srv.Addr())
	d := p.newDialog()
	d.toTag = "nosuchtag"
	d.bye()
	p.response(481, sip.BYE, time.Second)
	d.reinvite(d.defaultOffer())
	res := p.response(481, sip.INVITE, time.Second)
	d.p.send(d.message("ACK", res.Via().Params.GetOr("branch", ""), d.cseq, ""))
}

func TestNewServerConfig(t *testing.T) {
	if _, err := NewServer(Config{}); err == nil {
		t.Fatal("NewServer without Handler succeeded")
	}
	if _, err := NewServer(Config{Addr: "nope", Handler: func(context.Context, *Invite) {}}); err == nil {
		t.Fatal("NewServer with bad Addr succeeded")
	}
	s, err := NewServer(Config{Addr: "127.0.0.1:5099", Handler: func(context.Context, *Invite) {}})
	if err != nil {
		t.Fatal(err)
	}
	if s.publicIP != netip.MustParseAddr("127.0.0.1") || s.cfg.UserAgent != "callstream" || s.cfg.AckTimeout != 32*time.Second {
		t.Fatalf("defaults: ip %v ua %q ack %v", s.publicIP, s.cfg.UserAgent, s.cfg.AckTimeout)
	}
	if s.Addr() != "127.0.0.1:5099" {
		t.Fatalf("Addr before start = %q", s.Addr())
	}
}

// tcpPeer reads SIP messages framed by Content-Length from a TCP stream.
type tcpPeer struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func (p *tcpPeer) recv() sip.Message {
	p.t.Helper()
	p.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	var head strings.Builder
	length := 0
	for {
		line, err := p.r.ReadString('\n')
		if err != nil {
			p.t.Fatalf("tcp read: %v", err)
		}
		head.WriteString(line)
		if line == "\r\n" {
			break
		}
		if name, val, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(name), "Content-Length") {
			fmt.Sscan(strings.TrimSpace(val), &length)
		}
	}
	body := make([]byte, length)
	if _, err := io.ReadFull(p.r, body); err != nil {
		p.t.Fatalf("tcp body: %v", err)
	}
	msg, err := sip.ParseMessage(append([]byte(head.String()), body...))
	if err != nil {
		p.t.Fatalf("parse: %v", err)
	}
	return msg
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

func TestCallOverTCP(t *testing.T) {
	handler, calls := recvHandler(true)
	srv := startServer(t, Config{Handler: handler})
	conn, err := net.DialTimeout("tcp", srv.Addr(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	d, tp, send, ok := tcpCall(t, srv.Addr(), conn, "tcp")
	if tr, _ := ok.Contact().Address.UriParams.Get("transport"); tr != "tcp" {
		t.Fatalf("200 OK Contact %v, want transport=tcp", ok.Contact())
	}
	c := recvCall(t, calls)
	byeOver(t, d, tp, send)
	waitDone(t, c, EndRemoteBye)
}
