package sip

import (
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/callstream/callstream/internal/limit"
	"github.com/callstream/callstream/internal/limit/limittest"
)

// A draining server answers new INVITEs and OPTIONS 503 with Retry-After and
// counts the refused INVITE, while a call it has goes on: a re-INVITE in it
// is answered and the caller's BYE ends it.
func TestDrainRefusesNewCallsKeepsLiveOnes(t *testing.T) {
	handler, calls := recvHandler(true)
	srv := startServer(t, Config{Handler: handler})
	p := newPeer(t, srv.Addr())
	live := p.newDialog()
	live.answered(2 * time.Second)
	c := recvCall(t, calls)

	var refused limittest.Counts
	srv.Drain(2500*time.Millisecond, &refused)
	if !srv.Draining() {
		t.Fatal("Draining() false after Drain")
	}

	probe := p.newDialog()
	p.send(probe.message("OPTIONS", newBranch(), 1, ""))
	res := p.response(503, sip.OPTIONS, 2*time.Second)
	if h := res.GetHeader("Retry-After"); h == nil || h.Value() != "3" {
		t.Fatalf("OPTIONS 503 Retry-After = %v, want 3 (2.5 s rounded up)", h)
	}

	fresh := p.newDialog()
	fresh.invite(fresh.defaultOffer())
	res = p.response(503, sip.INVITE, 2*time.Second)
	fresh.ackNon2xx(res)
	if h := res.GetHeader("Retry-After"); h == nil || h.Value() != "3" {
		t.Fatalf("INVITE 503 Retry-After = %v, want 3", h)
	}
	if res.Reason != "Service Unavailable" {
		t.Fatalf("reason %q", res.Reason)
	}
	if n := refused.Get(limit.Draining); n != 1 {
		t.Fatalf("refusals counted %d, want 1", n)
	}

	// The live call goes on: a re-INVITE is answered, the BYE ends it.
	live.reinvite(live.defaultOffer())
	p.response(200, sip.INVITE, 2*time.Second)
	live.ack2xx(live.cseq)
	if c.EndCause() != EndNone {
		t.Fatalf("live call ended while draining: %v", c.EndCause())
	}
	live.bye()
	p.response(200, sip.BYE, 2*time.Second)
	waitDone(t, c, EndRemoteBye)
}
