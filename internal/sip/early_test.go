package sip

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// TestEarlyMediaThenAnswer: the 183 carries the answer Accept would send,
// and the 200 OK repeats it byte for byte (same o= session and version).
func TestEarlyMediaThenAnswer(t *testing.T) {
	local := netip.MustParseAddrPort("127.0.0.1:40010")
	type result struct {
		early, answered Media
		again           Media
		err             error
	}
	results := make(chan result, 1)
	proceed := make(chan struct{})
	srv := startServer(t, Config{Handler: func(ctx context.Context, c *Invite) {
		var r result
		func() {
			if r.early, r.err = c.EarlyMedia(local); r.err != nil {
				return
			}
			if r.again, r.err = c.EarlyMedia(local); r.err != nil {
				return
			}
			<-proceed
			r.answered, r.err = c.Accept(local)
		}()
		results <- r
		<-ctx.Done()
	}})
	p := newPeer(t, srv.Addr())
	d := p.newDialog()
	// PCMA first: the 183 answers with the caller's first codec.
	d.invite(offerLines(d.rtpPort, "8 0 101", "a=rtpmap:8 PCMA/8000", "a=rtpmap:0 PCMU/8000",
		"a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16", "a=sendrecv"))
	progress := p.response(183, sip.INVITE, 3*time.Second)
	if ct := progress.GetHeader("Content-Type"); ct == nil || ct.Value() != "application/sdp" {
		t.Fatalf("183 Content-Type %v", ct)
	}
	early := append([]byte(nil), progress.Body()...)
	for _, want := range []string{"m=audio 40010 RTP/AVP 8 101", "c=IN IP4 127.0.0.1", "a=rtpmap:8 PCMA/8000", "a=sendrecv"} {
		if !strings.Contains(string(early), want) {
			t.Errorf("183 SDP lacks %q:\n%s", want, early)
		}
	}
	close(proceed)
	ok := p.response(200, sip.INVITE, 3*time.Second)
	d.learn(ok)
	d.ack2xx(d.cseq)
	if !bytes.Equal(ok.Body(), early) {
		t.Errorf("200 OK SDP differs from the 183's:\n183:\n%s\n200:\n%s", early, ok.Body())
	}
	if tag183, _ := progress.To().Params.Get("tag"); tag183 == "" || tag183 != d.toTag {
		t.Errorf("183 To tag %q, 200 To tag %q: one early dialog expected", tag183, d.toTag)
	}
	r := <-results
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.early.Codec.Name != "PCMA" || r.early.DTMFType != 101 {
		t.Errorf("early media %+v", r.early)
	}
	if r.again != r.early || r.answered.Codec != r.early.Codec || r.answered.Remote != r.early.Remote {
		t.Errorf("media changed: early %+v, again %+v, answered %+v", r.early, r.again, r.answered)
	}
	d.bye()
	p.response(200, sip.BYE, 3*time.Second)
}

// TestEarlyMediaThenReject: a call with early media is still refused with
// a final response, never a BYE.
func TestEarlyMediaThenReject(t *testing.T) {
	errs := make(chan error, 3)
	srv := startServer(t, Config{Handler: func(ctx context.Context, c *Invite) {
		_, err := c.EarlyMedia(netip.MustParseAddrPort("127.0.0.1:40012"))
		errs <- err
		errs <- c.Reject(486, "busy")
		_, err = c.EarlyMedia(netip.MustParseAddrPort("127.0.0.1:40012"))
		errs <- err
	}})
	p := newPeer(t, srv.Addr())
	d := p.newDialog()
	d.invite(d.defaultOffer())
	p.response(183, sip.INVITE, 3*time.Second)
	res := p.awaitResponse(486, sip.INVITE, 3*time.Second, true)
	d.ackNon2xx(res)
	if err := <-errs; err != nil {
		t.Fatalf("EarlyMedia: %v", err)
	}
	if err := <-errs; err != nil {
		t.Fatalf("Reject: %v", err)
	}
	if err := <-errs; !errors.Is(err, ErrAlreadyResponded) && !errors.Is(err, ErrCallEnded) {
		t.Fatalf("EarlyMedia after the rejection: %v", err)
	}
}

// TestEarlyMediaLateOffer: an INVITE without SDP gets no 183; the call is
// still answered normally.
func TestEarlyMediaLateOffer(t *testing.T) {
	errs := make(chan error, 1)
	srv := startServer(t, Config{Handler: func(ctx context.Context, c *Invite) {
		_, err := c.EarlyMedia(netip.MustParseAddrPort("127.0.0.1:40014"))
		errs <- err
		_ = c.Reject(488, "no early media")
	}})
	p := newPeer(t, srv.Addr())
	d := p.newDialog()
	d.invite("")
	res := p.response(488, sip.INVITE, 3*time.Second)
	d.ackNon2xx(res)
	if err := <-errs; !errors.Is(err, ErrEarlyLateOffer) {
		t.Fatalf("EarlyMedia on a late offer: %v", err)
	}
}
