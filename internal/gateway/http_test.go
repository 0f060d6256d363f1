package gateway_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/gateway"
	"github.com/callstream/callstream/internal/gatewaytest"
	"github.com/callstream/callstream/internal/servetest"
)

const testToken = "gateway-test-token-0123456789"

// get fetches url with the bearer token (none when token is "").
func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	code, body, _ := request(t, http.MethodGet, url, token)
	return code, body
}

// request sends an HTTP request with the bearer token (if any) and returns
// the answer's code, body and header.
func request(t *testing.T, method, url, token string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// refusals returns callstream_refusals_total{limit} of a gateway.
func refusals(t *testing.T, metricsURL, limit string) float64 {
	t.Helper()
	m, err := servetest.Scrape(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	return m.Get("callstream_refusals_total", "limit="+limit)
}

// Endpoints registered with Handle need the token, open ones do not; the
// profiler is an API endpoint; refusals are counted.
func TestAPIEndpointsBehindTokens(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Configure: func(c *gateway.Config) {
		c.APITokens = []string{testToken}
		c.Pprof = true
		c.Routes = func(r *gateway.Router) {
			r.HandleFunc("GET /api/thing", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("thing\n")) })
			r.HandleOpen("GET /open/thing", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("open\n")) }))
		}
	}})
	base := "http://" + env.GW.HTTPAddr()
	for _, tc := range []struct {
		path, token string
		code        int
	}{
		{"/api/thing", "", 401},
		{"/api/thing", "wrong-token-0123456789", 401},
		{"/api/thing", testToken, 200},
		{"/open/thing", "", 200},
		{"/debug/pprof/cmdline", "", 401},
		{"/debug/pprof/cmdline", testToken, 200},
		{"/healthz", "", 200},
		{"/metrics", "", 200},
	} {
		if code, body := get(t, base+tc.path, tc.token); code != tc.code {
			t.Errorf("GET %s (token %q): %d %s, want %d", tc.path, tc.token, code, body, tc.code)
		}
	}
	if got := refusals(t, base+"/metrics", "api_token"); got != 3 {
		t.Errorf("api_token refusals %v, want 3", got)
	}
	if env.Logs.Find("INFO", "HTTP API on", map[string]string{"bearers": "1"}) == nil {
		t.Error("no start-up line saying the API is on")
	}
}

// Without a token the API endpoints are off, and the gateway says so once.
func TestAPIOffWithoutTokens(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Configure: func(c *gateway.Config) {
		c.Routes = func(r *gateway.Router) {
			r.HandleFunc("POST /api/start", func(w http.ResponseWriter, _ *http.Request) {})
		}
	}})
	resp, err := http.Post("http://"+env.GW.HTTPAddr()+"/api/start", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "--api-token") {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if env.Logs.Find("INFO", "HTTP API off", map[string]string{"endpoints": "POST /api/start"}) == nil {
		t.Fatalf("no start-up line saying the API is off:\n%s", env.Logs.String())
	}
}

// With MetricsAddr, health and metrics move to their own listener.
func TestMetricsListener(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Configure: func(c *gateway.Config) { c.MetricsAddr = "127.0.0.1:0" }})
	mon, api := "http://"+env.GW.MetricsAddr(), "http://"+env.GW.HTTPAddr()
	if env.GW.MetricsAddr() == "127.0.0.1:0" || env.GW.MetricsAddr() == env.GW.HTTPAddr() {
		t.Fatalf("metrics address %s", env.GW.MetricsAddr())
	}
	for _, p := range []string{"/healthz", "/metrics"} {
		if code, _ := get(t, mon+p, ""); code != 200 {
			t.Errorf("metrics listener %s: %d", p, code)
		}
		if code, _ := get(t, api+p, ""); code != 404 {
			t.Errorf("HTTP listener %s: %d, want 404", p, code)
		}
	}
}

// Connections over HTTPConns are closed at once and counted; once some
// close, new ones are served.
func TestHTTPConnectionBound(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Configure: func(c *gateway.Config) {
		c.Limits.HTTPConns = 3
		c.MetricsAddr = "127.0.0.1:0"
	}})
	addr := env.GW.HTTPAddr()
	var held []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	// The listener counts a connection once it has accepted it: wait
	// until the three are in, by a request on each.
	for _, c := range held {
		if _, err := fmt.Fprintf(c, "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 12)
		if _, err := io.ReadFull(c, buf); err != nil || !strings.HasPrefix(string(buf), "HTTP/1.1 404") {
			t.Fatalf("held connection: %q %v", buf, err)
		}
	}
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	_ = extra.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := extra.Read(make([]byte, 1)); err == nil || n != 0 {
		t.Fatalf("a fourth connection was served: %d %v", n, err)
	}
	// The listener counts the refusal just after it closed the connection.
	metrics := "http://" + env.GW.MetricsAddr() + "/metrics"
	servetest.Eventually(t, 5*time.Second, "the refused connection counted", func() bool {
		return refusals(t, metrics, "http_connections") == 1
	})
	for _, c := range held {
		c.Close()
	}
	servetest.Eventually(t, 5*time.Second, "a request served once the held connections closed", func() bool {
		resp, err := http.Get("http://" + addr + "/nothing")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 404
	})
}
