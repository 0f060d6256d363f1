package sip

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/callstream/callstream/internal/limit"
	"github.com/callstream/callstream/internal/limit/limittest"
	"github.com/callstream/callstream/internal/logtest"
)

func TestParseSessionExpires(t *testing.T) {
	for in, want := range map[string]struct {
		d         time.Duration
		refresher string
		bad       bool
	}{
		"1800":                  {d: 1800 * time.Second},
		" 90 ;refresher=uac":    {d: 90 * time.Second, refresher: "uac"},
		"120;REFRESHER=UAS;x=y": {d: 120 * time.Second, refresher: "uas"},
		"99999999999":           {d: maxSessionExpires},
		"":                      {bad: true},
		"-5":                    {bad: true},
		"soon":                  {bad: true},
		"90;refresher=proxy":    {bad: true},
		"1e9":                   {bad: true},
		"1234567890123456":      {bad: true},
	} {
		d, r, err := parseSessionExpires(in)
		switch {
		case want.bad && err == nil:
			t.Errorf("%q: accepted as %v %q", in, d, r)
		case want.bad:
			if !strings.Contains(err.Error(), "Session-Expires") {
				t.Errorf("%q: error %q does not name the header", in, err)
			}
		case err != nil:
			t.Errorf("%q: %v", in, err)
		case d != want.d || r != want.refresher:
			t.Errorf("%q: %v %q, want %v %q", in, d, r, want.d, want.refresher)
		}
	}
}

