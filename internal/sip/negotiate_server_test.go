package sip

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/logtest"
)

// answerCase is an INVITE's offer and what the gateway answers it with.
type answerCase struct {
	offer []string // m= formats, then attribute lines
	lines []string // the 200 OK's SDP must hold these lines
	lacks []string // and none of these
	want  Media    // Remote is filled in
}

// runAnswerCases sends each case's offer in an INVITE to a server whose
// handler calls Accept, checks the 200 OK's SDP and what Accept agreed, and
// ends the call.
func runAnswerCases(t *testing.T, cfg Config, cases map[string]answerCase) *logtest.Buffer {
	t.Helper()
	logs := &logtest.Buffer{}
	handler, results := acceptHandler()
	cfg.Handler, cfg.Logger = handler, testLogger(logs)
	srv := startServer(t, cfg)
	p := newPeer(t, srv.Addr())
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			d := p.newDialog()
			d.invite(offerLines(30000, tc.offer[0], tc.offer[1:]...))
			ok := p.response(200, sip.INVITE, 3*time.Second)
			d.learn(ok)
			d.ack2xx(d.cseq)
			body := string(ok.Body())
			for _, line := range tc.lines {
				if !strings.Contains(body, line+"\r\n") {
					t.Errorf("answer lacks %q:\n%s", line, body)
				}
			}
			for _, line := range tc.lacks {
				if strings.Contains(body, line) {
					t.Errorf("answer has %q:\n%s", line, body)
				}
			}
			a := recvAccepted(t, results)
			if a.err != nil {
				t.Fatalf("Accept: %v", a.err)
			}
			tc.want.Remote = netip.MustParseAddrPort("127.0.0.1:30000")
			if a.m != tc.want || a.c.Media() != tc.want {
				t.Errorf("agreed %+v, want %+v", a.m, tc.want)
			}
			d.bye()
			p.response(200, sip.BYE, time.Second)
			waitDone(t, a.c, EndRemoteBye)
		})
	}
	return logs
}

// The answer names the codec as the caller did, on the caller's payload
// type: a dynamic A-law is A-law, a lone G722 is G722; the caller's order
// decides; telephone-event and CN/8000 offered are kept.
func TestAnswerByName(t *testing.T) {
	logs := runAnswerCases(t, Config{}, map[string]answerCase{
		"only 96 PCMA": {
			offer: []string{"96", "a=rtpmap:96 PCMA/8000"},
			lines: []string{"m=audio 40000 RTP/AVP 96", "a=rtpmap:96 PCMA/8000"},
			lacks: []string{"telephone-event", "CN/8000"},
			want:  Media{Codec: pcma(96), OfferedType: 96, CNType: -1},
		},
		"only 9 G722": {
			offer: []string{"9", "a=rtpmap:9 G722/8000"},
			lines: []string{"m=audio 40000 RTP/AVP 9", "a=rtpmap:9 G722/8000"},
			want:  Media{Codec: g722(9), OfferedType: 9, CNType: -1},
		},
		"caller's order, DTMF and CN kept": {
			offer: []string{"0 9 100 13", "a=rtpmap:100 telephone-event/8000"},
			lines: []string{"m=audio 40000 RTP/AVP 0 100 13", "a=rtpmap:100 telephone-event/8000", "a=rtpmap:13 CN/8000"},
			want:  Media{Codec: pcmu(0), OfferedType: 0, DTMFType: 100, DTMFClock: 8000, CNType: 13},
		},
		"unknown codecs first": {
			offer: []string{"18 97 118 8", "a=rtpmap:18 G729/8000", "a=rtpmap:97 G722/8000", "a=rtpmap:118 CN/8000"},
			lines: []string{"m=audio 40000 RTP/AVP 97 118", "a=rtpmap:97 G722/8000", "a=rtpmap:118 CN/8000"},
			lacks: []string{"G729", "PCMA"},
			want:  Media{Codec: g722(97), OfferedType: 97, CNType: 118},
		},
	})
	if logs.Find("INFO", "call answered", map[string]string{"codec": "G722/8000(16000)", "payload_type": "9"}) == nil {
		t.Errorf("no \"call answered\" line with codec G722/8000(16000) and payload_type 9:\n%s", logs.String())
	}
	if logs.Find("INFO", "call answered", map[string]string{"codec": "PCMA/8000", "payload_type": "96"}) == nil {
		t.Errorf("no \"call answered\" line with codec PCMA/8000 and payload_type 96:\n%s", logs.String())
	}
}

