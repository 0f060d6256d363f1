package callstatus

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/fetch"
	"github.com/callstream/callstream/internal/limit"
	"github.com/callstream/callstream/internal/webhook"
)

// statuses returns the CallStatus and SequenceNumber of each JSON event r got.
func (r *receiver) statuses(t *testing.T) []string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, b := range r.body {
		var ev map[string]string
		if err := json.Unmarshal([]byte(b), &ev); err != nil {
			t.Fatalf("body %q: %v", b, err)
		}
		out = append(out, ev["CallStatus"]+"/"+ev["SequenceNumber"])
	}
	return out
}

// A call's own URL set while it rings gets ringing, in-progress and the
// final event, numbered from 0; the gateway-wide URL keeps its own
// numbering; a second URL is ignored.
func TestTargetBesideGatewayWide(t *testing.T) {
	wide, own, later := newReceiver(t), newReceiver(t), newReceiver(t)
	f := fetch.New(fetch.Config{})
	t.Cleanup(f.Close)
	n := notifier(t, Config{URL: wide.srv.URL, Fetch: f})
	c := n.Call("c1")
	c.Begin(url.Values{"CallSid": {"c1"}})
	if set, err := c.Target(own.srv.URL+"/s?k=1", ""); !set || err != nil {
		t.Fatalf("Target: %v %v", set, err)
	}
	if set, err := c.Target(later.srv.URL, "POST"); set || err != nil {
		t.Fatalf("second Target: %v %v, want ignored", set, err)
	}
	c.Answered()
	c.End(Completed, time.Second)
	wide.wait(t, 4)
	own.wait(t, 3)
	n.Close()
	if got, want := strings.Join(wide.statuses(t), " "), "initiated/0 ringing/1 in-progress/2 completed/3"; got != want {
		t.Errorf("gateway-wide got %s, want %s", got, want)
	}
	if got, want := strings.Join(own.statuses(t), " "), "ringing/0 in-progress/1 completed/2"; got != want {
		t.Errorf("own got %s, want %s", got, want)
	}
	if len(later.got) != 0 {
		t.Errorf("the ignored URL got %d events", len(later.got))
	}
}

// Without a gateway-wide URL only calls with their own URL send; one set
// after the answer gets the final event only; Twilio's are signed forms
// to that URL with the method asked for.
func TestTargetAlone(t *testing.T) {
	own := newReceiver(t)
	f := fetch.New(fetch.Config{})
	t.Cleanup(f.Close)
	n := notifier(t, Config{Fetch: f, Dialect: webhook.Twilio, Token: "tok"})
	quiet := n.Call("c0")
	quiet.Begin(url.Values{"CallSid": {"c0"}})
	quiet.Answered()
	quiet.End(Completed, time.Second)
	c := n.Call("c1")
	c.Begin(url.Values{"CallSid": {"c1"}})
	c.Answered()
	if set, err := c.Target(own.srv.URL+"/s", "get"); !set || err != nil {
		t.Fatalf("Target: %v %v", set, err)
	}
	c.End(NoAnswer, -1)
	own.wait(t, 1)
	n.Close()
	own.mu.Lock()
	defer own.mu.Unlock()
	if len(own.got) != 1 {
		t.Fatalf("%d events, want 1", len(own.got))
	}
	req := own.got[0]
	q := req.URL.Query()
	full := own.srv.URL + req.URL.RequestURI()
	if req.Method != "GET" || q.Get("CallStatus") != NoAnswer || q.Get("SequenceNumber") != "0" || q.Get("CallSid") != "c1" ||
		req.Header.Get(webhook.SignatureHeader) != webhook.Sign("tok", full, nil) {
		t.Fatalf("%s %s signed %q", req.Method, req.URL, req.Header.Get(webhook.SignatureHeader))
	}
}

// A bad or oversized URL is an error and sets nothing.
func TestTargetRefusesBadURL(t *testing.T) {
	n := notifier(t, Config{Fetch: fetch.New(fetch.Config{})})
	c := n.Call("c1")
	for _, bad := range []struct{ u, m string }{
		{"/relative", ""}, {"ftp://h/x", ""}, {"http://h/x", "PUT"},
		{"http://h/" + strings.Repeat("a", MaxURL), ""},
	} {
		if set, err := c.Target(bad.u, bad.m); set || err == nil {
			t.Errorf("Target(%.40q, %q): %v %v", bad.u, bad.m, set, err)
		}
	}
	var none *Call
	if set, err := none.Target("http://h/x", ""); set || err == nil {
		t.Errorf("nil Call: %v %v", set, err)
	}
}

// A URL the policy refuses is counted once: the call's later events to it
// are not tried.
func TestTargetRefusedOnce(t *testing.T) {
	var refusals countRefusals
	f := fetch.New(fetch.Config{Refusals: &refusals})
	t.Cleanup(f.Close)
	n := notifier(t, Config{Fetch: f})
	c := n.Call("c1")
	c.Begin(url.Values{"CallSid": {"c1"}})
	if set, err := c.Target("http://169.254.169.254/latest?token=x", ""); !set || err != nil {
		t.Fatalf("Target: %v %v", set, err)
	}
	c.Answered()
	c.End(Completed, time.Second)
	n.Close()
	if refusals.n.Load() != 1 || n.Failed() != 3 {
		t.Fatalf("refusals %d, failed %d; want 1, 3", refusals.n.Load(), n.Failed())
	}
}

// The queue bound is shared: a call's own URL adds events to the same
// queues, and a full one drops them without waiting.
func TestTargetSharesTheBound(t *testing.T) {
	f := fetch.New(fetch.Config{})
	t.Cleanup(f.Close)
	// A receiver that answers nothing holds each sender on its first event.
	block := make(chan struct{})
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(silent.Close)
	t.Cleanup(func() { close(block) })
	n := notifier(t, Config{URL: silent.URL, Fetch: f, Queue: 4, Tries: 1, Timeout: 200 * time.Millisecond})
	calls := make([]*Call, 8)
	start := time.Now()
	for i := range calls {
		calls[i] = n.Call("c" + strconv.Itoa(i))
		calls[i].Begin(url.Values{})
		if _, err := calls[i].Target(silent.URL+"/own", ""); err != nil {
			t.Fatal(err)
		}
		calls[i].Answered()
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("queueing took %s", d)
	}
	// 8 calls × (initiated, ringing, in-progress to the wide URL; ringing,
	// in-progress to their own): 40 events, at most 4 senders + 4 waiting.
	if got := n.Dropped(); got < 32 {
		t.Fatalf("dropped %d of 40 with room for 8", got)
	}
}

// countRefusals counts the URL policy's refusals.
type countRefusals struct{ n atomic.Int64 }

func (c *countRefusals) Refused(r limit.Refusal) {
	if r == limit.URLPolicy {
		c.n.Add(1)
	}
}
