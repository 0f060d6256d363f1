package sip

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/callstream/callstream/internal/logtest"
)

// accepted is what a handler's Accept returned.
type accepted struct {
	c   *Invite
	m   Media
	err error
}

// acceptHandler returns a handler that accepts every call on RTP port
// 40000 and reports what Accept returned.
func acceptHandler() (func(context.Context, *Invite), chan accepted) {
	results := make(chan accepted, 16)
	return func(ctx context.Context, c *Invite) {
		m, err := c.Accept(netip.MustParseAddrPort("127.0.0.1:40000"))
		results <- accepted{c, m, err}
		<-ctx.Done()
	}, results
}

// acceptingCalls returns a handler that accepts every call with its RTP
// at 127.0.0.1:42000 and passes it on the returned channel; with a moved
// channel, each call reports there where the caller's RTP moved to.
func acceptingCalls(t *testing.T, moved chan<- netip.AddrPort) (func(context.Context, *Invite), <-chan *Invite) {
	calls := make(chan *Invite, 1)
	return func(ctx context.Context, c *Invite) {
		if moved != nil {
			c.OnRemoteChange(func(a netip.AddrPort) { moved <- a })
		}
		if _, err := c.Accept(netip.MustParseAddrPort("127.0.0.1:42000")); err != nil {
			t.Errorf("Accept: %v", err)
		}
		calls <- c
		<-ctx.Done()
	}, calls
}

func recvAccepted(t *testing.T, results <-chan accepted) accepted {
	t.Helper()
	select {
	case a := <-results:
		return a
	case <-time.After(5 * time.Second):
		t.Fatal("Accept did not return")
		return accepted{}
	}
}

// ackWith acknowledges the 200 OK to the INVITE with CSeq cseq, carrying body.
func (d *dialog) ackWith(cseq int, body string) {
	d.p.send(d.message("ACK", newBranch(), cseq, body))
}

// expectNo fails if a request of method arrives within d; anything else
// is skipped.
func (p *peer) expectNo(method sip.RequestMethod, d time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return
		}
		if req, ok := p.recv(left).(*sip.Request); ok && req.Method == method {
			p.t.Fatalf("unexpected %s", method)
		}
	}
}

// responseNoBye is response, but a BYE arriving meanwhile fails the test.
func (p *peer) responseNoBye(code int, method sip.RequestMethod, timeout time.Duration) *sip.Response {
	p.t.Helper()
	return p.awaitResponse(code, method, timeout, true)
}

func header(m interface{ GetHeader(string) sip.Header }, name string) string {
	if h := m.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}

