// Package gatewaytest starts a real gateway with a real FlexML app server,
// a real WebSocket app and a real SIP caller on loopback, for integration
// tests, the demo's checks and benchmarks.
package gatewaytest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/callstream/callstream/internal/gateway"
	"github.com/callstream/callstream/internal/logtest"
	"github.com/callstream/callstream/internal/sipcaller"
	"github.com/callstream/callstream/internal/wsapp"
)

// AppRequest is one request the FlexML app server received.
type AppRequest struct {
	Method string
	Path   string
	Query  url.Values
	JSON   map[string]string
	Form   url.Values
	At     time.Time
}

// To returns the request's To as the SIP user part, whatever the app
// dialect: CarrierX's JSON or query, or Twilio's form or query (where a
// number is +E.164 and a name the whole SIP URI).
func (r AppRequest) To() string {
	if to := r.JSON["To"]; to != "" {
		return to
	}
	to := r.Form.Get("To")
	if to == "" {
		to = r.Query.Get("To")
	}
	if rest, ok := strings.CutPrefix(to, "sip:"); ok {
		to, _, _ = strings.Cut(rest, "@")
	}
	if r.JSON == nil && strings.HasPrefix(to, "+") {
		to = to[1:]
	}
	return to
}

// Field returns the request field name from its JSON body, form or query.
func (r AppRequest) Field(name string) string {
	if v := r.JSON[name]; v != "" {
		return v
	}
	if v := r.Form.Get(name); v != "" {
		return v
	}
	return r.Query.Get(name)
}

// App is a FlexML app server: it answers each path with a document (a
// text/template filled with the Env's addresses) and records every request.
type App struct {
	ln   net.Listener
	srv  *http.Server
	mu   sync.Mutex
	docs map[string]Response
	reqs []AppRequest
	vars map[string]string
}

// Response is what the app answers on one path.
type Response struct {
	Status      int    // default 200
	Body        string // a template: {{.WS}} is the WebSocket app base URL, {{.App}} this server's base URL
	Delay       time.Duration
	ContentType string
	Raw         []byte // served as is when set (e.g. a WAV file), as ContentType or audio/wav
	// Header holds more response headers (e.g. Cache-Control).
	Header http.Header
}

func newApp() (*App, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	a := &App{ln: ln, docs: map[string]Response{}, vars: map[string]string{}}
	a.srv = &http.Server{Handler: http.HandlerFunc(a.serve), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = a.srv.Serve(ln) }()
	return a, nil
}

// NewApp starts a FlexML app server on loopback for t; t's cleanup closes
// it. vars fill its document templates (e.g. "WS" for {{.WS}}); "App" is set
// to its own base URL.
func NewApp(t testing.TB, vars map[string]string) *App {
	t.Helper()
	a, err := newApp()
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range vars {
		a.vars[k] = v
	}
	a.vars["App"] = a.URL("")
	t.Cleanup(func() { _ = a.srv.Close() })
	return a
}

// URL returns the app's base URL + path.
func (a *App) URL(path string) string { return "http://" + a.ln.Addr().String() + path }

// Set makes the app answer path with r.
func (a *App) Set(path string, r Response) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.docs[path] = r
}

// Doc makes the app answer path with a FlexML document template.
func (a *App) Doc(path, body string) { a.Set(path, Response{Body: body}) }

// DocTo makes the app answer path with a FlexML document template for
// calls to the number to only (the request's To); other calls get the
// path's own document.
func (a *App) DocTo(path, to, body string) { a.Set(path+"#to="+to, Response{Body: body}) }

// Requests returns the requests received so far.
func (a *App) Requests() []AppRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]AppRequest(nil), a.reqs...)
}

func (a *App) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := AppRequest{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), At: time.Now()}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		_ = json.Unmarshal(body, &req.JSON)
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		r.Body = io.NopCloser(bytes.NewReader(body))
		if err := r.ParseForm(); err == nil {
			req.Form = r.PostForm
		}
	}
	a.mu.Lock()
	a.reqs = append(a.reqs, req)
	to := req.To()
	resp, ok := a.docs[r.URL.Path+"#to="+to]
	if !ok {
		resp, ok = a.docs[r.URL.Path]
	}
	vars := a.vars
	a.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	if resp.Delay > 0 {
		select {
		case <-time.After(resp.Delay):
		case <-r.Context().Done():
			return
		}
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	if resp.Raw != nil {
		ct := resp.ContentType
		if ct == "" {
			ct = "audio/wav"
		}
		w.Header().Set("Content-Type", ct)
		_, _ = w.Write(resp.Raw)
		return
	}
	t, err := template.New("doc").Parse(resp.Body)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	var out bytes.Buffer
	if err := t.Execute(&out, vars); err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	ct := resp.ContentType
	if ct == "" {
		ct = "application/xml"
	}
	w.Header().Set("Content-Type", ct)
	if resp.Status != 0 {
		w.WriteHeader(resp.Status)
	}
	_, _ = w.Write(out.Bytes())
}

// Env is a running gateway with its app, WebSocket app and caller.
type Env struct {
	T      testing.TB
	GW     *gateway.Gateway
	App    *App
	WS     *wsapp.Server
	Caller *sipcaller.Client
	Logs   *logtest.Buffer
	ctx    context.Context
}