// With PreferWideband a wideband codec offered anywhere wins.
func TestAnswerPreferWideband(t *testing.T) {
	cases := map[string]answerCase{
		"G722 last": {
			offer: []string{"0 8 9 101 13", "a=rtpmap:101 telephone-event/8000"},
			lines: []string{"m=audio 40000 RTP/AVP 9 101 13", "a=rtpmap:9 G722/8000"},
			want:  Media{Codec: g722(9), OfferedType: 9, DTMFType: 101, DTMFClock: 8000, CNType: 13},
		},
		"narrowband only": {
			offer: []string{"8 0"},
			lines: []string{"m=audio 40000 RTP/AVP 8"},
			want:  Media{Codec: pcma(8), OfferedType: 8, CNType: -1},
		},
	}
	if codec.OpusAvailable {
		// Opus: telephone-event at its 48000 clock, no CN/8000, the
		// gateway's own fmtp (RFC 7587).
		cases["opus with DTMF at 48000"] = answerCase{
			offer: []string{"0 111 101 102 13", "a=rtpmap:111 opus/48000/2", "a=fmtp:111 useinbandfec=1;stereo=1",
				"a=rtpmap:101 telephone-event/8000", "a=rtpmap:102 telephone-event/48000"},
			lines: []string{"m=audio 40000 RTP/AVP 111 102", "a=rtpmap:111 opus/48000/2", "a=fmtp:111 " + opusFmtp,
				"a=rtpmap:102 telephone-event/48000"},
			lacks: []string{"CN/8000", "stereo=1", "telephone-event/8000"},
			want: Media{Codec: opus(111, "useinbandfec=1;stereo=1"), OfferedType: 111, DTMFType: 102, DTMFClock: 48000,
				CNType: -1},
		}
		cases["opus with DTMF at 8000 only"] = answerCase{
			offer: []string{"111 101", "a=rtpmap:111 opus/48000/2", "a=rtpmap:101 telephone-event/8000"},
			lines: []string{"m=audio 40000 RTP/AVP 111 101", "a=rtpmap:101 telephone-event/8000"},
			want:  Media{Codec: opus(111, ""), OfferedType: 111, DTMFType: 101, DTMFClock: 8000, CNType: -1},
		}
	}
	runAnswerCases(t, Config{PreferWideband: true}, cases)
}

// A late offer with PreferWideband puts G722 (and opus) first; the ACK's
// answer is read by name, and the CN it kept is the call's.
func TestLateOfferPreferWideband(t *testing.T) {
	handler, results := acceptHandler()
	srv := startServer(t, Config{Handler: handler, PreferWideband: true})
	p := newPeer(t, srv.Addr())
	d := p.newDialog()
	d.invite("")
	ok := p.response(200, sip.INVITE, 3*time.Second)
	d.learn(ok)
	if line := "m=audio 40000 RTP/AVP " + gatewayOfferFormats(true) + "\r\n"; !strings.Contains(string(ok.Body()), line) {
		t.Fatalf("offer lacks %q:\n%s", line, ok.Body())
	}
	if !strings.HasPrefix(gatewayOfferFormats(true), "9 ") {
		t.Fatalf("wideband-first offer %q does not start with G722", gatewayOfferFormats(true))
	}
	d.ackWith(d.cseq, offerLines(30000, "99 101 13", "a=rtpmap:99 G722/8000", "a=rtpmap:101 telephone-event/8000"))
	a := recvAccepted(t, results)
	if a.err != nil {
		t.Fatal(a.err)
	}
	want := Media{Codec: g722(99), DTMFType: 101, DTMFClock: 8000, Remote: netip.MustParseAddrPort("127.0.0.1:30000"),
		OfferedType: 9, CNType: 13}
	if a.m != want {
		t.Fatalf("agreed %+v, want %+v", a.m, want)
	}
	d.bye()
	p.response(200, sip.BYE, time.Second)
	waitDone(t, a.c, EndRemoteBye)
}

