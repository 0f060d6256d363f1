package fetch

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/limit"
	"github.com/callstream/callstream/internal/limit/limittest"
	"github.com/callstream/callstream/internal/logtest"
)

// newLog returns a call's logger writing text lines, and what it wrote.
func newLog() (*slog.Logger, *logtest.Buffer) {
	log, b := logtest.Text(slog.LevelInfo)
	return log.With("call_sid", "CA1"), b
}

// server starts an HTTP server on addr ("127.0.0.1:0" and the like) for t.
func server(t *testing.T, addr string, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	s := httptest.NewUnstartedServer(h)
	s.Listener = ln
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func get(t *testing.T, c *Client, rawURL string, log *slog.Logger) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req, log)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := ReadAll(resp.Body, 1<<20)
	return string(b), err
}

// A redirect to a refused address is refused before it is followed, counted
// once, and logged with the call's id and both URLs without their query
// strings.
func TestRedirectToRefusedAddress(t *testing.T) {
	var n limittest.Counts
	c := New(Config{Refusals: &n})
	defer c.Close()
	var hits atomic.Int32
	s := server(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/?token=s3cret", http.StatusFound)
	})
	log, logs := newLog()
	_, err := get(t, c, s.URL+"/play.wav?key=hush", log)
	if !errors.Is(err, ErrRefused) {
		t.Fatalf("err %v, want refused", err)
	}
	if n.Get(limit.URLPolicy) != 1 || hits.Load() != 1 {
		t.Fatalf("%d refusals counted, %d requests to the first hop", n.Get(limit.URLPolicy), hits.Load())
	}
	out := logs.String()
	for _, want := range []string{"fetch refused by the URL policy", "call_sid=CA1", "url=http://169.254.169.254/latest/meta-data/",
		"redirected_from=" + s.URL + "/play.wav", "link-local and cloud-metadata addresses are refused"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out+err.Error(), "s3cret") || strings.Contains(out+err.Error(), "hush") {
		t.Errorf("a query string leaked:\nlog: %s\nerr: %v", out, err)
	}
}

// A host name is checked on the addresses it resolves to, when they are
// dialed: redirects to a name are caught too.
func TestNameResolvingToRefusedAddress(t *testing.T) {
	var n limittest.Counts
	c := New(Config{Policy: NewPolicy(PolicyConfig{DenyPrivate: true}), Refusals: &n})
	defer c.Close()
	target := server(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "secret") })
	_, port, _ := net.SplitHostPort(target.Listener.Addr().String())
	log, logs := newLog()
	_, err := get(t, c, "http://localhost:"+port+"/", log)
	var re *RefusedError
	if !errors.As(err, &re) || re.Rule != RulePrivate || !re.Addr.Addr().IsLoopback() {
		t.Fatalf("err %v, want loopback refused", err)
	}

	// The app (trusted) redirects to the same name: the hop is checked.
	app := server(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://localhost:"+port+"/", http.StatusFound)
	})
	trusting := New(Config{Policy: NewPolicy(PolicyConfig{DenyPrivate: true}), Trusted: app.URL + "/app", Refusals: &n})
	defer trusting.Close()
	if _, err := get(t, trusting, app.URL+"/next", log); !errors.Is(err, ErrRefused) {
		t.Fatalf("redirect to localhost: %v, want refused", err)
	}
	if n.Get(limit.URLPolicy) != 2 || !strings.Contains(logs.String(), "redirected_from="+app.URL+"/next") {
		t.Fatalf("%d refusals; log:\n%s", n.Get(limit.URLPolicy), logs.String())
	}
}

// The trusted origin (the operator's app) is not checked; another port of
// the same host is.
func TestTrustedOrigin(t *testing.T) {
	app := server(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "doc") })
	other := server(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "other") })
	c := New(Config{Policy: NewPolicy(PolicyConfig{DenyPrivate: true}), Trusted: strings.ToUpper(app.URL[:4]) + app.URL[4:] + "/app?x=1"})
	defer c.Close()
	if body, err := get(t, c, app.URL+"/any/path", nil); err != nil || body != "doc" {
		t.Fatalf("trusted origin: %q %v", body, err)
	}
	if _, err := get(t, c, other.URL+"/", nil); !errors.Is(err, ErrRefused) {
		t.Fatalf("other origin: %v, want refused", err)
	}
	// --url-allow lets the other one through.
	allowing := New(Config{Policy: NewPolicy(PolicyConfig{DenyPrivate: true, Allow: prefixes("127.0.0.1/32")})})
	defer allowing.Close()
	if body, err := get(t, allowing, other.URL+"/", nil); err != nil || body != "other" {
		t.Fatalf("allowed: %q %v", body, err)
	}
}

