package dashboard

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/chromium"
	"github.com/callstream/callstream/internal/gatewaytest"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipcaller"
)

const token = "dashboard-e2e-token-0123456789"

// hostileName is a caller's display name that would run script if the
// page took it for markup.
const hostileName = `<script>window.pwned=1</script><img src=x onerror=window.pwned=2>`

// pageCall is a live call as the page shows it.
type pageCall struct {
	Sid, From, State string
	Streams          []struct {
		Name, Dialect, Host string
		Frames              int
		LatencyMs           float64
	}
	Levels map[string]*float64 // track -> the meter's dBFS (null: no reading)
}

// readCalls reads the live calls off the page's DOM.
const readCalls = `Array.from(document.querySelectorAll("#calls .call")).map(c => ({
  Sid: c.dataset.sid,
  From: c.querySelector(".from .v").textContent,
  State: c.querySelector(".state .v").textContent,
  Streams: Array.from(c.querySelectorAll("tr.stream")).map(r => ({
    Name: r.querySelector(".name").textContent,
    Dialect: r.querySelector(".dialect").textContent,
    Host: r.querySelector(".host").textContent,
    Frames: Number(r.querySelector(".frames").textContent),
    LatencyMs: parseFloat(r.querySelector(".latency").textContent)})),
  Levels: Object.fromEntries(Array.from(c.querySelectorAll(".meter")).map(m => [m.dataset.track, parseFloat(m.querySelector(".db").textContent)]))
}))`

