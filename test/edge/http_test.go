package edge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/servetest"
)

// apiToken is the API token of the gateways these tests start.
const apiToken = "edge-test-token-0123456789abcdef"

// edgeScenario streams every inbound call, once answered, to the
// WebSocket app at
// --scenario-data + '/' + the called number (so that bystander calls run
// through a scenario too), and for sessions started over HTTP does what
// script_custom_data says: "hold" waits for a request to its access URL,
// "record" makes a recording, "bomb" allocates without bound.
const edgeScenario = `
VoxEngine.addEventListener(AppEvents.CallAlerting, function (e) {
  var call = e.call;
  call.answer();
  call.addEventListener(CallEvents.Connected, function () {
    // The socket is made here, with the media sent to it, so that the
    // app sees it only once every frame of the caller goes to it.
    var ws = VoxEngine.createWebSocket(VoxEngine.customData() + '/' + e.destination);
    call.sendMediaTo(ws, {encoding: WebSocketAudioEncoding.ULAW});
  });
  call.addEventListener(CallEvents.Disconnected, function () { VoxEngine.terminate(); });
});
VoxEngine.addEventListener(AppEvents.HttpRequest, function (e) {
  Logger.write('alive ' + e.path);
  VoxEngine.terminate();
});
VoxEngine.addEventListener(AppEvents.Started, function () {
  switch (VoxEngine.customData()) {
  case 'record':
    var rec = VoxEngine.createRecorder();
    rec.addEventListener(RecorderEvents.Stopped, function (ev) {
      Logger.write('recorded ' + ev.url);
      VoxEngine.terminate();
    });
    setTimeout(function () { rec.stop(); }, 200);
    break;
  case 'bomb':
    Logger.write('bomb');
    var a = [];
    while (true) a.push('x'.repeat(1 << 20) + a.length);
  }
});`

// scenarioEnv starts a gateway running edgeScenario with the WebSocket
// app as its --scenario-data, plus args.
func scenarioEnv(t *testing.T, args ...string) *servetest.Env {
	t.Helper()
	file := filepath.Join(t.TempDir(), "edge.js")
	if err := os.WriteFile(file, []byte(edgeScenario), 0o644); err != nil {
		t.Fatal(err)
	}
	return servetest.StartEnv(t, servetest.EnvOptions{
		Options: servetest.Options{Args: append([]string{"--scenario", file}, args...)},
		WSArgs:  func(ws string) []string { return []string{"--scenario-data", ws} },
	})
}

// reply is an HTTP answer.
type reply struct {
	code   int
	header http.Header
	body   []byte
}

// json decodes the body as a JSON object.
func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("HTTP %d: body %q is not a JSON object: %v", r.code, r.body, err)
	}
	return m
}

// apiClient sends many requests over few connections.
var apiClient = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// do sends a request with token as bearer ("" for none) and form as an
// urlencoded body (nil for none).
func do(t *testing.T, method, u, token string, form url.Values) reply {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header, b}
}

// startSession starts a session with POST /scenarios and returns its
// access URL.
func startSession(t *testing.T, env *servetest.Env, data string) string {
	t.Helper()
	r := do(t, http.MethodPost, env.URL("/scenarios"), apiToken, url.Values{"script_custom_data": {data}})
	if r.code != http.StatusOK {
		t.Fatalf("POST /scenarios: %d %s", r.code, r.body)
	}
	access, _ := r.json(t)["media_session_access_url"].(string)
	if access == "" {
		t.Fatalf("no access URL in %s", r.body)
	}
	return access
}

// scenarioText waits for a Logger.write line starting with prefix and
// returns the rest.
func scenarioText(t *testing.T, env *servetest.Env, prefix string) string {
	t.Helper()
	var text string
	servetest.Eventually(t, 10*time.Second, "a scenario log line "+prefix, func() bool {
		for _, l := range env.Logs.Lines() {
			if s, _ := l["text"].(string); l["msg"] == "scenario log" && strings.HasPrefix(s, prefix) {
				text = strings.TrimPrefix(s, prefix)
				return true
			}
		}
		return false
	})
	return text
}