// The gateway's own listener is refused, for HTTP and for WebSocket dials.
func TestOwnListenerRefused(t *testing.T) {
	gw := server(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "# metrics") })
	var n limittest.Counts
	c := New(Config{Refusals: &n})
	defer c.Close()
	if err := c.Policy().AddOwn(gw.Listener.Addr().String()); err != nil {
		t.Fatal(err)
	}
	log, logs := newLog()
	if _, err := get(t, c, gw.URL+"/metrics", log); !errors.Is(err, ErrRefused) {
		t.Fatalf("own /metrics: %v, want refused", err)
	}
	wsURL := "ws://" + gw.Listener.Addr().String() + "/ws?token=abc"
	_, err := c.Dialer(log, wsURL)(context.Background(), "tcp", gw.Listener.Addr().String())
	var re *RefusedError
	if !errors.As(err, &re) || re.Rule != RuleOwnListener {
		t.Fatalf("ws dial: %v, want own listener refused", err)
	}
	if n.Get(limit.URLPolicy) != 2 {
		t.Fatalf("%d refusals counted, want 2", n.Get(limit.URLPolicy))
	}
	if out := logs.String(); strings.Contains(out, "token=abc") || !strings.Contains(out, "url=ws://"+gw.Listener.Addr().String()+"/ws") {
		t.Fatalf("log:\n%s", out)
	}
}

// WebSocket dials: refused addresses fail before connecting; allowed and
// trusted ones connect.
func TestDialer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	addr := ln.Addr().String()
	var n limittest.Counts
	c := New(Config{Policy: NewPolicy(PolicyConfig{DenyPrivate: true}), Trusted: "http://" + addr + "/app", Refusals: &n})
	defer c.Close()
	ctx := context.Background()
	if _, err := c.Dialer(nil, "ws://169.254.169.254/x")(ctx, "tcp", "169.254.169.254:80"); !errors.Is(err, ErrRefused) {
		t.Fatalf("metadata: %v", err)
	}
	conn, err := c.Dialer(nil, "WS://"+addr+"/media")(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("trusted origin: %v", err)
	}
	conn.Close()
	_, port, _ := net.SplitHostPort(addr)
	if _, err := c.Dialer(nil, "wss://"+addr+"/media")(ctx, "tcp", addr); !errors.Is(err, ErrRefused) {
		t.Fatalf("wss on the app's http port is another origin: %v", err)
	}
	if _, err := c.Dialer(nil, "ws://localhost:"+port+"/x")(ctx, "tcp", "localhost:"+port); !errors.Is(err, ErrRefused) {
		t.Fatalf("localhost: %v", err)
	}
	if n.Get(limit.URLPolicy) != 3 {
		t.Fatalf("%d refusals counted, want 3", n.Get(limit.URLPolicy))
	}
}

// Redirects stop after 10.
func TestRedirectCap(t *testing.T) {
	var hits atomic.Int32
	var s *httptest.Server
	s = server(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Redirect(w, r, s.URL+"/again", http.StatusFound)
	})
	c := New(Config{})
	defer c.Close()
	_, err := get(t, c, s.URL+"/", nil)
	if err == nil || !strings.Contains(err.Error(), "stopped after 10 redirects") || errors.Is(err, ErrRefused) {
		t.Fatalf("err %v", err)
	}
	if hits.Load() != 11 {
		t.Fatalf("%d requests, want 11 (the first and 10 redirects)", hits.Load())
	}
}

// Proxy variables are ignored: the policy must see the address really dialed.
func TestNoProxy(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	s := server(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "direct") })
	c := New(Config{})
	defer c.Close()
	if body, err := get(t, c, s.URL, nil); err != nil || body != "direct" {
		t.Fatalf("%q %v", body, err)
	}
}

func TestLimitReader(t *testing.T) {
	b, err := ReadAll(strings.NewReader("12345"), 5)
	if err != nil || string(b) != "12345" {
		t.Fatalf("at the limit: %q %v", b, err)
	}
	b, err = ReadAll(strings.NewReader("123456"), 5)
	if !errors.Is(err, ErrTooLarge) || len(b) != 5 {
		t.Fatalf("over the limit: %q %v", b, err)
	}
}

// Addresses the policy checks arrive as the dialer's control hook sees them.
func TestControlParsesAddresses(t *testing.T) {
	c := New(Config{})
	defer c.Close()
	if err := c.control(context.Background(), "tcp4", "169.254.169.254:80", nil); !errors.Is(err, ErrRefused) {
		t.Fatal(err)
	}
	if err := c.control(context.Background(), "tcp6", "[2001:db8::1]:443", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.control(context.Background(), "tcp", "not-an-ip:80", nil); !errors.Is(err, ErrRefused) {
		t.Fatal(err)
	}
}
