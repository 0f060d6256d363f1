package scenario

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/limit"
	"github.com/callstream/callstream/internal/limit/limittest"
)

// endOnRequest ends its session on the first request to its access URL.
const endOnRequest = `
VoxEngine.addEventListener(AppEvents.Started, function () { Logger.write('started'); });
VoxEngine.addEventListener(AppEvents.HttpRequest, function () { VoxEngine.terminate(); });`

// postStart sends POST /scenarios and returns the reply's code, headers
// and JSON body.
func postStart(t *testing.T, e *env) (int, http.Header, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(e.srv.URL+"/scenarios", url.Values{"script_custom_data": {"x"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("reply %d: not JSON: %v", resp.StatusCode, err)
	}
	return resp.StatusCode, resp.Header, body
}

// At most Bounds.Sessions run at once: over it Start fails and POST
// /scenarios gets 503 with Retry-After and a JSON error, each counted;
// once a session ends another may start.
func TestSessionCap(t *testing.T) {
	e := newEnv(t, endOnRequest, func(c *Config) { c.Bounds.Sessions = 2 })
	count := &limittest.Counts{}
	e.rt.UseGateway(Shared{Refusals: count})
	first := e.start(t, "")
	e.start(t, "")
	if _, err := e.rt.Start(""); !errors.Is(err, ErrTooManySessions) {
		t.Fatalf("third session: %v, want ErrTooManySessions", err)
	}
	code, h, body := postStart(t, e)
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") != "5" ||
		!strings.Contains(body["error"].(string), "too many scenario sessions") || body["limit"] != "scenario_sessions" {
		t.Fatalf("POST over the cap: %d Retry-After=%q %v", code, h.Get("Retry-After"), body)
	}
	if got := count.Get(limit.Sessions); got != 2 {
		t.Fatalf("scenario_sessions counted %d times, want 2", got)
	}
	if e.logs.find(func(r record) bool { return r["msg"] == "scenario session refused: too many sessions" }) == nil {
		t.Fatal("no log line for the refusal")
	}
	resp, err := http.Get(first.AccessURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	e.waitEnded(t, first.ID, 5*time.Second)
	if code, _, body := postStart(t, e); code != http.StatusOK {
		t.Fatalf("POST after a session ended: %d %v", code, body)
	}
}

// POST /scenarios over Bounds.SessionRate gets 429 with Retry-After,
// counted.
func TestSessionRate(t *testing.T) {
	e := newEnv(t, endOnRequest, func(c *Config) { c.Bounds.SessionRate = 0.1 }) // one, then one every 10 s
	count := &limittest.Counts{}
	e.rt.UseGateway(Shared{Refusals: count})
	if code, _, body := postStart(t, e); code != http.StatusOK {
		t.Fatalf("first POST: %d %v", code, body)
	}
	code, h, body := postStart(t, e)
	retry, _ := strconv.Atoi(h.Get("Retry-After"))
	if code != http.StatusTooManyRequests || retry < 1 || retry > 10 || body["limit"] != "scenario_session_rate" {
		t.Fatalf("second POST: %d Retry-After=%q %v", code, h.Get("Retry-After"), body)
	}
	if got := count.Get(limit.SessionRate); got != 1 {
		t.Fatalf("scenario_session_rate counted %d times, want 1", got)
	}
	// Starting a session for a call is not rate limited.
	e.start(t, "")
}

// A session's access URL takes accessBurst requests at once, then
// accessRate a second; the others get 429.
func TestAccessURLRate(t *testing.T) {
	e := newEnv(t, `VoxEngine.addEventListener(AppEvents.HttpRequest, function (ev) { Logger.write('request'); });`, nil)
	info := e.start(t, "")
	start := time.Now()
	refused := 0
	for range 100 {
		resp, err := http.Get(info.AccessURL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			refused++
			if resp.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		}
	}
	allowed := accessBurst + accessRate*time.Since(start).Seconds() + 1
	if served := 100 - refused; float64(served) > allowed {
		t.Fatalf("%d requests served in %s, at most %.0f allowed", served, time.Since(start), allowed)
	}
	if refused == 0 {
		t.Fatal("no request refused")
	}
}