// (a) POST /scenarios without a token, or with a wrong one, gets 401 with
// WWW-Authenticate and a JSON error, counted and logged without the
// token; with the token the session starts. A bystander call is intact and
// the process returns to its baseline.
func TestAPITokenRequired(t *testing.T) {
	env := scenarioEnv(t, "--api-token", apiToken)
	base := env.Baseline(t)
	b := env.Bystander(t)
	for _, token := range []string{"", "not-the-token-0123456789"} {
		r := do(t, http.MethodPost, env.URL("/scenarios"), token, url.Values{"script_custom_data": {"hold"}})
		if r.code != http.StatusUnauthorized || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") || r.json(t)["error"] == "" {
			t.Fatalf("POST with token %q: %d %v %s", token, r.code, r.header, r.body)
		}
	}
	access := startSession(t, env, "hold")
	if got := env.Refusals(t, "api_token"); got != 2 {
		t.Errorf("api_token refusals %v, want 2", got)
	}
	if env.Logs.Find("WARN", "HTTP API request refused", map[string]string{"path": "/scenarios"}) == nil {
		t.Error("no log line for the refused request")
	}
	if logs := env.Logs.String(); strings.Contains(logs, apiToken) || strings.Contains(logs, "not-the-token") {
		t.Error("a token is in the logs")
	}
	// The session's own URL needs no API token: it ends the session.
	if r := do(t, http.MethodGet, access+"/bye", "", nil); r.code != http.StatusOK {
		t.Fatalf("access URL: %d %s", r.code, r.body)
	}
	scenarioText(t, env, "alive /request/")
	env.Survived(t, b, base, 10*time.Second)
}

// (a) Without any token the API endpoints are off: 403 saying how to turn
// them on, and the gateway says so at start.
func TestAPIOffWithoutToken(t *testing.T) {
	env := scenarioEnv(t)
	for _, path := range []string{"/scenarios", "/records/rec-00000000000000000000000000000000.wav"} {
		method := http.MethodGet
		if path == "/scenarios" {
			method = http.MethodPost
		}
		r := do(t, method, env.URL(path), "whatever-token-0123456789", nil)
		if msg, _ := r.json(t)["error"].(string); r.code != http.StatusForbidden || !strings.Contains(msg, "--api-token") {
			t.Fatalf("%s %s: %d %s", method, path, r.code, r.body)
		}
	}
	if env.Logs.Find("INFO", "HTTP API off", map[string]string{"endpoints": "POST /scenarios"}) == nil {
		t.Fatal("no start-up line saying the API is off")
	}
}