// An INVITE without SDP is answered with an offer of both G.711 laws and
// telephone-event; the codec the ACK's answer picks, by name and rate
// whatever its payload type, is the call's.
func TestLateOfferTakesTheACKsAnswer(t *testing.T) {
	handler, results := acceptHandler()
	srv := startServer(t, Config{Handler: handler})
	p := newPeer(t, srv.Addr())
	for name, tc := range map[string]struct {
		answer string
		want   Media
	}{
		"PCMU": {offerLines(30000, "0 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000", "a=sendrecv"),
			Media{Codec{"PCMU", 0, 8000, 1, ""}, 101, netip.MustParseAddrPort("127.0.0.1:30000"), 0, -1, 8000}},
		"dynamic A-law": {offerLines(30002, "96 97", "a=rtpmap:96 PCMA/8000", "a=rtpmap:97 telephone-event/8000"),
			Media{Codec{"PCMA", 96, 8000, 1, ""}, 97, netip.MustParseAddrPort("127.0.0.1:30002"), 8, -1, 8000}},
		"A-law without DTMF": {offerLines(30004, "8"),
			Media{Codec{"PCMA", 8, 8000, 1, ""}, 0, netip.MustParseAddrPort("127.0.0.1:30004"), 8, -1, 0}},
		"first usable codec": {offerLines(30006, "18 8 0", "a=rtpmap:18 G729/8000"),
			Media{Codec{"PCMA", 8, 8000, 1, ""}, 0, netip.MustParseAddrPort("127.0.0.1:30006"), 8, -1, 0}},
	} {
		t.Run(name, func(t *testing.T) {
			d := p.newDialog()
			d.invite("")
			ok := p.response(200, sip.INVITE, 3*time.Second)
			d.learn(ok)
			body := string(ok.Body())
			for _, line := range []string{"m=audio 40000 RTP/AVP " + gatewayOfferFormats(false) + "\r\n", "a=rtpmap:9 G722/8000\r\n", "a=rtpmap:13 CN/8000\r\n", "a=rtpmap:0 PCMU/8000\r\n", "a=rtpmap:8 PCMA/8000\r\n",
				"a=rtpmap:101 telephone-event/8000\r\n", "a=sendrecv\r\n"} {
				if !strings.Contains(body, line) {
					t.Errorf("offer in the 200 OK lacks %q:\n%s", line, body)
				}
			}
			if ct := header(ok, "Content-Type"); ct != "application/sdp" {
				t.Errorf("Content-Type %q", ct)
			}
			if allow := header(ok, "Allow"); !strings.Contains(allow, "UPDATE") {
				t.Errorf("Allow %q lacks UPDATE", allow)
			}
			d.ackWith(d.cseq, tc.answer)
			a := recvAccepted(t, results)
			if a.err != nil {
				t.Fatalf("Accept: %v", a.err)
			}
			if !a.c.LateOffer || len(a.c.Offer.Codecs) != 0 {
				t.Fatalf("LateOffer %v, Offer %+v", a.c.LateOffer, a.c.Offer)
			}
			if a.m != tc.want || a.c.Media() != tc.want {
				t.Fatalf("agreed %+v (Media() %+v), want %+v", a.m, a.c.Media(), tc.want)
			}
			if a.c.RemoteRTP() != tc.want.Remote {
				t.Fatalf("RemoteRTP %v", a.c.RemoteRTP())
			}
			d.bye()
			p.response(200, sip.BYE, time.Second)
			waitDone(t, a.c, EndRemoteBye)
		})
	}
}

// An ACK without a usable answer to the gateway's offer ends the call with
// BYE, and Accept says why.
func TestLateOfferWithoutUsableAnswerGetsBye(t *testing.T) {
	var logs logtest.Buffer
	handler, results := acceptHandler()
	srv := startServer(t, Config{Handler: handler, Logger: testLogger(&logs)})
	p := newPeer(t, srv.Addr())
	for name, answer := range map[string]string{
		"no answer":       "",
		"g729 only":       offerLines(30000, "18", "a=rtpmap:18 G729/8000"),
		"stream rejected": offerLines(0, "0"),
		"opus without /2": offerLines(30000, "111", "a=rtpmap:111 opus/48000"),
		"L16 at 16000 Hz": offerLines(30000, "100", "a=rtpmap:100 L16/16000"),
		"not sdp":         "hello",
	} {
		t.Run(name, func(t *testing.T) {
			d := p.newDialog()
			d.invite("")
			d.learn(p.response(200, sip.INVITE, 3*time.Second))
			d.ackWith(d.cseq, answer)
			bye := p.request(sip.BYE, 3*time.Second)
			if bye.CallID().Value() != d.callID {
				t.Fatal("BYE for another call")
			}
			p.reply(bye, 200, "OK")
			a := recvAccepted(t, results)
			if !errors.Is(a.err, ErrNoAnswer) {
				t.Fatalf("Accept: %v, want ErrNoAnswer", a.err)
			}
			waitDone(t, a.c, EndError)
		})
	}
	if !strings.Contains(logs.String(), "ACK carried no usable SDP answer") {
		t.Fatalf("no log line naming the problem:\n%s", logs.String())
	}
}

// While the gateway's offer waits for the ACK's answer, a new offer from
// the caller gets 491; the ACK then completes the call.
func TestLateOfferReinviteBeforeAnswerGets491(t *testing.T) {
	handler, results := acceptHandler()
	srv := startServer(t, Config{Handler: handler})
	p := newPeer(t, srv.Addr())
	d := p.newDialog()
	d.invite("")
	d.learn(p.response(200, sip.INVITE, 3*time.Second))
	d.reinvite(d.defaultOffer())
	res := p.response(491, sip.INVITE, 2*time.Second)
	d.p.send(d.message("ACK", res.Via().Params.GetOr("branch", ""), d.cseq, ""))
	d.ackWith(1, d.defaultOffer())
	a := recvAccepted(t, results)
	if a.err != nil || a.m.Codec.Name != "PCMU" {
		t.Fatalf("Accept: %+v, %v", a.m, a.err)
	}
	d.bye()
	p.response(200, sip.BYE, time.Second)
	waitDone(t, a.c, EndRemoteBye)
}

