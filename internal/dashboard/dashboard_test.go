package dashboard

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const goodToken = "dashboard-test-token-0123456789"

// fakeSource is a Source whose snapshot a test sets.
type fakeSource struct {
	mu sync.Mutex
	s  Snapshot
}

func (f *fakeSource) Snapshot() Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.s
	s.Time = time.Now()
	s.Calls = append([]Call(nil), f.s.Calls...)
	return s
}

func (f *fakeSource) set(s Snapshot) {
	f.mu.Lock()
	f.s = s
	f.mu.Unlock()
}

// testServer serves a dashboard of src on an httptest server; logs go to
// the returned buffer.
func testServer(t *testing.T, cfg Config) (*httptest.Server, *Dashboard, *bytes.Buffer) {
	t.Helper()
	return testServerConns(t, cfg, nil)
}

// testServerConns is testServer whose HTTP server reports its connections'
// states to connState (nil: none).
func testServerConns(t *testing.T, cfg Config, connState func(net.Conn, http.ConnState)) (*httptest.Server, *Dashboard, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	var mu sync.Mutex
	cfg.Log = slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if cfg.Source == nil {
		cfg.Source = &fakeSource{}
	}
	if cfg.ValidToken == nil {
		cfg.ValidToken = func(tok string) bool { return tok == goodToken }
	}
	d := New(cfg)
	mux := http.NewServeMux()
	d.Register(mux.Handle)
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ConnState = connState
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(d.Close)
	return srv, d, &logs
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// noRedirect is a client that reports redirects rather than following.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}

func get(t *testing.T, url string, hdr map[string]string, cookies ...*http.Cookie) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// login logs in with the good token and returns the session cookie.
func login(t *testing.T, srv *httptest.Server) *http.Cookie {
	t.Helper()
	resp := get(t, srv.URL+"/?token="+goodToken, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("login: %d Location %q; want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, c := range resp.Cookies() {
		if c.Name == CookieName {
			return c
		}
	}
	t.Fatalf("login set no %s cookie: %v", CookieName, resp.Header["Set-Cookie"])
	return nil
}

// A valid token in the query opens a session: an HttpOnly, SameSite=Strict
// cookie that is not the token, and a redirect to / that drops it from the
// address bar; the cookie then opens the page and the feed.
func TestLoginSetsSessionCookieAndRedirects(t *testing.T) {
	srv, _, logs := testServer(t, Config{})
	resp := get(t, srv.URL+"/?token="+goodToken, nil)
	set := strings.Join(resp.Header["Set-Cookie"], "\n")
	for _, want := range []string{CookieName + "=", "HttpOnly", "SameSite=Strict", "Path=/", "Max-Age="} {
		if !strings.Contains(set, want) {
			t.Errorf("Set-Cookie %q lacks %q", set, want)
		}
	}
	if strings.Contains(set, goodToken) {
		t.Errorf("the cookie holds the token: %q", set)
	}
	c := login(t, srv)
	page := get(t, srv.URL+"/", nil, c)
	if page.StatusCode != 200 || !strings.Contains(body(t, page), `new EventSource("/dashboard/events")`) {
		t.Fatalf("GET / with the session: %d", page.StatusCode)
	}
	if csp := page.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'sha256-") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	ev := get(t, srv.URL+EventsPath, nil, c)
	if ev.StatusCode != 200 || ev.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET %s with the session: %d %s", EventsPath, ev.StatusCode, ev.Header.Get("Content-Type"))
	}
	if strings.Contains(logs.String(), goodToken) {
		t.Errorf("the token is in the log:\n%s", logs)
	}
}

// Without a token or session, or with a wrong one, the page answers 401
// with the login form and the feed 401; nothing opens a session.
func TestRefusals(t *testing.T) {
	var refused []string
	var mu sync.Mutex
	srv, d, logs := testServer(t, Config{Refused: func(_ *http.Request, reason string) {
		mu.Lock()
		refused = append(refused, reason)
		mu.Unlock()
	}})
	bad := &http.Cookie{Name: CookieName, Value: strings.Repeat("ab", sessionIDBytes)}
	for _, tc := range []struct {
		what    string
		path    string
		hdr     map[string]string
		cookies []*http.Cookie
	}{
		{"page, nothing", "/", nil, nil},
		{"page, wrong token", "/?token=not-the-token", nil, nil},
		{"page, wrong bearer", "/", map[string]string{"Authorization": "Bearer not-the-token"}, nil},
		{"page, forged cookie", "/", nil, []*http.Cookie{bad}},
		{"feed, nothing", EventsPath, nil, nil},
		{"feed, wrong bearer", EventsPath, map[string]string{"Authorization": "Bearer nope"}, nil},
		{"feed, forged cookie", EventsPath, nil, []*http.Cookie{bad}},
		{"feed, token in the query", EventsPath + "?token=" + goodToken, nil, nil},
	} {
		resp := get(t, srv.URL+tc.path, tc.hdr, tc.cookies...)
		b := body(t, resp)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: %d, want 401", tc.what, resp.StatusCode)
		}
		if len(resp.Cookies()) != 0 {
			t.Errorf("%s: set a cookie", tc.what)
		}
		if tc.path == "/" && !strings.Contains(b, `<form method="post" action="/"><label>API token <input type="password" name="token"`) {
			t.Errorf("%s: no login form in %q", tc.what, b)
		}
	}
	if d.sessions.len() != 0 {
		t.Errorf("%d sessions opened", d.sessions.len())
	}
	mu.Lock()
	if len(refused) != 8 {
		t.Errorf("Refused heard %d refusals, want 8: %v", len(refused), refused)
	}
	mu.Unlock()
	if strings.Contains(logs.String(), "not-the-token") {
		t.Errorf("a token is in the log:\n%s", logs)
	}
}

