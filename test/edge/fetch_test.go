package edge

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/gatewaytest"
	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipcaller"
)

// Markers that must never leave the places they were put in: query strings
// (never in logs), bodies (never in SIP headers).
const (
	querySecret = "QSECRET"
	bodySecret  = "BODYSECRET"
)

// host is an HTTP server the test controls that counts requests by path.
// It does not keep connections alive, so the gateway keeps none open to
// it after a test.
type host struct {
	srv  *httptest.Server
	mu   sync.Mutex
	hits map[string]int
}

// startHost serves h on addr (an ip:port, port 0 for any) for t.
func startHost(t *testing.T, addr string, h http.HandlerFunc) *host {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	s := &host{hits: map[string]int{}}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits[r.URL.Path]++
		s.mu.Unlock()
		h(w, r)
	}))
	s.srv.Listener = ln
	s.srv.Config.SetKeepAlivesEnabled(false)
	s.srv.Start()
	t.Cleanup(s.srv.Close)
	return s
}

func (s *host) URL(path string) string { return s.srv.URL + path }

func (s *host) Hits(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

func (s *host) Total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.hits {
		n += v
	}
	return n
}

// appRequested reports whether the app got a request on path.
func appRequested(env *servetest.Env, path string) bool {
	for _, r := range env.App.Requests() {
		if r.Path == path {
			return true
		}
	}
	return false
}

// refusalLines returns the gateway's refusal log lines of one call.
func refusalLines(env *servetest.Env, sid string) []map[string]any {
	var out []map[string]any
	for _, l := range env.Logs.Lines() {
		if l["msg"] == "fetch refused by the URL policy" && l["call_sid"] == sid {
			out = append(out, l)
		}
	}
	return out
}

// findRefusal returns the refusal line whose url starts with url.
func findRefusal(lines []map[string]any, url string) map[string]any {
	for _, l := range lines {
		if u, _ := l["url"].(string); strings.HasPrefix(u, url) {
			return l
		}
	}
	return nil
}

// warmUp places one call so the gateway has fetched from the app once
// (its connection to the app is then part of the baseline).
func warmUp(t *testing.T, env *servetest.Env) {
	t.Helper()
	env.App.DocTo("/app", "warm-up", `<Response><Reject reason="busy"/></Response>`)
	_, err := env.Dial(t, sipcaller.Config{To: "warm-up"})
	var se *sipcaller.StatusError
	if !errors.As(err, &se) || se.Code != 600 {
		t.Fatalf("warm-up call: %v, want 600", err)
	}
}

