package edge

// Per-call status callbacks: the app's answer to a document request names
// the call's own status callback URL in a response header.

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/servetest"
)

// requestsTo returns the requests app got whose URL starts with prefix.
func requestsTo(app *servetest.TwilioApp, prefix string) []servetest.TwilioRequest {
	var out []servetest.TwilioRequest
	for _, r := range app.Requests() {
		if strings.HasPrefix(r.URL, prefix) {
			out = append(out, r)
		}
	}
	return out
}

// A call whose document answer carries Callstream-Status-Callback sends
// its ringing, in-progress and completed there, numbered from 0 and
// signed; a call whose answer has no header sends it nothing. With
// --status-callback the gateway-wide receiver gets both calls' events as
// before; without it only the call's own URL gets any. The URL is
// absolute (another server) alone, relative (to the document) beside
// --status-callback.
func TestStatusCallbackFromAppAnswer(t *testing.T) {
	for _, wide := range []bool{false, true} {
		t.Run("gateway-wide="+strconv.FormatBool(wide), func(t *testing.T) {
			app := servetest.StartTwilioApp(t, twilioToken)
			own := servetest.StartTwilioApp(t, twilioToken)
			app.Doc("/voice", `<Response><Pause length="30"/></Response>`)
			app.Doc("/status", "ok")
			app.Doc("/own", "ok")
			own.Doc("/own", "ok")
			args := []string{"--app", app.HTTPURL("/voice"), "--app-dialect", "twilio", "--auth-token", twilioToken}
			ownURL, header := own.HTTPURL("/own"), own.HTTPURL("/own")
			if wide {
				args = append(args, "--status-callback", app.HTTPURL("/status"))
				ownURL, header = app.HTTPURL("/own"), "own"
			}
			p := servetest.Start(t, servetest.Options{Args: args})
			ownRecv := own
			if wide {
				ownRecv = app
			}
			owned := func() []servetest.TwilioRequest { return requestsTo(ownRecv, ownURL) }

			// The first call: no header.
			quiet, err := dialTwilio(t, p)
			if err != nil {
				t.Fatal(err)
			}
			if err := quiet.Hangup(servetest.Context(t, 5*time.Second)); err != nil {
				t.Fatal(err)
			}
			if wide {
				servetest.Eventually(t, 10*time.Second, "the first call's completed", func() bool {
					return len(requestsTo(app, app.HTTPURL("/status"))) >= 4
				})
			}

			// The second: the header.
			app.Header("/voice", "Callstream-Status-Callback", header)
			call, err := dialTwilio(t, p)
			if err != nil {
				t.Fatal(err)
			}
			servetest.Eventually(t, 10*time.Second, "in-progress to the call's URL", func() bool { return len(owned()) >= 2 })
			if err := call.Hangup(servetest.Context(t, 5*time.Second)); err != nil {
				t.Fatal(err)
			}
			servetest.Eventually(t, 10*time.Second, "completed to the call's URL", func() bool { return len(owned()) >= 3 })
			got := owned()
			voice := requestsTo(app, app.HTTPURL("/voice"))
			if len(voice) != 2 {
				t.Fatalf("%d document requests, want 2", len(voice))
			}
			sid := voice[1].Params.Get("CallSid")
			want := []string{"ringing", "in-progress", "completed"}
			if len(got) != len(want) {
				t.Fatalf("%d events to the call's URL, want %d", len(got), len(want))
			}
			for i, r := range got {
				f := r.Params
				if !r.Valid || r.Method != "POST" || f.Get("CallStatus") != want[i] || f.Get("SequenceNumber") != strconv.Itoa(i) ||
					f.Get("CallSid") != sid || f.Get("From") != "+15551112222" {
					t.Errorf("event %d: %s valid %v %v", i, r.Method, r.Valid, f)
				}
			}
			if d, err := strconv.Atoi(got[2].Params.Get("CallDuration")); err != nil || d < 1 || d > 60 {
				t.Errorf("CallDuration %q", got[2].Params.Get("CallDuration"))
			}
			if wide {
				servetest.Eventually(t, 10*time.Second, "both calls' events to --status-callback", func() bool {
					return len(requestsTo(app, app.HTTPURL("/status"))) >= 8
				})
				var seqs []string
				for _, r := range requestsTo(app, app.HTTPURL("/status")) {
					if r.Params.Get("CallSid") == sid {
						seqs = append(seqs, r.Params.Get("CallStatus")+"/"+r.Params.Get("SequenceNumber"))
					}
				}
				if g, w := strings.Join(seqs, " "), "initiated/0 ringing/1 in-progress/2 completed/3"; g != w {
					t.Errorf("--status-callback got %s for the second call, want %s", g, w)
				}
			}
		})
	}
}

// A header naming a URL the policy refuses (a cloud metadata address) is
// warned about once, with the call and the URL without its query, and
// counted; the call goes on.
func TestStatusCallbackFromAppAnswerRefused(t *testing.T) {
	app := servetest.StartTwilioApp(t, twilioToken)
	app.Doc("/voice", `<Response><Pause length="30"/></Response>`)
	app.Header("/voice", "Callstream-Status-Callback", "http://169.254.169.254/latest/meta-data?token=secret")
	p := servetest.Start(t, servetest.Options{Args: []string{"--app", app.HTTPURL("/voice"), "--app-dialect", "twilio",
		"--auth-token", twilioToken}})
	call, err := dialTwilio(t, p)
	if err != nil {
		t.Fatal(err)
	}
	sid := requestsTo(app, app.HTTPURL("/voice"))[0].Params.Get("CallSid")
	rec := p.WaitLog(t, "WARN", "fetch refused by the URL policy",
		map[string]string{"call_sid": sid, "url": "http://169.254.169.254/latest/meta-data"})
	if strings.Contains(rec["err"].(string), "secret") {
		t.Fatalf("the warning shows the query: %v", rec)
	}
	select {
	case <-call.Ended():
		t.Fatal("the call ended")
	default:
	}
	if err := call.Hangup(servetest.Context(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	// ringing, in-progress and completed each given up: one refusal.
	servetest.Eventually(t, 10*time.Second, "the three events given up", func() bool {
		return p.Metrics(t).Get("callstream_status_callbacks_failed_total") >= 3
	})
	if n := p.Refusals(t, "url_policy"); n != 1 {
		t.Fatalf("callstream_refusals_total{limit=url_policy} = %v after ringing, in-progress and completed, want 1", n)
	}
	if strings.Contains(p.Logs.String(), "secret") {
		t.Fatal("the logs show the URL's query")
	}
}