// The login form posts the token: a valid one opens a session as the
// query does, a wrong one answers the form again (401), an oversized body
// is refused (400).
func TestLoginForm(t *testing.T) {
	srv, d, _ := testServer(t, Config{})
	post := func(body string) *http.Response {
		t.Helper()
		resp, err := noRedirect.Post(srv.URL+"/", "application/x-www-form-urlencoded", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	if r := post("token=wrong"); r.StatusCode != http.StatusUnauthorized || len(r.Cookies()) != 0 {
		t.Fatalf("wrong token: %d, cookies %v", r.StatusCode, r.Cookies())
	}
	if r := post("token=" + strings.Repeat("x", maxLoginBody)); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("oversized form: %d, want 400", r.StatusCode)
	}
	r := post("token=" + goodToken)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/" || len(r.Cookies()) != 1 {
		t.Fatalf("good token: %d Location %q cookies %v", r.StatusCode, r.Header.Get("Location"), r.Cookies())
	}
	if page := get(t, srv.URL+"/", nil, r.Cookies()[0]); page.StatusCode != 200 {
		t.Fatalf("page with the form's session: %d", page.StatusCode)
	}
	if d.sessions.len() != 1 {
		t.Fatalf("%d sessions", d.sessions.len())
	}
}

// The bearer header opens both routes, as for the rest of the API.
func TestBearerWorks(t *testing.T) {
	srv, _, _ := testServer(t, Config{})
	auth := map[string]string{"Authorization": "Bearer " + goodToken}
	if r := get(t, srv.URL+"/", auth); r.StatusCode != 200 {
		t.Fatalf("page with the bearer: %d", r.StatusCode)
	}
	if r := get(t, srv.URL+EventsPath, auth); r.StatusCode != 200 {
		t.Fatalf("feed with the bearer: %d", r.StatusCode)
	}
}

// Without API tokens the dashboard is off, as the API is.
func TestOffWithoutTokens(t *testing.T) {
	d := New(Config{Source: &fakeSource{}})
	mux := http.NewServeMux()
	d.Register(mux.Handle)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for _, p := range []string{"/", "/?token=x", EventsPath} {
		if r := get(t, srv.URL+p, nil); r.StatusCode != http.StatusForbidden || !strings.Contains(body(t, r), "--api-token") {
			t.Errorf("%s: %d, want 403 naming --api-token", p, r.StatusCode)
		}
	}
}

// Only the dashboard's routes are mounted: other paths are not caught by
// the page's pattern.
func TestPageIsOnlyTheRoot(t *testing.T) {
	srv, _, _ := testServer(t, Config{})
	if r := get(t, srv.URL+"/calls", nil); r.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /calls: %d, want 404", r.StatusCode)
	}
}

