package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/wsapp"
)

// TestMain fails the run when goroutines of the package outlive the tests:
// every session, socket and clock must have ended.
func TestMain(m *testing.M) {
	code := m.Run()
	deadline := time.Now().Add(5 * time.Second)
	var leaked string
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		leaked = ""
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "callstream/internal/") && !strings.Contains(g, "scenario.TestMain") {
				leaked += g + "\n\n"
			}
		}
		if leaked == "" || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if leaked != "" && code == 0 {
		fmt.Fprintf(os.Stderr, "goroutines left after the tests:\n%s", leaked)
		code = 1
	}
	os.Exit(code)
}

// record is one captured log record: msg, level and every attribute.
type record map[string]any

func (r record) str(k string) string { return fmt.Sprint(r[k]) }

// testLogs captures a runtime's logs and lets a test wait for a line.
type testLogs struct {
	mu     sync.Mutex
	recs   []record
	notify chan struct{}
}

func newTestLogs() *testLogs { return &testLogs{notify: make(chan struct{}, 1)} }

func (l *testLogs) add(r record) {
	l.mu.Lock()
	l.recs = append(l.recs, r)
	l.mu.Unlock()
	select {
	case l.notify <- struct{}{}:
	default:
	}
}

func (l *testLogs) all() []record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]record(nil), l.recs...)
}

// find returns the first record matching.
func (l *testLogs) find(match func(record) bool) record {
	for _, r := range l.all() {
		if match(r) {
			return r
		}
	}
	return nil
}

// wait waits for a record matching.
func (l *testLogs) wait(t testing.TB, d time.Duration, what string, match func(record) bool) record {
	t.Helper()
	var found record
	l.until(t, d, "log record "+what, func() bool {
		found = l.find(match)
		return found != nil
	})
	return found
}

// until waits until cond holds, checking it now and after every record.
func (l *testLogs) until(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(d)
	for !cond() {
		select {
		case <-l.notify:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no %s within %s; logs:\n%s", what, d, l.dump())
		}
	}
}

// texts returns every Logger.write text of a session, in order.
func (l *testLogs) texts(session string) []string {
	var out []string
	for _, r := range l.all() {
		if r["msg"] == "scenario log" && (session == "" || r["session_id"] == session) {
			out = append(out, r.str("text"))
		}
	}
	return out
}

// waitText waits for a Logger.write line equal to text (or with its prefix
// when text ends in '*').
func (l *testLogs) waitText(t testing.TB, d time.Duration, text string) string {
	t.Helper()
	r := l.wait(t, d, fmt.Sprintf("Logger.write(%q)", text), func(r record) bool {
		if r["msg"] != "scenario log" {
			return false
		}
		got := r.str("text")
		if p, ok := strings.CutSuffix(text, "*"); ok {
			return strings.HasPrefix(got, p)
		}
		return got == text
	})
	return r.str("text")
}

func (l *testLogs) dump() string {
	var b strings.Builder
	for _, r := range l.all() {
		j, _ := json.Marshal(r)
		b.Write(j)
		b.WriteByte('\n')
	}
	s := b.String()
	if len(s) > 12000 {
		s = "..." + s[len(s)-12000:]
	}
	return s
}

// logHandler is a slog.Handler feeding testLogs.
type logHandler struct {
	l     *testLogs
	attrs []slog.Attr
}

func (h logHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h logHandler) Handle(_ context.Context, r slog.Record) error {
	rec := record{"msg": r.Message, "level": r.Level.String()}
	for _, a := range h.attrs {
		rec[a.Key] = a.Value.Any()
	}
	r.Attrs(func(a slog.Attr) bool {
		rec[a.Key] = a.Value.Resolve().Any()
		return true
	})
	h.l.add(rec)
	return nil
}
func (h logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return logHandler{l: h.l, attrs: append(append([]slog.Attr(nil), h.attrs...), as...)}
}
func (h logHandler) WithGroup(string) slog.Handler { return h }

// openMux serves every route without authentication: the gateway's
// Router, which guards the API, has tests of its own.
type openMux struct{ *http.ServeMux }

func (m openMux) HandleOpen(pattern string, h http.Handler) { m.Handle(pattern, h) }

// env is a runtime serving its routes on a loopback HTTP server.
type env struct {
	rt   *Runtime
	logs *testLogs
	srv  *httptest.Server
}

// newEnv starts a runtime for script with short limits suited to tests.
func newEnv(t testing.TB, script string, mod func(*Config)) *env {
	t.Helper()
	logs := newTestLogs()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	cfg := Config{
		File:      "scenario.js",
		Source:    script,
		Logger:    slog.New(logHandler{l: logs}),
		HTTPAddr:  func() string { return srv.Listener.Addr().String() },
		RecordDir: t.TempDir(),
		Limits:    Limits{NoCallTimeout: 20 * time.Second, ShutdownWait: 2 * time.Second},
	}
	if mod != nil {
		mod(&cfg)
	}
	rt, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rt.Routes(openMux{mux})
	t.Cleanup(func() {
		done := make(chan struct{})
		go func() {
			_ = rt.Close()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("Runtime.Close did not return in 10 s")
		}
		srv.Close()
		if t.Failed() {
			t.Logf("logs:\n%s", logs.dump())
		}
	})
	return &env{rt: rt, logs: logs, srv: srv}
}

// start starts a session without a call and returns its info.
func (e *env) start(t testing.TB, customData string) SessionInfo {
	t.Helper()
	info, err := e.rt.Start(customData)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

// waitEnded waits until the session is gone.
func (e *env) waitEnded(t testing.TB, id string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		found := false
		for _, s := range e.rt.Sessions() {
			if s.ID == id {
				found = true
			}
		}
		if !found {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("session %s still running after %s", id, d)
}

// wsServer is a WebSocket app the scenarios connect to.
type wsServer struct{ *wsapp.Server }

// newWSApp starts a WebSocket app; handler runs for every connection.
func newWSApp(t testing.TB, handler func(c *wsapp.Conn)) *wsServer {
	t.Helper()
	s, err := wsapp.Listen(wsapp.Options{Handler: handler})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return &wsServer{s}
}

// conn waits for the connection made to path.
func (s *wsServer) conn(t testing.TB, path string) *wsapp.Conn {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, c := range s.Conns() {
			if c.Path == path {
				return c
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no websocket connection to %s", path)
	return nil
}

// newHTTPServer serves h on loopback and returns its base URL.
func newHTTPServer(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