// (b) 10,000 POST /scenarios in a burst: at most --max-sessions run, the
// rest get 503 (sessions full) or 429 (over the rate) with Retry-After,
// each counted; goroutines and heap stay bounded; a bystander call is
// intact; once the sessions end the process is back to its baseline.
func TestSessionFlood(t *testing.T) {
	const maxSessions, posts, workers = 50, 10000, 32
	env := scenarioEnv(t, "--api-token", apiToken, "--max-sessions", fmt.Sprint(maxSessions), "--session-rate", "100",
		"--metrics-addr", servetest.FreeTCPAddr(t))
	base := env.Baseline(t)
	b := env.Bystander(t)

	// Sample the process while the flood runs.
	stop := make(chan struct{})
	var maxGoroutines, maxHeap float64
	var sampled sync.WaitGroup
	sampled.Add(1)
	go func() {
		defer sampled.Done()
		for {
			if m, err := servetest.Scrape(env.MetricsURL("/metrics")); err == nil {
				maxGoroutines = max(maxGoroutines, m.Get("go_goroutines"))
				maxHeap = max(maxHeap, m.Get("go_memstats_heap_inuse_bytes"))
			}
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()

	var mu sync.Mutex
	codes := map[int]int{}
	var accessURLs []string
	var noRetryAfter int
	jobs := make(chan struct{})
	var wg sync.WaitGroup
	started := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				r := do(t, http.MethodPost, env.URL("/scenarios"), apiToken, url.Values{"script_custom_data": {"hold"}})
				mu.Lock()
				codes[r.code]++
				switch r.code {
				case http.StatusOK:
					var m map[string]any
					_ = json.Unmarshal(r.body, &m)
					if u, ok := m["media_session_access_url"].(string); ok {
						accessURLs = append(accessURLs, u)
					}
				case http.StatusTooManyRequests, http.StatusServiceUnavailable:
					if r.header.Get("Retry-After") == "" {
						noRetryAfter++
					}
				}
				mu.Unlock()
			}
		}()
	}
	for range posts {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
	flood := time.Since(started)
	close(stop)
	sampled.Wait()
	t.Logf("%d POSTs in %s: %v; peak goroutines %.0f, heap in use %.0f MiB", posts, flood, codes, maxGoroutines, maxHeap/(1<<20))

	// The bystander's call runs a session too.
	if want := maxSessions - 1; codes[http.StatusOK] != want || len(accessURLs) != want {
		t.Errorf("%d sessions started (%d access URLs), want %d: --max-sessions less the bystander's", codes[http.StatusOK], len(accessURLs), want)
	}
	if codes[http.StatusServiceUnavailable] == 0 || codes[http.StatusTooManyRequests] == 0 ||
		codes[200]+codes[503]+codes[429] != posts {
		t.Errorf("codes %v: want 200, 503 and 429 only, each seen", codes)
	}
	if noRetryAfter > 0 {
		t.Errorf("%d refusals without Retry-After", noRetryAfter)
	}
	m := env.Metrics(t)
	if got := m.Get("callstream_refusals_total", "limit=scenario_sessions"); got != float64(codes[503]) {
		t.Errorf("scenario_sessions refusals %v, want the %d 503s", got, codes[503])
	}
	if got := m.Get("callstream_refusals_total", "limit=scenario_session_rate"); got != float64(codes[429]) {
		t.Errorf("scenario_session_rate refusals %v, want the %d 429s", got, codes[429])
	}
	if maxGoroutines > 1000 || maxHeap > 200<<20 {
		t.Errorf("peak goroutines %.0f (bound 1000), heap in use %.0f MiB (bound 200)", maxGoroutines, maxHeap/(1<<20))
	}
	// End every session through its access URL.
	for _, u := range accessURLs {
		if r := do(t, http.MethodGet, u, "", nil); r.code != http.StatusOK {
			t.Fatalf("access URL: %d %s", r.code, r.body)
		}
	}
	b.Check(t)
	apiClient.CloseIdleConnections()
	env.Settled(t, base, 15*time.Second)
}

// (c) A recording is served to token holders only and deleted
// --recordings-ttl after it ended.
func TestRecordingTokenAndTTL(t *testing.T) {
	t.Parallel() // mostly waits out a timeout: it overlaps the other such tests
	dir := t.TempDir()
	env := scenarioEnv(t, "--api-token", apiToken, "--recordings-dir", dir, "--recordings-ttl", "2s")
	base := env.Baseline(t)
	b := env.Bystander(t)
	startSession(t, env, "record")
	u := scenarioText(t, env, "recorded ")
	name := u[strings.LastIndex(u, "/")+1:]
	if r := do(t, http.MethodGet, u, "", nil); r.code != http.StatusUnauthorized {
		t.Fatalf("GET the recording without a token: %d", r.code)
	}
	r := do(t, http.MethodGet, u, apiToken, nil)
	if r.code != http.StatusOK || r.header.Get("Content-Type") != "audio/wav" || !bytes.HasPrefix(r.body, []byte("RIFF")) {
		t.Fatalf("GET the recording: %d %s %q", r.code, r.header.Get("Content-Type"), r.body[:min(len(r.body), 16)])
	}
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the recording is not in --recordings-dir: %v", err)
	}
	servetest.Eventually(t, 10*time.Second, "the recording deleted after its TTL", func() bool {
		_, err := os.Stat(path)
		return os.IsNotExist(err)
	})
	if r := do(t, http.MethodGet, u, apiToken, nil); r.code != http.StatusNotFound {
		t.Fatalf("GET after the TTL: %d", r.code)
	}
	if env.Logs.Find("INFO", "recording deleted", map[string]string{"name": name}) == nil {
		t.Error("no log line for the deletion")
	}
	if got := env.Refusals(t, "api_token"); got != 1 {
		t.Errorf("api_token refusals %v, want 1", got)
	}
	env.Survived(t, b, base, 10*time.Second)
}

