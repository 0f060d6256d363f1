package gateway

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/callstream/callstream/internal/limit"
	"github.com/callstream/callstream/internal/limit/limittest"
)

// apiRouter is a router with one API endpoint and one open one.
func apiRouter(tokens []string, c limit.Counter, log *slog.Logger) *Router {
	r := newRouter(newTokenAuth(tokens, c, log))
	r.HandleFunc("GET /api", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("api\n")) })
	r.HandleOpen("GET /open", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("open\n")) }))
	return r
}

func serve(r http.Handler, path, auth string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	return w
}

func jsonError(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json", ct)
	}
	var body struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body.Error == "" {
		t.Fatalf("body %q: not a JSON error (%v)", w.Body, err)
	}
	return body.Error
}

// Without a token the API is off: 403 saying how to turn it on; open
// endpoints answer.
func TestRouterAPIOffWithoutTokens(t *testing.T) {
	c := &limittest.Counts{}
	r := apiRouter(nil, c, slog.New(slog.DiscardHandler))
	w := serve(r, "/api", "Bearer anything")
	if w.Code != http.StatusForbidden || jsonError(t, w) != apiOffMessage {
		t.Fatalf("API without tokens: %d %s", w.Code, w.Body)
	}
	if !strings.Contains(apiOffMessage, "--api-token") {
		t.Fatal("the message does not say how to turn the API on")
	}
	if w := serve(r, "/open", ""); w.Code != http.StatusOK || w.Body.String() != "open\n" {
		t.Fatalf("open endpoint: %d %s", w.Code, w.Body)
	}
	if c.Total() != 0 {
		t.Fatalf("counted %v", c)
	}
	if got := strings.Join(r.Guarded(), ","); got != "GET /api" {
		t.Fatalf("guarded %q", got)
	}
}

// A missing or wrong token gets 401 with WWW-Authenticate and a JSON
// error, counted and logged without the token; a right one passes.
func TestRouterBearerTokens(t *testing.T) {
	c := &limittest.Counts{}
	var logs bytes.Buffer
	r := apiRouter([]string{"first-token-0123456789", "second-token-0123456789"}, c, slog.New(slog.NewTextHandler(&logs, nil)))
	for _, tc := range []struct {
		name, auth, challenge string
		code                  int
	}{
		{"missing", "", `Bearer realm="callstream"`, 401},
		{"other scheme", "Basic Zmlyc3Q6eA==", `Bearer realm="callstream"`, 401},
		{"empty bearer", "Bearer ", `Bearer realm="callstream"`, 401},
		{"wrong", "Bearer wrong-token-0123456789", `Bearer realm="callstream", error="invalid_token"`, 401},
		{"prefix", "Bearer first-token-012345678", `Bearer realm="callstream", error="invalid_token"`, 401},
		{"longer", "Bearer first-token-01234567890", `Bearer realm="callstream", error="invalid_token"`, 401},
		{"first", "Bearer first-token-0123456789", "", 200},
		{"second, any case of the scheme", "bearer second-token-0123456789", "", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := serve(r, "/api?x=secret-query", tc.auth)
			if w.Code != tc.code {
				t.Fatalf("%d %s, want %d", w.Code, w.Body, tc.code)
			}
			if tc.code == 200 {
				if w.Body.String() != "api\n" {
					t.Fatalf("body %q", w.Body)
				}
				return
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tc.challenge {
				t.Fatalf("WWW-Authenticate %q, want %q", got, tc.challenge)
			}
			jsonError(t, w)
		})
	}
	if c.Get(limit.APIToken) != 6 {
		t.Fatalf("api_token counted %d times, want 6", c.Get(limit.APIToken))
	}
	out := logs.String()
	if !strings.Contains(out, "HTTP API request refused") || !strings.Contains(out, "path=/api") {
		t.Fatalf("log:\n%s", out)
	}
	for _, secret := range []string{"first-token", "second-token", "wrong-token", "secret-query"} {
		if strings.Contains(out, secret) {
			t.Fatalf("the log holds %q:\n%s", secret, out)
		}
	}
}

// valid takes every configured token and nothing else; it compares
// digests, so the time taken does not depend on where a guess differs.
func TestTokenAuthValid(t *testing.T) {
	a := newTokenAuth([]string{"a-long-enough-token-1", "a-long-enough-token-2"}, nil, slog.New(slog.DiscardHandler))
	for tok, want := range map[string]bool{
		"a-long-enough-token-1": true, "a-long-enough-token-2": true,
		"": false, "a-long-enough-token-": false, "a-long-enough-token-3": false, "a-long-enough-token-12": false,
	} {
		if got := a.valid(tok); got != want {
			t.Errorf("valid(%q) = %v, want %v", tok, got, want)
		}
	}
	for _, d := range a.digests {
		if bytes.Contains(d[:], []byte("a-long")) {
			t.Fatal("a token is kept in clear")
		}
	}
}

func TestCheckTokens(t *testing.T) {
	if short, err := checkTokens([]string{"0123456789abcdef", "short"}); err != nil || short != 1 {
		t.Fatalf("short %d err %v", short, err)
	}
	for _, bad := range [][]string{{""}, {"with space-0123456789"}, {"ok-0123456789abcdef", "tab\there-0123456789"}, {"caf\u00e9-0123456789abcdef"}} {
		_, err := checkTokens(bad)
		if err == nil {
			t.Fatalf("%q accepted", bad)
		}
		for _, tok := range bad {
			if tok != "" && strings.Contains(err.Error(), tok) {
				t.Fatalf("the error names the token: %v", err)
			}
		}
	}
}

// The servers carry the HTTP bounds.
func TestHTTPServerBounds(t *testing.T) {
	s := newServer(http.NotFoundHandler(), nil)
	if s.ReadHeaderTimeout != httpReadHeaderTimeout || s.ReadTimeout != httpReadTimeout || s.WriteTimeout != httpWriteTimeout ||
		s.IdleTimeout != httpIdleTimeout || s.MaxHeaderBytes != httpMaxHeaderBytes {
		t.Fatalf("server %+v", s)
	}
	if httpWriteTimeout.Seconds() <= 30 {
		t.Fatal("the write timeout cuts a default 30 s CPU profile")
	}
}