// A re-INVITE without SDP gets the current SDP as an offer; the answer in
// its ACK moves the caller's RTP address. An ACK without an answer leaves
// the session as it was.
func TestReinviteWithoutSDPTakesACKsAnswer(t *testing.T) {
	moved := make(chan netip.AddrPort, 1)
	handler, calls := acceptingCalls(t, moved)
	srv := startServer(t, Config{Handler: handler})
	p := newPeer(t, srv.Addr())
	d := p.newDialog()
	first := d.answered(2 * time.Second)
	c := recvCall(t, calls)
	v1 := originVersion(t, first.Body())

	d.reinvite("")
	offer := p.response(200, sip.INVITE, 2*time.Second)
	if !strings.Contains(string(offer.Body()), "m=audio 42000 RTP/AVP 0 101\r\n") || originVersion(t, offer.Body()) != v1+1 {
		t.Fatalf("offer in the re-INVITE's 200:\n%s", offer.Body())
	}
	answer := strings.Replace(offerLines(30010, "0 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000", "a=sendrecv"),
		"c=IN IP4 127.0.0.1", "c=IN IP4 127.0.0.2", 1)
	d.ackWith(d.cseq, answer)
	want := netip.MustParseAddrPort("127.0.0.2:30010")
	select {
	case a := <-moved:
		if a != want {
			t.Fatalf("OnRemoteChange(%v), want %v", a, want)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the ACK's answer was not taken")
	}
	if c.RemoteRTP() != want {
		t.Fatalf("RemoteRTP %v", c.RemoteRTP())
	}

	// An ACK without the answer: nothing changes, the call stays up.
	d.reinvite("")
	p.response(200, sip.INVITE, 2*time.Second)
	d.ack2xx(d.cseq)
	d.reinvite(offerLines(30010, "0", "a=rtpmap:0 PCMU/8000", "a=sendonly"))
	p.response(200, sip.INVITE, 2*time.Second)
	d.ack2xx(d.cseq)
	if c.RemoteRTP() != netip.MustParseAddrPort("127.0.0.1:30010") || c.RemoteOffer().Direction != DirSendOnly {
		t.Fatalf("after a re-INVITE with SDP: %v %q", c.RemoteRTP(), c.RemoteOffer().Direction)
	}
	select {
	case <-c.Done():
		t.Fatal("call ended")
	default:
	}
	d.bye()
	p.response(200, sip.BYE, time.Second)
	waitDone(t, c, EndRemoteBye)
}

// A hold is dated from the offer that started it; offering it again keeps
// the date, taking the call back clears it.
func TestHeldSince(t *testing.T) {
	handler, calls := acceptingCalls(t, nil)
	srv := startServer(t, Config{Handler: handler})
	p := newPeer(t, srv.Addr())
	d := p.newDialog()
	d.answered(2 * time.Second)
	c := recvCall(t, calls)
	if !c.HeldSince().IsZero() {
		t.Fatal("held from the start")
	}
	hold := func(body string) {
		d.reinvite(body)
		p.response(200, sip.INVITE, 2*time.Second)
		d.ack2xx(d.cseq)
	}
	before := time.Now()
	hold(offerLines(30000, "0", "a=inactive"))
	since := c.HeldSince()
	if since.Before(before) || since.After(time.Now()) {
		t.Fatalf("HeldSince %v, want about %v", since, before)
	}
	hold(strings.Replace(offerLines(30000, "0"), "c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0", 1)) // RFC 2543 hold
	if c.HeldSince() != since {
		t.Fatalf("HeldSince moved on a repeated hold: %v, was %v", c.HeldSince(), since)
	}
	if c.RemoteRTP() != netip.MustParseAddrPort("127.0.0.1:30000") {
		t.Fatalf("RemoteRTP %v after a 0.0.0.0 hold", c.RemoteRTP())
	}
	hold(offerLines(30000, "0", "a=sendrecv"))
	if !c.HeldSince().IsZero() {
		t.Fatal("still held after the call was taken back")
	}
	d.bye()
	p.response(200, sip.BYE, time.Second)
	waitDone(t, c, EndRemoteBye)
}
