package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/gateway"
	"github.com/callstream/callstream/internal/gatewaytest"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sip"
	"github.com/callstream/callstream/internal/sipcaller"
	"github.com/callstream/callstream/internal/wsapp"
)

// lastEvent returns the event of the last message an app connection got.
func lastEvent(t *testing.T, c *wsapp.Conn) string {
	t.Helper()
	msgs := c.Messages()
	if len(msgs) == 0 {
		return ""
	}
	ev, err := msgs[len(msgs)-1].Parse()
	if err != nil {
		t.Fatal(err)
	}
	return ev.Event
}

// streamingCall starts a gateway with drain timeout drain and places a
// call whose stream it returns, with the gateway and the call.
func streamingCall(t *testing.T, drain time.Duration) (*gatewaytest.Env, *sipcaller.Call, *wsapp.Conn) {
	t.Helper()
	env := gatewaytest.Start(t, gatewaytest.Options{Configure: func(cfg *gateway.Config) {
		cfg.DrainTimeout = drain
	}})
	env.App.Doc("/app", streamDoc)
	c := env.Dial(sipcaller.Config{})
	return env, c, env.Accept()
}

// Shutdown drains: the call in progress goes on streaming, while a new
// INVITE, OPTIONS, POST /scenarios and /healthz get 503 (with Retry-After
// where it applies) and the refusals are counted; when the caller hangs up,
// Shutdown returns nil and the stream ended with stop.
func TestShutdownDrainsLiveCalls(t *testing.T) {
	env, c, conn := streamingCall(t, 20*time.Second)
	go func() { _ = c.SendAudio(env.Context(20*time.Second), assets.Speech()) }()
	if err := conn.WaitFor(env.Context(5*time.Second), 10); err != nil {
		t.Fatal(err)
	}

	shut := make(chan error, 1)
	go func() { shut <- env.GW.Shutdown(context.Background()) }()
	waitFor(t, 5*time.Second, env.GW.Draining, "draining")

	// The live call goes on.
	before := conn.MediaCount()
	waitFor(t, 5*time.Second, func() bool { return conn.MediaCount() >= before+25 }, "media after Shutdown")

	// New work is refused.
	_, err := env.Caller.Dial(env.Context(5*time.Second), sipcaller.Config{Target: env.GW.SIPAddr(), From: "1", To: "2"})
	if se := gatewaytest.Refusal(t, err); se.Code != 503 || se.Header["retry-after"] != "20" {
		t.Fatalf("INVITE while draining: %d, Retry-After %q; want 503, 20", se.Code, se.Header["retry-after"])
	}
	r, err := env.Caller.Options(env.Context(5*time.Second), env.GW.SIPAddr())
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != 503 || r.Header["retry-after"] != "20" {
		t.Fatalf("OPTIONS while draining: %d, Retry-After %q", r.Code, r.Header["retry-after"])
	}
	base := "http://" + env.GW.HTTPAddr()
	if code, body, _ := request(t, http.MethodGet, base+"/healthz", ""); code != 503 || !strings.Contains(body, "draining") {
		t.Fatalf("healthz while draining: %d %q", code, body)
	}
	if code, _, h := request(t, http.MethodPost, base+"/scenarios", ""); code != 503 || h.Get("Retry-After") != "20" {
		t.Fatalf("POST /scenarios while draining: %d, Retry-After %q", code, h.Get("Retry-After"))
	}
	out := env.GW.Dial(sip.DialConfig{Target: "sip:bob@" + env.GW.SIPAddr(), From: "alice"})
	select {
	case <-out.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("an outgoing call placed while draining did not fail")
	}
	if out.DialErr() == nil || out.Answered() {
		t.Fatalf("outgoing call while draining: answered %v, err %v", out.Answered(), out.DialErr())
	}
	m, err := servetest.Scrape(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Get("callstream_refusals_total", "limit=draining"); got != 2 {
		t.Fatalf("refusals{limit=draining} %v, want 2 (the INVITE and POST /scenarios)", got)
	}
	if m.Get("callstream_draining") != 1 || m.Get("callstream_calls_active") != 1 {
		t.Fatalf("draining %v, calls_active %v", m.Get("callstream_draining"), m.Get("callstream_calls_active"))
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a call live", err)
	default:
	}

	// The caller hangs up: the drain is over.
	if err := c.Hangup(env.Context(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-shut:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return after the last call ended")
	}
	gatewaytest.WaitClosed(t, conn, 5*time.Second)
	if ev := lastEvent(t, conn); ev != "stop" {
		t.Fatalf("last message %q, want stop", ev)
	}
	if env.Logs.Find("INFO", "draining", map[string]string{"calls": "1"}) == nil {
		t.Fatal(`no "draining" log line with calls=1`)
	}
	if err := env.GW.Run(context.Background()); !errors.Is(err, gateway.ErrClosed) {
		t.Fatalf("Run after Shutdown: %v", err)
	}
}

// Shutdown with a context that has ended cuts at once: the answered call
// gets a BYE and its stream stop and close 1000, and an INVITE still
// waiting for the app's document gets 503 (not 480); Shutdown returns the
// context's error.
func TestShutdownExpiredContextCuts(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{})
	env.App.Doc("/app", streamDoc)
	env.App.Set("/app#to=slow", gatewaytest.Response{Body: streamDoc, Delay: 20 * time.Second})
	c := env.Dial(sipcaller.Config{})
	conn := env.Accept()
	if err := conn.WaitFor(env.Context(5*time.Second), 5); err != nil {
		t.Fatal(err)
	}
	slow := make(chan error, 1)
	go func() {
		_, err := env.Caller.Dial(env.Context(10*time.Second), sipcaller.Config{Target: env.GW.SIPAddr(), From: "1", To: "slow"})
		slow <- err
	}()
	waitFor(t, 5*time.Second, func() bool {
		for _, r := range env.App.Requests() {
			if r.JSON["To"] == "slow" {
				return true
			}
		}
		return false
	}, "the slow call's document request")

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := env.GW.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown: %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Shutdown took %v", d)
	}
	select {
	case <-c.Ended():
	case <-time.After(5 * time.Second):
		t.Fatal("no BYE for the answered call")
	}
	gatewaytest.WaitClosed(t, conn, 5*time.Second)
	if code, _ := conn.CloseStatus(); code != 1000 {
		t.Fatalf("close code %d, want 1000", code)
	}
	if ev := lastEvent(t, conn); ev != "stop" {
		t.Fatalf("last message %q, want stop", ev)
	}
	se := gatewaytest.Refusal(t, <-slow)
	if se.Code != 503 || !strings.Contains(se.Header["reason"], `text="Service Unavailable"`) {
		t.Fatalf("INVITE in flight: %d %q, Reason %q; want 503 with a generic reason", se.Code, se.Reason, se.Header["reason"])
	}
}

// With DrainTimeout passed, the calls left are ended cleanly and Shutdown
// returns nil.
func TestShutdownDrainTimeoutEndsCalls(t *testing.T) {
	env, c, conn := streamingCall(t, 500*time.Millisecond)
	start := time.Now()
	if err := env.GW.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d < 500*time.Millisecond {
		t.Fatalf("Shutdown returned after %v, before the drain timeout", d)
	}
	select {
	case <-c.Ended():
	default:
		t.Fatal("the call still runs after Shutdown returned")
	}
	gatewaytest.WaitClosed(t, conn, 5*time.Second)
	if code, _ := conn.CloseStatus(); code != 1000 || lastEvent(t, conn) != "stop" {
		t.Fatalf("stream ended with close %d, last %q", code, lastEvent(t, conn))
	}
	if env.Logs.Find("WARN", "drain timeout: ending the calls left", map[string]string{"calls": "1"}) == nil {
		t.Fatal("no drain-timeout log line")
	}
}