// <Play> of a cloud-metadata address, of the gateway's own /metrics, and of
// an app URL that redirects to a loopback address under
// --deny-private-urls: each is refused before anything is sent, logged with
// the call's CallSid and the URL without its query, and counted; the call
// goes on to the next verb; a bystander call is intact.
func TestFetchPlayRefused(t *testing.T) {
	// The redirect's target really listens: it must get nothing.
	target := startHost(t, "127.0.0.2:0", func(w http.ResponseWriter, r *http.Request) {
		w.Write(assets.PromptWAV())
	})
	redirector := startHost(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL("/secret.wav?token="+querySecret), http.StatusFound)
	})
	env := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{
		Args: []string{"--deny-private-urls", "--url-allow", "127.0.0.1/32"},
	}})
	warmUp(t, env)
	base := env.Baseline(t)
	before := env.Refusals(t, "url_policy")
	b := env.Bystander(t)

	metadata := "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
	ownMetrics := env.URL("/metrics")
	moved := redirector.URL("/moved.wav")
	env.App.DocTo("/app", "play-attack", fmt.Sprintf(`<Response>
  <Play>%s?token=%s</Play>
  <Play>%s?token=%s</Play>
  <Play>%s?token=%s</Play>
  <Redirect>{{.App}}/after-play</Redirect>
</Response>`, metadata, querySecret, ownMetrics, querySecret, moved, querySecret))
	env.App.Doc("/after-play", `<Response><Hangup/></Response>`)
	c, err := env.Dial(t, sipcaller.Config{To: "play-attack"})
	if err != nil {
		t.Fatalf("attack call: %v", err)
	}
	servetest.Eventually(t, 15*time.Second, "the document going on past the refused Plays to its Redirect", func() bool {
		return appRequested(env, "/after-play")
	})
	select {
	case <-c.Ended():
	case <-time.After(10 * time.Second):
		t.Fatal("the attack call was not hung up by the next document")
	}
	sid := env.CallSid(t, "play-attack")
	servetest.Eventually(t, 5*time.Second, "3 url_policy refusals counted", func() bool {
		return env.Refusals(t, "url_policy") == before+3
	})
	lines := refusalLines(env, sid)
	for url, rule := range map[string]string{
		metadata:                  "fetch: 169.254.169.254: link-local and cloud-metadata addresses are refused",
		ownMetrics:                "the gateway's own listeners are refused",
		target.URL("/secret.wav"): "fetch: 127.0.0.2: loopback and private addresses are refused (--deny-private-urls)",
	} {
		l := findRefusal(lines, url)
		if l == nil {
			t.Fatalf("no refusal line for %s with call_sid %s:\n%s", url, sid, env.Logs.String())
		}
		if l["url"] != url || !strings.Contains(fmt.Sprint(l["err"]), rule) || l["level"] != "WARN" {
			t.Errorf("refusal line %v: want url %s and %q", l, url, rule)
		}
	}
	if l := findRefusal(lines, target.URL("")); l == nil || l["redirected_from"] != moved {
		t.Errorf("the redirect's refusal does not name the URL it came from: %v", l)
	}
	if strings.Contains(env.Logs.String(), querySecret) {
		t.Error("a query string reached the gateway's log")
	}
	if n := target.Total(); n != 0 {
		t.Errorf("the refused redirect target got %d requests", n)
	}
	if n := redirector.Hits("/moved.wav"); n != 1 {
		t.Errorf("the redirector got %d requests, want 1", n)
	}
	env.Survived(t, b, base, 10*time.Second)
}

// A statusCallback to a metadata address and a stream to the gateway's own
// listener are refused and counted; the allowed stream of the same call
// runs.
func TestFetchCallbackAndStreamRefused(t *testing.T) {
	env := servetest.StartEnv(t, servetest.EnvOptions{})
	warmUp(t, env)
	base := env.Baseline(t)
	before := env.Refusals(t, "url_policy")
	b := env.Bystander(t)

	callback := "http://169.254.169.254/callback"
	ownWS := "ws://" + env.HTTPAddr() + "/media"
	env.App.DocTo("/app", "stream-attack", fmt.Sprintf(`<Response>
  <Start>
    <Stream name="allowed" url="{{.WS}}/allowed" statusCallback="%s?token=%s"/>
    <Stream name="own" url="%s"/>
  </Start>
  <Pause length="1"/>
  <Hangup/>
</Response>`, callback, querySecret, ownWS))
	c, err := env.Dial(t, sipcaller.Config{To: "stream-attack"})
	if err != nil {
		t.Fatalf("attack call: %v", err)
	}
	select {
	case <-c.Ended():
	case <-time.After(10 * time.Second):
		t.Fatal("the call was not hung up")
	}
	sid := env.CallSid(t, "stream-attack")
	// stream-started and stream-stopped to the callback, and the dial.
	// A refusal is counted before its log line is written: wait for both.
	servetest.Eventually(t, 10*time.Second, "3 url_policy refusals counted and logged", func() bool {
		return env.Refusals(t, "url_policy") == before+3 && len(refusalLines(env, sid)) >= 3
	})
	lines := refusalLines(env, sid)
	if n := len(lines); n != 3 {
		t.Fatalf("%d refusal lines for the call, want 3:\n%s", n, env.Logs.String())
	}
	if l := findRefusal(lines, ownWS); l == nil || !strings.Contains(fmt.Sprint(l["err"]), "the gateway's own listeners are refused") {
		t.Errorf("stream refusal: %v", l)
	}
	if l := findRefusal(lines, callback); l == nil || l["url"] != callback || l["stream"] != "allowed" {
		t.Errorf("callback refusal: %v", l)
	}
	if env.Logs.Find("ERROR", "stream failed", map[string]string{"call_sid": sid, "stream": "own", "err": "own listeners are refused"}) == nil {
		t.Errorf("no stream failure logged for the refused stream:\n%s", env.Logs.String())
	}
	var allowed bool
	for _, conn := range env.WS.Conns() {
		if conn.Path == "/allowed" {
			allowed = true
		}
	}
	if !allowed {
		t.Error("the allowed stream of the call did not connect")
	}
	if strings.Contains(env.Logs.String(), querySecret) {
		t.Error("a query string reached the gateway's log")
	}
	env.Survived(t, b, base, 10*time.Second)
}

