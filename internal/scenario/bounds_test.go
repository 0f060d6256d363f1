package scenario_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/limit"
	"github.com/callstream/callstream/internal/scenario"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipcaller"
)

// An inbound call whose session cannot start (Bounds.Sessions run
// already) is refused with 503, counted in the gateway's metrics; once a
// session ends calls come in again.
func TestInboundCallOverSessionCap(t *testing.T) {
	g := startGateway(t, scenario.Config{Bounds: limit.Limits{Sessions: 1}, Source: `
VoxEngine.addEventListener(AppEvents.CallAlerting, function (e) {
  e.call.answer();
  e.call.addEventListener(CallEvents.Disconnected, function () { VoxEngine.terminate(); });
});`})
	first := g.Dial(sipcaller.Config{To: "first"})
	_, err := g.Caller.Dial(g.Context(5*time.Second), sipcaller.Config{Target: g.GW.SIPAddr(), From: "1", To: "second"})
	var se *sipcaller.StatusError
	if !errors.As(err, &se) || se.Code != http.StatusServiceUnavailable {
		t.Fatalf("second call: %v, want 503", err)
	}
	m, err := servetest.Scrape("http://" + g.GW.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Get("callstream_refusals_total", "limit=scenario_sessions"); got != 1 {
		t.Fatalf("scenario_sessions refusals %v, want 1", got)
	}
	if err := first.Hangup(g.Context(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	g.waitSessions(t, 5*time.Second)
	third := g.Dial(sipcaller.Config{To: "third"})
	if err := third.Hangup(g.Context(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	g.waitSessions(t, 5*time.Second)
}

// POST /scenarios and the recordings are API endpoints: without the token
// 401; the sessions' access URLs stay open.
func TestScenarioRoutesBehindTokens(t *testing.T) {
	g := startGateway(t, scenario.Config{Source: `
VoxEngine.addEventListener(AppEvents.HttpRequest, function () { VoxEngine.terminate(); });`})
	base := "http://" + g.GW.HTTPAddr()
	for _, path := range []string{"/scenarios", "/records/rec-00000000000000000000000000000000.wav"} {
		method := http.MethodGet
		if path == "/scenarios" {
			method = http.MethodPost
		}
		req, _ := http.NewRequest(method, base+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s without a token: %d, want 401", method, path, resp.StatusCode)
		}
	}
	info, err := g.rt.Start("")
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(info.AccessURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("access URL: %d", resp.StatusCode)
	}
	g.waitSessions(t, 5*time.Second)
}
