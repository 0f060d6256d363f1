package callstatus

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/fetch"
	"github.com/callstream/callstream/internal/webhook"
)

// receiver is a real HTTP server that records the bodies it gets and
// answers with the statuses of fail first (then 200).
type receiver struct {
	srv  *httptest.Server
	mu   sync.Mutex
	got  []*http.Request
	body []string
	fail []int
	hit  chan struct{}
}

func newReceiver(t *testing.T, fail ...int) *receiver {
	r := &receiver{fail: fail, hit: make(chan struct{}, 100)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, req)
		r.body = append(r.body, string(b))
		code := http.StatusOK
		if len(r.fail) > 0 {
			code, r.fail = r.fail[0], r.fail[1:]
		}
		r.mu.Unlock()
		w.WriteHeader(code)
		r.hit <- struct{}{}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) wait(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-r.hit:
		case <-time.After(10 * time.Second):
			t.Fatalf("fewer than %d requests", n)
		}
	}
}

func notifier(t *testing.T, cfg Config) *Notifier {
	t.Helper()
	if cfg.Fetch == nil {
		cfg.Fetch = fetch.New(fetch.Config{Trusted: cfg.URL})
		t.Cleanup(func() { cfg.Fetch.Close() })
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return n
}

// A call's events arrive in order, numbered from 0, with the call's
// fields; completed carries CallDuration in whole seconds rounded up;
// Twilio's are signed forms.
func TestEventsInOrderTwilio(t *testing.T) {
	r := newReceiver(t)
	n := notifier(t, Config{URL: r.srv.URL + "/status?x=1", Dialect: webhook.Twilio, Token: "tok"})
	c := n.Call("CA1")
	c.Answered() // before Begin: held until initiated and ringing went out
	c.Begin(url.Values{"CallSid": {"CA1"}, "From": {"+15551112222"}})
	c.End(Completed, 2100*time.Millisecond)
	c.End(Failed, -1) // once only
	r.wait(t, 4)
	want := []string{Initiated, Ringing, InProgress, Completed}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.got) != 4 {
		t.Fatalf("%d requests", len(r.got))
	}
	for i, req := range r.got {
		f, _ := url.ParseQuery(r.body[i])
		if f.Get("CallStatus") != want[i] || f.Get("SequenceNumber") != string(rune('0'+i)) || f.Get("CallSid") != "CA1" || f.Get("From") != "+15551112222" {
			t.Fatalf("event %d: %v", i, f)
		}
		if _, err := time.Parse(time.RFC1123Z, f.Get("Timestamp")); err != nil {
			t.Fatalf("Timestamp %q: %v", f.Get("Timestamp"), err)
		}
		if sig := req.Header.Get(webhook.SignatureHeader); sig != webhook.Sign("tok", r.srv.URL+"/status?x=1", f) {
			t.Fatalf("event %d: signature %q", i, sig)
		}
		if d := f.Get("CallDuration"); (i == 3) != (d != "") || i == 3 && d != "3" {
			t.Fatalf("event %d: CallDuration %q", i, d)
		}
	}
}

// CarrierX's events are JSON objects.
func TestEventsJSONCarrierX(t *testing.T) {
	r := newReceiver(t)
	n := notifier(t, Config{URL: r.srv.URL + "/status"})
	c := n.Call("u-1")
	c.Begin(url.Values{"CallSid": {"u-1"}})
	r.wait(t, 2)
	r.mu.Lock()
	defer r.mu.Unlock()
	var ev map[string]string
	if err := json.Unmarshal([]byte(r.body[1]), &ev); err != nil || r.got[1].Header.Get("Content-Type") != "application/json" {
		t.Fatalf("body %q: %v", r.body[1], err)
	}
	if ev["CallStatus"] != Ringing || ev["SequenceNumber"] != "1" || ev["CallSid"] != "u-1" {
		t.Fatalf("event %v", ev)
	}
	if _, err := time.Parse(time.RFC3339Nano, ev["Timestamp"]); err != nil {
		t.Fatal(err)
	}
}

// A 5xx is tried again after a back-off, up to Tries; a 4xx is not.
func TestRetries(t *testing.T) {
	r := newReceiver(t, 503, 502, 404)
	n := notifier(t, Config{URL: r.srv.URL, Backoff: 10 * time.Millisecond})
	c := n.Call("a")
	c.Begin(url.Values{"CallSid": {"a"}}) // initiated: 503, 502, then 404 (given up); ringing: 200
	r.wait(t, 4)
	n.Close()
	if n.Failed() != 1 || n.Dropped() != 0 {
		t.Fatalf("failed %d, dropped %d; want 1, 0", n.Failed(), n.Dropped())
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.got) != 4 || !strings.Contains(r.body[3], `"CallStatus":"ringing"`) {
		t.Fatalf("%d requests, last %q", len(r.got), r.body[len(r.body)-1])
	}
}

// A queue that is full drops events at once and counts them: a call is
// never held up by a receiver that does not answer.
func TestFullQueueDrops(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	n := notifier(t, Config{URL: srv.URL, Queue: 4, Timeout: 200 * time.Millisecond, Tries: 1}) // one waiting per sender
	c := n.Call("a")
	start := time.Now()
	c.Begin(url.Values{"CallSid": {"a"}})
	for range 20 {
		c.Answered()
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("queueing 22 events took %s", d)
	}
	// One sends, one waits: the other 20 are dropped.
	if got := n.Dropped(); got < 19 || got > 21 {
		t.Fatalf("dropped %d, want about 20", got)
	}
}

func TestCheck(t *testing.T) {
	for _, bad := range []struct{ u, m string }{{"ftp://x/y", ""}, {"/relative", ""}, {"http://", ""}, {"http://h/", "PUT"}} {
		if err := Check(bad.u, bad.m); err == nil {
			t.Errorf("Check(%q, %q) passed", bad.u, bad.m)
		}
	}
	if err := Check("https://h/s?q=1", "GET"); err != nil {
		t.Fatal(err)
	}
}