// Sessions are bounded: a login beyond MaxSessions evicts the oldest; and
// one expires SessionTTL after its login.
func TestSessionsBounded(t *testing.T) {
	srv, d, _ := testServer(t, Config{MaxSessions: 2})
	c1, c2, c3 := login(t, srv), login(t, srv), login(t, srv)
	if n := d.sessions.len(); n != 2 {
		t.Fatalf("%d sessions, want 2", n)
	}
	for i, tc := range []struct {
		c    *http.Cookie
		want int
	}{{c1, 401}, {c2, 200}, {c3, 200}} {
		if r := get(t, srv.URL+"/", nil, tc.c); r.StatusCode != tc.want {
			t.Errorf("session %d: %d, want %d", i+1, r.StatusCode, tc.want)
		}
	}
	s := newSessions(4, time.Hour)
	now := time.Now()
	s.now = func() time.Time { return now }
	id, err := s.open()
	if err != nil || !s.valid(id) {
		t.Fatalf("fresh session not valid: %v", err)
	}
	now = now.Add(time.Hour)
	if s.valid(id) {
		t.Fatal("a session is valid past its expiry")
	}
	if _, err := s.open(); err != nil || s.len() != 1 {
		t.Fatalf("expired session not swept: %d held", s.len())
	}
}

// event is one parsed SSE event.
type event struct {
	name, data string
	retry      string
}

// readEvent reads the next event (or retry field) off r.
func readEvent(t *testing.T, r *bufio.Reader) (event, error) {
	t.Helper()
	var e event
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return e, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if e != (event{}) {
				return e, nil
			}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "retry: "):
			e.retry = strings.TrimPrefix(line, "retry: ")
		case strings.HasPrefix(line, "event: "):
			e.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			if e.data != "" {
				t.Fatalf("an event with two data lines: %q", e.data)
			}
			e.data = strings.TrimPrefix(line, "data: ")
		default:
			t.Fatalf("not an SSE line: %q", line)
		}
	}
}

// The feed is SSE: a retry hint, then "snapshot" events whose data is one
// line of JSON, one per interval; levels turn into dBFS from one snapshot
// to the next; Close ends the feed.
func TestFeedFraming(t *testing.T) {
	src := &fakeSource{}
	src.set(Snapshot{Node: "n1", Calls: []Call{{Sid: "CA1", From: "a", Levels: []Level{{Track: "inbound"}}}},
		Ends: []End{{Sid: "CA0", Reason: "remote hangup"}}})
	srv, d, _ := testServer(t, Config{Source: src, Interval: 20 * time.Millisecond})
	resp := get(t, srv.URL+EventsPath, map[string]string{"Authorization": "Bearer " + goodToken})
	r := bufio.NewReader(resp.Body)
	e, err := readEvent(t, r)
	if err != nil || e.retry != "2000" {
		t.Fatalf("first event %+v %v; want the retry hint", e, err)
	}
	var s Snapshot
	e, _ = readEvent(t, r)
	if e.name != "snapshot" || json.Unmarshal([]byte(e.data), &s) != nil || s.Node != "n1" || len(s.Calls) != 1 || s.Calls[0].Sid != "CA1" || s.Ends[0].Reason != "remote hangup" {
		t.Fatalf("first snapshot %+v: %+v", e, s)
	}
	if s.Calls[0].Levels[0].DBFS != nil {
		t.Fatalf("a level with no samples: %v dBFS", *s.Calls[0].Levels[0].DBFS)
	}
	// 1000 samples at half full scale: -6.0 dBFS.
	src.set(Snapshot{Node: "n1", Calls: []Call{{Sid: "CA1", Levels: []Level{{Track: "inbound", Samples: 1000, SumSquares: 1000 * 16384 * 16384}}}}})
	for {
		e, err = readEvent(t, r)
		if err != nil {
			t.Fatal(err)
		}
		s = Snapshot{}
		if err := json.Unmarshal([]byte(e.data), &s); err != nil {
			t.Fatal(err)
		}
		if l := s.Calls[0].Levels[0].DBFS; l != nil {
			if *l != -6.0 {
				t.Fatalf("level %v dBFS, want -6.0", *l)
			}
			break
		}
	}
	if d.Subscribers() != 1 {
		t.Fatalf("%d subscribers, want 1", d.Subscribers())
	}
	d.Close()
	for {
		if _, err = readEvent(t, r); err != nil {
			break
		}
	}
	if !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "EOF") {
		t.Fatalf("the feed ended with %v, want EOF", err)
	}
}