// When the app fails — an error status, an invalid document, no answer in
// time, not reachable, a <Redirect> the URL policy refuses — the caller's
// 500 carries a generic reason and no URL and no byte of what the app
// sent; the operator's log line has the CallSid, the URL without its
// query, and the cause.
func TestFetchAppFailureIsGeneric(t *testing.T) {
	env := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{Args: []string{"--app-timeout", "1s"}}})
	warmUp(t, env)
	base := env.Baseline(t)
	before := env.Refusals(t, "url_policy")
	b := env.Bystander(t)
	env.App.Set("/fail500", gatewaytest.Response{Status: 500, Body: bodySecret + " stack trace at /srv/app/handler.py"})
	env.App.Set("/invalid", gatewaytest.Response{Status: 200, Body: "<Response><Play>" + bodySecret + "</Play><Bogus/></Response>"})
	env.App.Set("/text", gatewaytest.Response{Status: 200, Body: bodySecret + " is not XML"})
	env.App.Set("/slow", gatewaytest.Response{Body: "<Response><Hangup/></Response>", Delay: 3 * time.Second})
	for _, tc := range []struct {
		to, url, reason, cause string
	}{
		{"fail500", env.App.URL("/fail500"), "application unavailable", "HTTP 500"},
		{"invalid", env.App.URL("/invalid"), "application error", "invalid FlexML"},
		{"text", env.App.URL("/text"), "application error", "invalid FlexML"},
		{"slow", env.App.URL("/slow"), "application unavailable", "no answer within 1s"},
		{"down", "http://127.0.0.1:1/down", "application unavailable", "connection refused"},
		{"refused", "http://169.254.169.254/latest/user-data", "application unavailable", "link-local and cloud-metadata addresses are refused"},
	} {
		t.Run(tc.to, func(t *testing.T) {
			env.App.DocTo("/app", tc.to, `<Response><Redirect>`+tc.url+`?token=`+querySecret+`</Redirect></Response>`)
			_, err := env.Dial(t, sipcaller.Config{To: tc.to})
			var se *sipcaller.StatusError
			if !errors.As(err, &se) || se.Code != 500 {
				t.Fatalf("dial: %v, want 500", err)
			}
			headers := se.Reason + "\n" + se.Header["reason"] + "\n" + se.Header["warning"]
			if !strings.Contains(se.Header["reason"], tc.reason) || !strings.Contains(se.Header["warning"], tc.reason) {
				t.Errorf("Reason/Warning %q, want %q", headers, tc.reason)
			}
			for _, leak := range []string{bodySecret, querySecret, "http", "127.0.0.1", "/srv", tc.cause} {
				if strings.Contains(headers, leak) {
					t.Errorf("the caller's 500 shows %q:\n%s", leak, headers)
				}
			}
			sid := env.CallSid(t, tc.to)
			env.Logs.Wait(t, 5*time.Second, "a log line with the CallSid, the URL without its query and the cause", func() bool {
				line := env.Logs.Find("ERROR", "app failed", map[string]string{"call_sid": sid, "err": tc.cause})
				return line != nil && line["url"] == tc.url
			})
		})
	}
	if strings.Contains(env.Logs.String(), querySecret) {
		t.Error("a query string reached the gateway's log")
	}
	if got := env.Refusals(t, "url_policy"); got != before+1 {
		t.Errorf("%v url_policy refusals counted, want 1 (the refused Redirect)", got-before)
	}
	env.Survived(t, b, base, 10*time.Second)
}