// A re-offer that still lists the call's codec keeps it, whatever else it
// prefers; one without it gets 488 with a log line naming the problem, and
// the call goes on. Telephone-event and CN follow what the re-offer lists.
func TestReofferKeepsCodec(t *testing.T) {
	logs := &logtest.Buffer{}
	handler, calls := acceptingCalls(t, nil)
	srv := startServer(t, Config{Handler: handler, Logger: testLogger(logs), PreferWideband: true})
	p := newPeer(t, srv.Addr())
	d := p.newDialog()
	d.invite(offerLines(30000, "0 9 101 13", "a=rtpmap:101 telephone-event/8000"))
	d.learn(p.response(200, sip.INVITE, 3*time.Second))
	d.ack2xx(d.cseq)
	c := recvCall(t, calls)
	agreed := c.Media()
	if agreed.Codec != g722(9) {
		t.Fatalf("agreed %v, want G722", agreed.Codec)
	}

	for _, step := range []struct {
		name    string
		formats string
		attrs   []string
		code    int
		mline   string
	}{
		{"PCMU now first", "0 9 101 13", []string{"a=rtpmap:101 telephone-event/8000"}, 200, "m=audio 42000 RTP/AVP 9 101 13"},
		{"without DTMF and CN", "8 9", nil, 200, "m=audio 42000 RTP/AVP 9"},
		{"G722 renumbered", "97", []string{"a=rtpmap:97 G722/8000"}, 488, ""},
		{"G722 gone", "0 8", nil, 488, ""},
		{"update keeps G722", "9 13", nil, 200, "m=audio 42000 RTP/AVP 9 13"},
	} {
		body := offerLines(30000, step.formats, step.attrs...)
		if step.name == "update keeps G722" {
			d.cseq++
			p.send(d.message("UPDATE", newBranch(), d.cseq, body))
			res := p.response(step.code, sip.UPDATE, 2*time.Second)
			if !strings.Contains(string(res.Body()), step.mline+"\r\n") {
				t.Errorf("%s: answer lacks %q:\n%s", step.name, step.mline, res.Body())
			}
			continue
		}
		d.reinvite(body)
		res := p.response(step.code, sip.INVITE, 2*time.Second)
		if step.code != 200 {
			p.send(d.message("ACK", res.Via().Params.GetOr("branch", ""), d.cseq, ""))
			continue
		}
		d.ack2xx(d.cseq)
		if !strings.Contains(string(res.Body()), step.mline+"\r\n") {
			t.Errorf("%s: answer lacks %q:\n%s", step.name, step.mline, res.Body())
		}
	}
	if m := c.Media(); m != agreed {
		t.Errorf("media changed mid-call: %+v, was %+v", m, agreed)
	}
	if logs.Find("INFO", "re-INVITE refused", map[string]string{"status": "488", "error": "drops the call's codec G722/8000 pt 9"}) == nil {
		t.Errorf("no log line naming the dropped codec:\n%s", logs.String())
	}
	select {
	case <-c.Done():
		t.Fatalf("call ended by a re-offer (cause %v)", c.EndCause())
	default:
	}
	d.bye()
	p.response(200, sip.BYE, time.Second)
	waitDone(t, c, EndRemoteBye)
}

// Dial offers the gateway's codecs (wideband first with PreferWideband)
// with telephone-event and CN, and reads the callee's answer by name.
func TestDialOffersWideband(t *testing.T) {
	for _, tc := range []struct {
		name         string
		dialerWide   bool
		calleeWide   bool
		firstOffered string
		want         Codec
	}{
		{"callee prefers wideband", false, true, "PCMU", g722(9)},
		{"dialer offers wideband first", true, false, "G722", g722(9)},
		{"neither", false, false, "PCMU", pcmu(0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := make(chan *Invite, 1)
			b := startServer(t, Config{PreferWideband: tc.calleeWide, Handler: func(ctx context.Context, c *Invite) {
				calls <- c
				if _, err := c.Accept(netip.MustParseAddrPort("127.0.0.1:40000")); err != nil {
					c.Logger().Error("accept", "error", err)
				}
				<-ctx.Done()
			}})
			a := startServer(t, Config{PreferWideband: tc.dialerWide, Handler: func(context.Context, *Invite) {}})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			o, err := a.Dial(ctx, DialConfig{Target: "sip:bob@" + b.Addr(), LocalRTP: localRTP})
			if err != nil {
				t.Fatal(err)
			}
			in := recvCall(t, calls)
			if got := codecNames(in.Offer.Codecs); got != codecNames(gatewayCodecs(tc.dialerWide)) ||
				in.Offer.Codecs[0].Name != tc.firstOffered || in.Offer.CNType != cnStaticType || in.Offer.DTMFType != dtmfOfferType {
				t.Errorf("offer %s CN %d DTMF %d", got, in.Offer.CNType, in.Offer.DTMFType)
			}
			if o.Codec != tc.want || o.CNType != cnStaticType || o.DTMFType != dtmfOfferType || o.DTMFClock != 8000 {
				t.Errorf("agreed %v CN %d DTMF %d/%d, want %v CN 13 DTMF 101/8000", o.Codec, o.CNType, o.DTMFType, o.DTMFClock, tc.want)
			}
			if o.Codec.Format() != tc.want.Format() {
				t.Errorf("format %v", o.Codec.Format())
			}
			if err := o.Hangup(ctx); err != nil {
				t.Fatal(err)
			}
			waitDone(t, in, EndRemoteBye)
		})
	}
}