// (d) A session whose callback allocates without bound ends with the
// heap-limit line, counted; the process, another session and a bystander
// call live on.
func TestScenarioHeapBomb(t *testing.T) {
	env := scenarioEnv(t, "--api-token", apiToken)
	base := env.Baseline(t)
	b := env.Bystander(t)
	other := startSession(t, env, "hold")
	startSession(t, env, "bomb")
	scenarioText(t, env, "bomb")
	rec := env.Logs.WaitFind(t, 20*time.Second, "ERROR", "scenario heap limit exceeded: the session ends", map[string]string{"err": "heap"})
	if id, _ := rec["session_id"].(string); len(id) != 32 {
		t.Errorf("the heap-limit line names no session: %v", rec)
	}
	if got := env.Refusals(t, "scenario_heap"); got != 1 {
		t.Errorf("scenario_heap refusals %v, want 1", got)
	}
	if !env.Alive() {
		t.Fatal("the process died")
	}
	if r := do(t, http.MethodGet, other+"/still-there", "", nil); r.code != http.StatusOK {
		t.Fatalf("the other session: %d %s", r.code, r.body)
	}
	scenarioText(t, env, "alive /request/")
	env.Survived(t, b, base, 10*time.Second)
}

// (e) With --metrics-addr, /metrics and /healthz are served there and not
// on --http.
func TestMetricsAddr(t *testing.T) {
	env := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{Args: []string{"--metrics-addr", servetest.FreeTCPAddr(t)}}})
	for _, p := range []string{"/metrics", "/healthz"} {
		if r := do(t, http.MethodGet, env.MetricsURL(p), "", nil); r.code != http.StatusOK {
			t.Errorf("metrics listener %s: %d", p, r.code)
		}
		if r := do(t, http.MethodGet, env.URL(p), "", nil); r.code != http.StatusNotFound {
			t.Errorf("--http %s: %d, want 404", p, r.code)
		}
	}
	if env.MetricsURL("/") == env.URL("/") {
		t.Fatal("the metrics listener is the HTTP one")
	}
}

// (f) A flood of connections to --http beyond --http-max-conns: the extra
// ones are closed at once and counted; health on the metrics listener
// still answers; a bystander call is intact; fds return to the baseline.
func TestHTTPConnectionFlood(t *testing.T) {
	const maxConns, flood = 50, 200
	env := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{Args: []string{
		"--http-max-conns", fmt.Sprint(maxConns), "--metrics-addr", servetest.FreeTCPAddr(t)}}})
	base := env.Baseline(t)
	b := env.Bystander(t)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range flood {
		c, err := net.Dial("tcp", env.HTTPAddr())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	// The gateway closes every connection over the bound at once: a read
	// on it ends; on the others it waits.
	closed := 0
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
			_, err := c.Read(make([]byte, 1))
			if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
				mu.Lock()
				closed++
				mu.Unlock()
			}
		}()
	}
	if r := do(t, http.MethodGet, env.MetricsURL("/healthz"), "", nil); r.code != http.StatusOK {
		t.Fatalf("healthz on the metrics listener during the flood: %d", r.code)
	}
	wg.Wait()
	if closed < flood-maxConns {
		t.Errorf("%d connections closed, want at least %d", closed, flood-maxConns)
	}
	// The listener counts a refusal just after it closed the connection.
	servetest.Eventually(t, 5*time.Second, fmt.Sprintf("at least %d refused connections counted", flood-maxConns), func() bool {
		return env.Refusals(t, "http_connections") >= flood-maxConns
	})
	if env.Logs.Find("WARN", "connection refused: too many open", map[string]string{"listener": "http"}) == nil {
		t.Error("no log line for the refused connections")
	}
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	servetest.Eventually(t, 10*time.Second, "--http serving again", func() bool {
		resp, err := http.Get(env.URL("/nothing"))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusNotFound
	})
	env.Survived(t, b, base, 10*time.Second)
}