// bigWAV returns a µ-law WAV file of size data bytes (the speech, looped)
// and its samples.
func bigWAV(t *testing.T, size int) (file, data []byte) {
	t.Helper()
	speech := assets.Speech()
	data = make([]byte, size)
	for i := 0; i < size; i += len(speech) {
		copy(data[i:], speech)
	}
	var b bytes.Buffer
	if err := media.WriteWAV(&b, media.EncodingULaw, 8000, data); err != nil {
		t.Fatal(err)
	}
	return b.Bytes(), data
}

// Twenty calls play one 16 MB WAV at once: it is downloaded once, held
// once (the gateway grows by far less than twenty copies), and every call
// hears it; a call that comes later plays the kept copy.
func TestFetchPlayCacheSharesOneFile(t *testing.T) {
	const calls = 20
	const size = 16_000_000
	file, data := bigWAV(t, size)
	modified := time.Now().Add(-time.Hour)
	audio := startHost(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=300")
		w.Header().Set("ETag", `"big-1"`)
		w.Header().Set("Content-Type", "audio/wav")
		http.ServeContent(w, r, "big.wav", modified, bytes.NewReader(file))
	})
	env := servetest.StartEnv(t, servetest.EnvOptions{})
	warmUp(t, env)
	base := env.Baseline(t)
	heapBefore := env.Metrics(t).Get("go_memstats_heap_inuse_bytes")
	rssBefore := env.RSS()
	if heapBefore <= 0 || rssBefore <= 0 {
		t.Fatalf("heap %v, rss %d: no memory figures", heapBefore, rssBefore)
	}
	b := env.Bystander(t)

	env.App.Doc("/app", `<Response><Play>`+audio.URL("/big.wav")+`</Play></Response>`)
	var cs []*sipcaller.Call
	for i := range calls {
		c, err := env.Dial(t, sipcaller.Config{To: fmt.Sprintf("listener-%d", i)})
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		cs = append(cs, c)
	}
	start := data[:50*160] // the first second of the file
	servetest.Eventually(t, 30*time.Second, "every call hearing the file's first second", func() bool {
		for _, c := range cs {
			if !bytes.Contains(c.Heard(), start) {
				return false
			}
		}
		return true
	})
	heapGrowth := env.Metrics(t).Get("go_memstats_heap_inuse_bytes") - heapBefore
	rssGrowth := env.RSS() - rssBefore
	// A call that comes once the download is over plays the kept file.
	late, err := env.Dial(t, sipcaller.Config{To: "listener-late"})
	if err != nil {
		t.Fatalf("late call: %v", err)
	}
	cs = append(cs, late)
	servetest.Eventually(t, 10*time.Second, "the late call hearing the file's first second", func() bool {
		return bytes.Contains(late.Heard(), start)
	})
	if n := audio.Hits("/big.wav"); n != 1 {
		t.Errorf("the file was requested %d times for %d calls, want once", n, calls+1)
	}
	bound := float64(2*len(file) + 16<<20)
	t.Logf("%d calls playing a %d-byte file: heap +%.1f MB, RSS +%.1f MB (bound %.1f MB)",
		calls, len(file), heapGrowth/1e6, float64(rssGrowth)/1e6, bound/1e6)
	if heapGrowth > bound || float64(rssGrowth) > bound {
		t.Errorf("the gateway grew by heap %.1f MB, RSS %.1f MB: more than %.1f MB for one %d-byte file",
			heapGrowth/1e6, float64(rssGrowth)/1e6, bound/1e6, len(file))
	}
	for i, c := range cs {
		if err := c.Hangup(servetest.Context(t, 5*time.Second)); err != nil {
			t.Errorf("hang up call %d: %v", i, err)
		}
	}
	env.Survived(t, b, base, 15*time.Second)
}
