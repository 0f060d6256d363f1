package edge

// Twilio apps unmodified: the Twilio app dialect's form-encoded, signed
// requests and Twilio's ids, checked by a Twilio-style app that validates
// every signature.

import (
	"encoding/json"
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/gatewaytest"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipcaller"
)

const (
	twilioToken   = "0123456789abcdef-test-auth-token"
	twilioAccount = "AC0123456789abcdef0123456789abcdef"
)

var (
	callSidShape   = regexp.MustCompile(`^CA[0-9a-f]{32}$`)
	streamSidShape = regexp.MustCompile(`^MZ[0-9a-f]{32}$`)
)

// dialTwilio places a call from 15551112222 to 15553334444 into p.
func dialTwilio(t *testing.T, p *servetest.Proc) (*sipcaller.Call, error) {
	t.Helper()
	caller, err := sipcaller.NewClient(sipcaller.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { caller.Close() })
	c, err := caller.Dial(servetest.Context(t, 10*time.Second),
		sipcaller.Config{Target: p.SIPAddr(), From: "15551112222", To: "15553334444", FromDisplay: "Ann"})
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// Under --stream-dialect twilio (the app dialect follows), the app gets a
// signed form POST with Twilio's fields, a redirect's signed GET with them
// in the query, and a signed stream upgrade; the stream's start carries the
// same CallSid and AccountSid and an MZ… streamSid. The app validates
// every signature and would refuse a bad one.
func TestTwilioAppValidatesEverySignature(t *testing.T) {
	app := servetest.StartTwilioApp(t, twilioToken)
	app.Doc("/voice", `<Response><Redirect method="GET">/next?step=2</Redirect></Response>`)
	app.Doc("/next", `<Response><Start><Stream url="{{WS}}/media" statusCallback="{{App}}/status"/></Start><Pause length="30"/></Response>`)
	app.Doc("/status", "ok")
	p := servetest.Start(t, servetest.Options{Args: []string{"--app", app.HTTPURL("/voice"),
		"--stream-dialect", "twilio", "--account-sid", twilioAccount, "--auth-token", twilioToken}})

	call, err := dialTwilio(t, p)
	if err != nil {
		t.Fatal(err)
	}
	conn := servetest.ConnTo(t, app.Server, "/media")
	if err := conn.WaitFor(servetest.Context(t, 10*time.Second), 2); err != nil { // connected, start
		t.Fatal(err)
	}
	var reqs []servetest.TwilioRequest
	servetest.Eventually(t, 10*time.Second, "the stream's status callback", func() bool {
		reqs = app.Requests()
		return len(reqs) >= 4
	})
	if len(reqs) != 4 {
		t.Fatalf("the app got %d requests, want 4 (POST, GET, upgrade, stream-started): %+v", len(reqs), reqs)
	}
	for i, r := range reqs {
		if !r.Valid {
			t.Fatalf("request %d (%s %s) has no valid X-Twilio-Signature", i, r.Method, r.URL)
		}
	}
	post, get, up, status := reqs[0], reqs[1], reqs[2], reqs[3]
	if status.Method != "POST" || status.Params.Get("StreamEvent") != "stream-started" || status.Params.Get("AccountSid") != twilioAccount {
		t.Errorf("status callback %s %s %v", status.Method, status.URL, status.Params)
	}
	if post.Method != "POST" || get.Method != "GET" || !up.Upgrade {
		t.Fatalf("requests %s, %s, upgrade %v", post.Method, get.Method, up.Upgrade)
	}
	sid := post.Params.Get("CallSid")
	if !callSidShape.MatchString(sid) {
		t.Fatalf("CallSid %q, want CA and 32 lowercase hex digits", sid)
	}
	want := map[string]string{
		"CallSid": sid, "AccountSid": twilioAccount, "From": "+15551112222", "Caller": "+15551112222",
		"To": "+15553334444", "Called": "+15553334444", "CallStatus": "ringing", "Direction": "inbound",
		"ApiVersion": "2010-04-01", "CallerName": "Ann",
	}
	for _, r := range []servetest.TwilioRequest{post, get} {
		for k, v := range want {
			if got := r.Params.Get(k); got != v {
				t.Errorf("%s %s: %s = %q, want %q", r.Method, r.URL, k, got, v)
			}
		}
		for _, k := range []string{"OriginalFrom", "OriginalTo", "RequestUrl"} {
			if r.Params.Has(k) {
				t.Errorf("%s: CarrierX's field %s sent in the Twilio dialect", r.Method, k)
			}
		}
	}
	if get.Params.Get("step") != "2" || !strings.Contains(get.URL, "/next?step=2&") {
		t.Errorf("the GET lost the redirect's own query: %s", get.URL)
	}
	if up.URL != app.URL("/media") {
		t.Errorf("upgrade to %s, want %s", up.URL, app.URL("/media"))
	}
	events, err := conn.Events()
	if err != nil {
		t.Fatal(err)
	}
	var start struct {
		AccountSid string `json:"accountSid"`
		CallSid    string `json:"callSid"`
		StreamSid  string `json:"streamSid"`
	}
	if err := json.Unmarshal(events[1].Start, &start); err != nil {
		t.Fatalf("start %s: %v", events[1].Start, err)
	}
	if start.CallSid != sid || start.AccountSid != twilioAccount || !streamSidShape.MatchString(start.StreamSid) || events[1].StreamSid != start.StreamSid {
		t.Fatalf("start: %+v (message streamSid %q), want callSid %s, accountSid %s and an MZ streamSid", start, events[1].StreamSid, sid, twilioAccount)
	}
	if err := call.Hangup(servetest.Context(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
}

// A gateway with the wrong auth token gets 403 from a validating app: the
// call is refused the documented way (SIP 500 before the answer), the log
// says the app failed with HTTP 403, and the app saw one request, invalid.
func TestTwilioAppRefusesWrongToken(t *testing.T) {
	app := servetest.StartTwilioApp(t, twilioToken)
	app.Doc("/voice", `<Response><Pause length="30"/></Response>`)
	p := servetest.Start(t, servetest.Options{Args: []string{"--app", app.HTTPURL("/voice"),
		"--app-dialect", "twilio", "--auth-token", "not-" + twilioToken}})

	_, err := dialTwilio(t, p)
	if se := gatewaytest.Refusal(t, err); se.Code != 500 {
		t.Fatalf("refused with %d %s, want 500", se.Code, se.Reason)
	}
	rec := p.WaitLog(t, "ERROR", "flexml: app failed", nil)
	if e, _ := rec["err"].(string); !strings.Contains(e, "HTTP 403") {
		t.Fatalf("log err %q, want the app's HTTP 403", e)
	}
	reqs := app.Requests()
	if len(reqs) != 1 || reqs[0].Valid {
		t.Fatalf("app requests %+v, want one with an invalid signature", reqs)
	}
}

// Without a token the Twilio app dialect sends unsigned requests and says
// so once at start; the AccountSid placeholder is logged too.
func TestTwilioAppDialectUnsignedWarns(t *testing.T) {
	app := servetest.StartTwilioApp(t, twilioToken)
	p := servetest.Start(t, servetest.Options{Args: []string{"--app", app.HTTPURL("/voice"), "--app-dialect", "twilio"}})
	p.WaitLog(t, "WARN", "twilio app dialect without --auth-token: requests to the app are not signed (no X-Twilio-Signature)", nil)
	p.WaitLog(t, "INFO", "twilio dialect: no --account-sid given, requests and streams carry a placeholder",
		map[string]string{"account_sid": "AC00000000000000000000000000000000"})
	_, err := dialTwilio(t, p)
	gatewaytest.Refusal(t, err)
	reqs := app.Requests()
	if len(reqs) != 1 || reqs[0].Valid || reqs[0].Params.Get("AccountSid") != "AC00000000000000000000000000000000" {
		t.Fatalf("app requests %+v, want one unsigned with the placeholder AccountSid", reqs)
	}
}

// --status-callback under the Twilio app dialect: a call answered and then
// hung up by the caller gives the receiver initiated, ringing, in-progress
// and completed, in order, numbered from 0, each a signed form with the
// call's fields; completed has CallDuration.
func TestStatusCallbacksInOrder(t *testing.T) {
	app := servetest.StartTwilioApp(t, twilioToken)
	app.Doc("/voice", `<Response><Pause length="30"/></Response>`)
	app.Doc("/status", "ok")
	p := servetest.Start(t, servetest.Options{Args: []string{"--app", app.HTTPURL("/voice"), "--app-dialect", "twilio",
		"--auth-token", twilioToken, "--status-callback", app.HTTPURL("/status")}})
	call, err := dialTwilio(t, p)
	if err != nil {
		t.Fatal(err)
	}
	statuses := func() []servetest.TwilioRequest {
		var out []servetest.TwilioRequest
		for _, r := range app.Requests() {
			if strings.HasPrefix(r.URL, app.HTTPURL("/status")) {
				out = append(out, r)
			}
		}
		return out
	}
	servetest.Eventually(t, 10*time.Second, "in-progress", func() bool { return len(statuses()) >= 3 })
	if err := call.Hangup(servetest.Context(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	servetest.Eventually(t, 10*time.Second, "completed", func() bool { return len(statuses()) >= 4 })
	got := statuses()
	want := []string{"initiated", "ringing", "in-progress", "completed"}
	if len(got) != len(want) {
		t.Fatalf("%d status callbacks, want %d", len(got), len(want))
	}
	sid := got[0].Params.Get("CallSid")
	for i, r := range got {
		f := r.Params
		if !r.Valid || r.Method != "POST" {
			t.Errorf("callback %d: %s, valid signature %v", i, r.Method, r.Valid)
		}
		if f.Get("CallStatus") != want[i] || f.Get("SequenceNumber") != strconv.Itoa(i) || f.Get("CallSid") != sid ||
			f.Get("From") != "+15551112222" || f.Get("To") != "+15553334444" || f.Get("Direction") != "inbound" ||
			f.Get("AccountSid") != "AC00000000000000000000000000000000" || f.Get("ApiVersion") != "2010-04-01" {
			t.Errorf("callback %d: %v", i, f)
		}
		if _, err := time.Parse(time.RFC1123Z, f.Get("Timestamp")); err != nil {
			t.Errorf("callback %d: Timestamp %q: %v", i, f.Get("Timestamp"), err)
		}
	}
	if d, err := strconv.Atoi(got[3].Params.Get("CallDuration")); err != nil || d < 1 || d > 60 {
		t.Errorf("CallDuration %q", got[3].Params.Get("CallDuration"))
	}
	if !callSidShape.MatchString(sid) {
		t.Errorf("CallSid %q", sid)
	}
}

// A status callback receiver that accepts connections and never answers
// does not hold calls up: a call whose document plays a short pause and
// hangs up ends on time (each callback waits up to 5 s, three tries), and
// the gateway warns that the callback failed.
func TestStatusCallbackReceiverDownNeverDelaysCall(t *testing.T) {
	t.Parallel() // mostly waits out a timeout: it overlaps the other such tests
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	var held []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c) // read nothing, answer nothing
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	app := servetest.StartTwilioApp(t, twilioToken)
	app.Doc("/voice", `<Response><Pause length="1"/><Hangup/></Response>`)
	p := servetest.Start(t, servetest.Options{Args: []string{"--app", app.HTTPURL("/voice"), "--app-dialect", "twilio",
		"--auth-token", twilioToken, "--status-callback", "http://" + silent.Addr().String() + "/status"}})
	for i := range 2 {
		start := time.Now()
		call, err := dialTwilio(t, p)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-call.Ended():
		case <-time.After(10 * time.Second):
			t.Fatalf("call %d did not end within 10 s", i)
		}
		// A call held up by one callback would take over 5 s (one try's
		// timeout); this one lasts its 1 s pause.
		if d := time.Since(start); d > 4500*time.Millisecond {
			t.Fatalf("call %d lasted %s with a silent status receiver", i, d)
		}
	}
	// (Giving up on the silent receiver after three tries of 5 s each is
	// counted in callstream_status_callbacks_failed_total: the callstatus
	// package's tests check it without waiting 16.5 s here.)
}

// A stream app that validates signatures with another token refuses the
// upgrade with 403: the stream fails (logged with the status), the call
// goes on with its document.
func TestTwilioStreamUpgradeRefusedOnBadSignature(t *testing.T) {
	app := servetest.StartTwilioApp(t, twilioToken)
	other := servetest.StartTwilioApp(t, "another-token-0123456789")
	app.Doc("/voice", `<Response><Start><Stream url="`+other.URL("/media")+`"/></Start><Pause length="30"/></Response>`)
	p := servetest.Start(t, servetest.Options{Args: []string{"--app", app.HTTPURL("/voice"),
		"--stream-dialect", "twilio", "--auth-token", twilioToken, "--stream-reconnect", "0"}})
	call, err := dialTwilio(t, p)
	if err != nil {
		t.Fatal(err)
	}
	rec := p.WaitLog(t, "ERROR", "stream failed", nil)
	if e, _ := rec["err"].(string); !strings.Contains(e, "403") {
		t.Fatalf("stream failed with %q, want the app's 403", e)
	}
	reqs := other.Requests()
	if len(reqs) != 1 || !reqs[0].Upgrade || reqs[0].Valid {
		t.Fatalf("stream app requests %+v, want one upgrade with an invalid signature", reqs)
	}
	select {
	case <-call.Ended():
		t.Fatal("the call ended with its stream")
	default:
	}
	if err := call.Hangup(servetest.Context(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
}