// At most MaxSubscribers feeds at once; the next answers 503 until one
// goes.
func TestSubscribersBounded(t *testing.T) {
	// A feed's handler has returned (and let its place go) before the
	// server closes its connection.
	closed := make(chan struct{}, 16)
	srv, d, _ := testServerConns(t, Config{MaxSubscribers: 2, Interval: time.Hour}, func(_ net.Conn, st http.ConnState) {
		if st == http.StateClosed {
			select {
			case closed <- struct{}{}:
			default:
			}
		}
	})
	auth := map[string]string{"Authorization": "Bearer " + goodToken}
	a := get(t, srv.URL+EventsPath, auth)
	b := get(t, srv.URL+EventsPath, auth)
	if a.StatusCode != 200 || b.StatusCode != 200 {
		t.Fatalf("feeds: %d %d", a.StatusCode, b.StatusCode)
	}
	c := get(t, srv.URL+EventsPath, auth)
	if c.StatusCode != http.StatusServiceUnavailable || c.Header.Get("Retry-After") == "" {
		t.Fatalf("third feed: %d, want 503 with Retry-After", c.StatusCode)
	}
	a.Body.Close()
	timeout := time.After(10 * time.Second)
	for d.Subscribers() != 1 {
		select {
		case <-closed:
		case <-timeout:
			t.Fatalf("%d subscribers after one went, want 1", d.Subscribers())
		}
	}
	if r := get(t, srv.URL+EventsPath, auth); r.StatusCode != 200 {
		t.Fatalf("a feed after one went: %d", r.StatusCode)
	}
}

// A hostile From reaches the page as JSON data only: encoded so that no
// markup survives, and the script sets every value with textContent.
func TestHostileValuesStayText(t *testing.T) {
	src := &fakeSource{}
	hostile := `<script>alert(1)</script><img src=x onerror=alert(2)>`
	src.set(Snapshot{Calls: []Call{{Sid: "CA1", From: hostile, Streams: []Stream{{Name: hostile}}}}})
	srv, _, _ := testServer(t, Config{Source: src})
	resp := get(t, srv.URL+EventsPath, map[string]string{"Authorization": "Bearer " + goodToken})
	r := bufio.NewReader(resp.Body)
	_, _ = readEvent(t, r)
	e, err := readEvent(t, r)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(e.data, "<>") {
		t.Errorf("markup in the event data: %s", e.data)
	}
	var s Snapshot
	if json.Unmarshal([]byte(e.data), &s) != nil || s.Calls[0].From != hostile {
		t.Errorf("the From does not round-trip: %s", e.data)
	}
	for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "Function("} {
		if strings.Contains(pageJS, sink) {
			t.Errorf("the page's script uses %s", sink)
		}
	}
}

// DBFS: full scale is 0, half scale -6.0, silence the floor, no samples
// nil; counters that wrapped still give the level of the difference.
func TestDBFS(t *testing.T) {
	for _, tc := range []struct {
		n, sum uint64
		want   float64
	}{{160, 160 * 32768 * 32768, 0}, {160, 160 * 16384 * 16384, -6.0}, {160, 0, MinDBFS}, {160, 160, MinDBFS}} {
		if got := DBFS(tc.n, tc.sum); got == nil || *got != tc.want {
			t.Errorf("DBFS(%d, %d) = %v, want %v", tc.n, tc.sum, got, tc.want)
		}
	}
	if DBFS(0, 0) != nil {
		t.Error("DBFS of no samples is not nil")
	}
	f := feed{prev: map[levelKey]levelMark{{"CA1", "inbound"}: {samples: ^uint64(0) - 9, sumSquares: ^uint64(0) - 10*16384*16384 + 1}}}
	s := Snapshot{Calls: []Call{{Sid: "CA1", Levels: []Level{{Track: "inbound", Samples: 150, SumSquares: 150 * 16384 * 16384}}}}}
	f.levels(&s)
	if l := s.Calls[0].Levels[0].DBFS; l == nil || *l != -6.0 {
		t.Errorf("level across a wrap: %v, want -6.0", l)
	}
}