func TestNegotiateSession(t *testing.T) {
	minSE := 90 * time.Second
	for name, tc := range map[string]struct {
		ask       sessionAsk
		interval  time.Duration
		refresher string
		require   bool
		tooSmall  bool
	}{
		"none asked":               {ask: sessionAsk{}},
		"supported only":           {ask: sessionAsk{supported: true}, require: true},
		"caller refreshes":         {ask: sessionAsk{asked: true, expires: 1800 * time.Second, supported: true}, interval: 1800 * time.Second, refresher: "uac", require: true},
		"caller names the gateway": {ask: sessionAsk{asked: true, expires: 600 * time.Second, refresher: "uas", supported: true}, interval: 600 * time.Second, refresher: "uas", require: true},
		"proxy asked, no support":  {ask: sessionAsk{asked: true, expires: 600 * time.Second}, interval: 600 * time.Second, refresher: "uas"},
		"exactly Min-SE":           {ask: sessionAsk{asked: true, expires: 90 * time.Second, supported: true}, interval: 90 * time.Second, refresher: "uac", require: true},
		"below Min-SE":             {ask: sessionAsk{asked: true, expires: 89 * time.Second, supported: true}, tooSmall: true},
		"below Min-SE, no support": {ask: sessionAsk{asked: true, expires: 30 * time.Second}, tooSmall: true},
		"zero":                     {ask: sessionAsk{asked: true, supported: true}, tooSmall: true},
	} {
		t.Run(name, func(t *testing.T) {
			st, err := negotiateSession(tc.ask, minSE)
			if tc.tooSmall {
				var re *refusal
				if !errors.As(err, &re) || re.code != 422 || len(re.hdrs) != 1 || re.hdrs[0].Value() != "90" {
					t.Fatalf("want 422 with Min-SE: 90, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if st.interval != tc.interval || st.refresher != tc.refresher || st.require != tc.require {
				t.Fatalf("got %v %q require=%v", st.interval, st.refresher, st.require)
			}
		})
	}
}

func TestGiveUpAfter(t *testing.T) {
	for in, want := range map[time.Duration]time.Duration{
		1800 * time.Second: 1768 * time.Second, // 32 s before
		90 * time.Second:   60 * time.Second,   // a third before
		3 * time.Second:    2 * time.Second,
	} {
		if got := giveUpAfter(in); got != want {
			t.Errorf("giveUpAfter(%v) = %v, want %v", in, got, want)
		}
	}
}

// An INVITE asking for a session interval below Min-SE gets 422 with the
// server's Min-SE, without reaching the handler, and is counted; a
// malformed Session-Expires gets 400 naming it.
func TestSessionIntervalTooSmallGets422(t *testing.T) {
	for name, tc := range map[string]struct {
		minSE  time.Duration
		header string
		code   int
		minHdr string
	}{
		"default Min-SE": {0, "Session-Expires: 60", 422, "90"},
		"configured":     {2 * time.Second, "Session-Expires: 1;refresher=uac", 422, "2"},
		"compact form":   {0, "x: 30", 422, "90"},
		"malformed":      {0, "Session-Expires: forever", 400, ""},
	} {
		t.Run(name, func(t *testing.T) {
			var called int
			var counts limittest.Counts
			srv := startServer(t, Config{Handler: func(context.Context, *Invite) { called++ }, Limits: limit.Limits{SessionMinSE: tc.minSE}, Refusals: &counts})
			p := newPeer(t, srv.Addr())
			d := p.newDialog()
			d.invite(d.defaultOffer(), tc.header, "Supported: timer")
			res := p.response(tc.code, sip.INVITE, 3*time.Second)
			d.ackNon2xx(res)
			if got := header(res, "Min-SE"); got != tc.minHdr {
				t.Fatalf("Min-SE %q, want %q", got, tc.minHdr)
			}
			if tc.code == 422 && res.Reason != "Session Interval Too Small" {
				t.Fatalf("reason %q", res.Reason)
			}
			if tc.code == 400 && !strings.Contains(header(res, "Warning"), "Session-Expires") {
				t.Fatalf("Warning %q does not name the header", header(res, "Warning"))
			}
			want := 0
			if tc.code == 422 {
				want = 1
			}
			if got := counts.Get(limit.SessionMinSE); got != want {
				t.Fatalf("counted %d, want %d", got, want)
			}
			if called != 0 {
				t.Fatal("handler ran")
			}
		})
	}
}

// A session the caller said it would refresh and did not is ended with
// BYE before it expires (RFC 4028 section 10), counted and logged.
func TestSessionTimerExpiryByes(t *testing.T) {
	var logs logtest.Buffer
	var counts limittest.Counts
	handler, calls := recvHandler(true)
	srv := startServer(t, Config{Handler: handler, Limits: limit.Limits{SessionMinSE: time.Second}, Refusals: &counts, Logger: testLogger(&logs)})
	p := newPeer(t, srv.Addr())
	d := p.newDialog()
	d.invite(d.defaultOffer(), "Session-Expires: 2;refresher=uac", "Supported: timer")
	ok := p.response(200, sip.INVITE, 3*time.Second)
	d.learn(ok)
	d.ack2xx(d.cseq)
	acked := time.Now()
	if se := header(ok, "Session-Expires"); se != "2;refresher=uac" {
		t.Fatalf("Session-Expires %q", se)
	}
	if req := header(ok, "Require"); req != "timer" {
		t.Fatalf("Require %q", req)
	}
	c := recvCall(t, calls)
	bye := p.request(sip.BYE, 6*time.Second)
	if waited := time.Since(acked); waited < time.Second {
		t.Fatalf("BYE after %v: before the session could expire", waited)
	}
	p.reply(bye, 200, "OK")
	waitDone(t, c, EndSessionExpired)
	if n := counts.Get(limit.SessionExpired); n != 1 {
		t.Fatalf("counted %d expiries", n)
	}
	if !strings.Contains(logs.String(), "session timer expired") {
		t.Fatalf("no log line:\n%s", logs.String())
	}
}

// Refreshes by UPDATE (with and without SDP) and re-INVITE keep the call up
// past its session interval; once they stop, the session expires.
func TestSessionRefreshKeepsCall(t *testing.T) {
	var counts limittest.Counts
	handler, calls := recvHandler(true)
	srv := startServer(t, Config{Handler: handler, Limits: limit.Limits{SessionMinSE: time.Second}, Refusals: &counts})
	p := newPeer(t, srv.Addr())
	d := p.newDialog()
	d.invite(d.defaultOffer(), "Session-Expires: 4;refresher=uac", "Supported: timer")
	d.learn(p.response(200, sip.INVITE, 3*time.Second))
	d.ack2xx(d.cseq)
	c := recvCall(t, calls)
	start := time.Now()
	for i := 0; time.Since(start) < 5*time.Second; i++ {
		// A refresh every 0.6 s; without them the BYE comes 2.7 s after the answer.
		tick := time.NewTimer(600 * time.Millisecond)
		<-tick.C
		d.cseq++
		switch i % 3 {
		case 0:
			p.send(d.message("UPDATE", newBranch(), d.cseq, "", "Session-Expires: 4;refresher=uac", "Supported: timer"))
			res := p.responseNoBye(200, sip.UPDATE, 2*time.Second)
			if se := header(res, "Session-Expires"); se != "4;refresher=uac" || len(res.Body()) != 0 {
				t.Fatalf("UPDATE 200: Session-Expires %q, body %q", se, res.Body())
			}
		case 1:
			p.send(d.message("UPDATE", newBranch(), d.cseq, d.defaultOffer(), "Session-Expires: 4;refresher=uac", "Supported: timer"))
			res := p.responseNoBye(200, sip.UPDATE, 2*time.Second)
			if !strings.Contains(string(res.Body()), "m=audio 40000 RTP/AVP 0 101") {
				t.Fatalf("UPDATE with an offer answered:\n%s", res.Body())
			}
		case 2:
			p.send(d.message("INVITE", newBranch(), d.cseq, d.defaultOffer(), "Session-Expires: 4;refresher=uac", "Supported: timer"))
			res := p.responseNoBye(200, sip.INVITE, 2*time.Second)
			if se := header(res, "Session-Expires"); se != "4;refresher=uac" {
				t.Fatalf("re-INVITE 200: Session-Expires %q", se)
			}
			d.ack2xx(d.cseq)
		}
	}
	select {
	case <-c.Done():
		t.Fatalf("call ended (%v) while refreshed", c.EndCause())
	default:
	}
	bye := p.request(sip.BYE, 6*time.Second)
	p.reply(bye, 200, "OK")
	waitDone(t, c, EndSessionExpired)
	if n := counts.Get(limit.SessionExpired); n != 1 {
		t.Fatalf("counted %d expiries", n)
	}
}

// When the caller names the gateway the refresher, the gateway refreshes
// at half the interval (re-INVITE, or UPDATE when the caller allows it);
// a caller that stops answering has its session ended with BYE.
func TestGatewayRefreshesSession(t *testing.T) {
	for name, tc := range map[string]struct {
		allow  string
		method sip.RequestMethod
	}{
		"re-INVITE": {"", sip.INVITE},
		"UPDATE":    {"Allow: INVITE, ACK, BYE, CANCEL, UPDATE", sip.UPDATE},
	} {
		t.Run(name, func(t *testing.T) {
			handler, calls := recvHandler(true)
			srv := startServer(t, Config{Handler: handler, Limits: limit.Limits{SessionMinSE: time.Second}})
			p := newPeer(t, srv.Addr())
			d := p.newDialog()
			extra := []string{"Session-Expires: 3;refresher=uas", "Supported: timer"}
			if tc.allow != "" {
				extra = append(extra, tc.allow)
			}
			d.invite(d.defaultOffer(), extra...)
			ok := p.response(200, sip.INVITE, 3*time.Second)
			d.learn(ok)
			d.ack2xx(d.cseq)
			if se := header(ok, "Session-Expires"); se != "3;refresher=uas" {
				t.Fatalf("Session-Expires %q", se)
			}
			c := recvCall(t, calls)
			for range 2 {
				req := p.request(tc.method, 4*time.Second)
				if se := header(req, "Session-Expires"); se != "3;refresher=uas" {
					t.Fatalf("refresh Session-Expires %q", se)
				}
				res := sip.NewResponseFromRequest(req, 200, "OK", nil)
				res.AppendHeader(sip.NewHeader("Session-Expires", "3;refresher=uas"))
				if tc.method == sip.INVITE {
					if !strings.Contains(string(req.Body()), "m=audio 40000 RTP/AVP 0 101") {
						t.Fatalf("refresh re-INVITE offer:\n%s", req.Body())
					}
					res.SetBody([]byte(d.defaultOffer()))
					res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
				}
				p.send(res.String())
				if tc.method == sip.INVITE {
					p.request(sip.ACK, 2*time.Second)
				}
			}
			select {
			case <-c.Done():
				t.Fatalf("call ended (%v) while refreshed", c.EndCause())
			default:
			}
			// The caller vanishes: the next refresh goes unanswered.
			p.request(tc.method, 4*time.Second)
			bye := p.request(sip.BYE, 6*time.Second)
			p.reply(bye, 200, "OK")
			waitDone(t, c, EndSessionExpired)
		})
	}
}

// Whatever a Session-Expires header holds, parsing returns with an
// interval within bounds or an error naming the header.
func FuzzParseSessionExpires(f *testing.F) {
	for _, s := range []string{"1800", "90;refresher=uac", "120;refresher=UAS;x", "", ";;;", "99999999999999999999", "7;refresher="} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d, r, err := parseSessionExpires(v)
		if err != nil {
			if !strings.Contains(err.Error(), "Session-Expires") {
				t.Fatalf("error %q does not name the header", err)
			}
			return
		}
		if d < 0 || d > maxSessionExpires || (r != "" && r != refresherUAC && r != refresherUAS) {
			t.Fatalf("%q: %v %q", v, d, r)
		}
	})
}

// A flood of INVITEs with too small an interval is refused and counted
// one by one, but logged at most once a second.
func TestSessionRefusalLogsRateLimited(t *testing.T) {
	var logs logtest.Buffer
	var counts limittest.Counts
	srv := startServer(t, Config{Handler: func(context.Context, *Invite) {}, Refusals: &counts, Logger: testLogger(&logs)})
	p := newPeer(t, srv.Addr())
	start := time.Now()
	const n = 20
	for range n {
		d := p.newDialog()
		d.invite(d.defaultOffer(), "Session-Expires: 30", "Supported: timer")
		d.ackNon2xx(p.response(422, sip.INVITE, 3*time.Second))
	}
	if got := counts.Get(limit.SessionMinSE); got != n {
		t.Fatalf("counted %d refusals, want %d", got, n)
	}
	lines := strings.Count(logs.String(), "session interval too small")
	if max := 1 + int(time.Since(start)/time.Second); lines < 1 || lines > max {
		t.Fatalf("%d log lines for %d refusals in %v", lines, n, time.Since(start))
	}
}