// Options configure an Env.
type Options struct {
	Dialect   string                    // carrierx (default) or twilio
	WS        wsapp.Options             // the WebSocket app's behaviour
	AppPath   string                    // the first document's path (default "/app")
	Configure func(cfg *gateway.Config) // last changes to the gateway config
	LogLevel  slog.Level                // default info
	// AppOnWS serves the FlexML app from the WebSocket app's own address, so
	// relative Stream urls resolve to the WebSocket app.
	AppOnWS bool
}

// Start starts everything; t.Cleanup stops it and checks that no call is
// left and every RTP port is released.
func Start(t testing.TB, opts Options) *Env {
	t.Helper()
	goroutines := runtime.NumGoroutine()
	app, err := newApp()
	if err != nil {
		t.Fatal(err)
	}
	if opts.AppOnWS {
		opts.WS.HTTP = http.HandlerFunc(app.serve)
	}
	ws, err := wsapp.Listen(opts.WS)
	if err != nil {
		t.Fatal(err)
	}
	app.vars["WS"] = strings.TrimSuffix(ws.URL(""), "/")
	app.vars["App"] = app.URL("")
	if opts.AppPath == "" {
		opts.AppPath = "/app"
	}
	logs := &logtest.Buffer{}
	d, err := gateway.Dialect(opts.Dialect)
	if err != nil {
		t.Fatal(err)
	}
	level := opts.LogLevel
	if level == 0 {
		level = slog.LevelInfo
	}
	cfg := gateway.Config{
		SIPAddr:  "127.0.0.1:0",
		HTTPAddr: "127.0.0.1:0",
		App:      app.URL(opts.AppPath),
		RTPPorts: "31000-38999",
		Dialect:  d,
		Logger:   slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: level})),
		// Tests compare callers' audio byte for byte: a fixed jitter
		// buffer long enough that a busy machine's stalls (of the test's
		// sender or of the gateway) conceal nothing. Configure may change it.
		JitterBuffer: 300 * time.Millisecond,
	}
	if opts.AppOnWS {
		cfg.App = "http://" + ws.Addr() + opts.AppPath
	}
	if opts.Configure != nil {
		opts.Configure(&cfg)
	}
	gw, err := gateway.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Run(ctx) }()
	select {
	case <-gw.Ready():
	case err := <-done:
		t.Fatalf("gateway: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("gateway not ready in 10 s")
	}
	caller, err := sipcaller.NewClient(sipcaller.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	e := &Env{T: t, GW: gw, App: app, WS: ws, Caller: caller, Logs: logs, ctx: ctx}
	t.Cleanup(func() {
		// Every call must end and release its port by itself.
		deadline := time.Now().Add(5 * time.Second)
		for (gw.ActiveCalls() > 0 || gw.PortsInUse() > 0) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		active, ports := gw.ActiveCalls(), gw.PortsInUse()
		cancel()
		<-done
		caller.Close()
		ws.Close()
		app.srv.Close()
		if active > 0 || ports > 0 {
			t.Errorf("after the test: %d calls still active, %d RTP ports in use", active, ports)
		}
		deadline = time.Now().Add(3 * time.Second)
		for runtime.NumGoroutine() > goroutines+2 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := runtime.NumGoroutine(); n > goroutines+2 {
			buf := make([]byte, 1<<16)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("goroutines: %d before, %d after the test:\n%s", goroutines, n, buf)
		}
		if t.Failed() {
			t.Logf("gateway logs:\n%s", tail(logs.String(), 8000))
		}
	})
	return e
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// Context returns a context bounded by d for one step of a test.
func (e *Env) Context(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	e.T.Cleanup(cancel)
	return ctx
}

// Dial places a call with the Go caller.
func (e *Env) Dial(cfg sipcaller.Config) *sipcaller.Call {
	e.T.Helper()
	cfg.Target = e.GW.SIPAddr()
	if cfg.From == "" {
		cfg.From = "15551112222"
	}
	if cfg.To == "" {
		cfg.To = "15553334444"
	}
	c, err := e.Caller.Dial(e.Context(10*time.Second), cfg)
	if err != nil {
		e.T.Fatalf("dial: %v", err)
	}
	e.T.Cleanup(func() { c.Close() })
	return c
}

// Accept waits for the next WebSocket connection from the gateway.
func (e *Env) Accept() *wsapp.Conn {
	e.T.Helper()
	c, err := e.WS.Accept(e.Context(10 * time.Second))
	if err != nil {
		e.T.Fatal(err)
	}
	return c
}

// Refusal returns the SIP refusal (the final non-2xx response) of a dial
// that must fail, and fails t when err is not one.
func Refusal(t testing.TB, err error) *sipcaller.StatusError {
	t.Helper()
	var se *sipcaller.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("dial: %v, want a SIP refusal", err)
	}
	return se
}

// WaitClosed waits until the gateway closed the WebSocket connection.
func WaitClosed(t testing.TB, c *wsapp.Conn, d time.Duration) {
	t.Helper()
	select {
	case <-c.Closed():
	case <-time.After(d):
		t.Fatalf("websocket not closed within %s", d)
	}
}