// artifactPath returns where the screenshot goes: $CALLSTREAM_ARTIFACTS,
// else artifacts/ at the repository root.
func artifactPath(t *testing.T, name string) string {
	dir := os.Getenv("CALLSTREAM_ARTIFACTS")
	if dir == "" {
		_, file, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(file), "..", "..", "artifacts")
	}
	p, err := filepath.Abs(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// byID indexes the page's calls by sid.
func byID(cs []pageCall) map[string]pageCall {
	m := make(map[string]pageCall, len(cs))
	for _, c := range cs {
		m[c.Sid] = c
	}
	return m
}

// TestDashboardInChromium: three calls with a fork stream each appear on
// the page with their stream, whose frames-sent counter rises; a call
// that ends moves to the recent ends with the reason the gateway logged;
// the routes refuse requests without a token or session.
func TestDashboardInChromium(t *testing.T) {
	browser := chromium.Start(t) // first: skip or fail before starting anything
	e := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{Args: []string{"--api-token", token, "--node-id", "dash-node-1"}}})
	e.App.Set("/speech.wav", gatewaytest.Response{Raw: assets.SpeechWAV()})

	for _, path := range []string{"/", "/dashboard/events"} {
		if code, _ := servetest.Get(t, e.URL(path), ""); code != 401 {
			t.Fatalf("GET %s without a token: %d, want 401", path, code)
		}
	}

	type placed struct {
		to, sid string
		call    *sipcaller.Call
	}
	var calls []placed
	for i, to := range []string{"200", "201", "202"} {
		e.App.DocTo("/app", to, fmt.Sprintf(`<Response><Start><Stream url="{{.WS}}/fork-%s" name="fork-%s"/></Start><Play loop="0">{{.App}}/speech.wav</Play></Response>`, to, to))
		cfg := sipcaller.Config{To: to}
		if i == 0 {
			cfg.FromDisplay = hostileName
		}
		c, err := e.Dial(t, cfg)
		if err != nil {
			t.Fatalf("call %s: %v", to, err)
		}
		// The caller speaks, so the inbound meter has something to show.
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = c.SendAudio(ctx, assets.Speech()) }()
		t.Cleanup(func() { cancel(); <-done })
		calls = append(calls, placed{to, e.CallSid(t, to), c})
		servetest.WaitFrames(t, e.StreamConn(t, "/fork-"+to), 10)
	}

	browser.Navigate(e.URL("/?token=" + token))
	// The login redirected: the address bar no longer holds the token.
	chromium.WaitFor(browser, 10*time.Second, "the page after the login", `location.href`, func(href string) bool {
		return strings.HasSuffix(href, "/") && !strings.Contains(href, "token")
	})
	chromium.WaitFor(browser, 10*time.Second, "the node id", `document.getElementById("node").textContent`, func(s string) bool { return s == "dash-node-1" })

	first := byID(chromium.WaitFor(browser, 15*time.Second, "every call with its stream", readCalls, func(cs []pageCall) bool {
		m := byID(cs)
		for _, p := range calls {
			c, ok := m[p.sid]
			if !ok || len(c.Streams) != 1 || c.Streams[0].Name != "fork-"+p.to || c.Streams[0].Frames == 0 {
				return false
			}
		}
		return true
	}))
	wsHost := strings.TrimSuffix(strings.TrimPrefix(e.WS.URL(""), "ws://"), "/")
	for _, p := range calls {
		c := first[p.sid]
		if c.State != "in-progress" || c.Streams[0].Host != wsHost || c.Streams[0].Dialect == "" {
			t.Errorf("call %s on the page: %+v", p.sid, c)
		}
	}
	// The hostile display name is shown as text; nothing of it ran.
	if got := first[calls[0].sid].From; !strings.Contains(got, hostileName) {
		t.Errorf("the hostile From shows as %q", got)
	}
	var injected struct {
		Pwned   any `json:"pwned"`
		Scripts int `json:"scripts"`
		Images  int `json:"images"`
	}
	if err := browser.Eval(context.Background(), `({pwned: window.pwned ?? null, scripts: document.scripts.length, images: document.images.length})`, &injected); err != nil {
		t.Fatal(err)
	}
	if injected.Pwned != nil || injected.Scripts != 1 || injected.Images != 0 {
		t.Errorf("the hostile From was taken for markup: %+v", injected)
	}

	// A stream's frames-sent counter rises from one snapshot to the next.
	watched := calls[1]
	before := first[watched.sid].Streams[0].Frames
	chromium.WaitFor(browser, 10*time.Second, "the frames-sent counter rising", readCalls, func(cs []pageCall) bool {
		c, ok := byID(cs)[watched.sid]
		return ok && len(c.Streams) == 1 && c.Streams[0].Frames > before
	})

	// The meters show the speech both ways (the caller speaks, the
	// document plays), and the added latency is a figure in bounds.
	chromium.WaitFor(browser, 10*time.Second, "both meters of a call showing speech", readCalls, func(cs []pageCall) bool {
		c, ok := byID(cs)[watched.sid]
		in, out := c.Levels["inbound"], c.Levels["outbound"]
		return ok && in != nil && out != nil && *in > -45 && *out > -45
	})
	for _, c := range chromium.WaitFor(browser, 5*time.Second, "the calls", readCalls, func(cs []pageCall) bool { return len(cs) == 3 }) {
		if l := c.Streams[0].LatencyMs; !(l >= 0 && l < 1000) {
			t.Errorf("call %s: added latency %v ms", c.Sid, l)
		}
	}

	// The caller of call 3 hangs up: it leaves the live calls for the
	// recent ends, with the reason the gateway logged.
	ended := calls[2]
	if err := ended.call.Hangup(servetest.Context(t, 5*time.Second)); err != nil {
		t.Fatalf("hang up: %v", err)
	}
	line := e.WaitLog(t, "INFO", "call released", map[string]string{"call_sid": ended.sid})
	reason, _ := line["reason"].(string)
	if reason == "" {
		t.Fatalf("the release line has no reason: %v", line)
	}
	chromium.WaitFor(browser, 10*time.Second, "the ended call in the recent ends with its reason",
		fmt.Sprintf(`(() => { const r = document.querySelector('#ends tr.end[data-sid=%q]'); return r ? r.querySelector(".reason").textContent : ""; })()`, ended.sid),
		func(got string) bool { return got == reason })
	chromium.WaitFor(browser, 10*time.Second, "the ended call gone from the live calls", readCalls, func(cs []pageCall) bool {
		_, live := byID(cs)[ended.sid]
		return !live && len(cs) == 2
	})

	shot := artifactPath(t, "dashboard.png")
	if err := browser.Screenshot(shot); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if st, err := os.Stat(shot); err != nil || st.Size() < 1000 {
		t.Fatalf("screenshot %s: %v", shot, err)
	}
	t.Logf("dashboard screenshot: %s", shot)

	// Nothing the gateway logged holds the token.
	if strings.Contains(e.Logs.String(), token) {
		t.Error("the token is in the gateway's log")
	}
}

// An open feed does not hold the gateway up: on SIGTERM the feed ends
// cleanly (its last chunk written, not a connection cut after the HTTP
// shutdown's wait) and the process exits.
func TestFeedEndsAtShutdown(t *testing.T) {
	p := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{Args: []string{"--api-token", token}}})
	req, err := http.NewRequest(http.MethodGet, p.URL("/dashboard/events"), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("feed: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	r := bufio.NewReader(resp.Body)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("feed before any snapshot: %v", err)
		}
		if line == "event: snapshot\n" {
			break
		}
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ended := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, r); ended <- err }()
	select {
	case err := <-ended:
		if err != nil {
			t.Fatalf("the feed was cut at shutdown, not ended: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the feed is still open 15 s after SIGTERM")
	}
	select {
	case <-p.Exited():
	case <-time.After(15 * time.Second):
		t.Fatal("the gateway has not exited 15 s after SIGTERM")
	}
	if code := p.ExitCode(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}
