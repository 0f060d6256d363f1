package scenario_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/gateway"
	"github.com/callstream/callstream/internal/gatewaytest"
	"github.com/callstream/callstream/internal/scenario"
	"github.com/callstream/callstream/internal/servetest"
)

// apiToken is the API token of the test gateways.
const apiToken = "scenario-test-token-0123456789"

// apiRequest sends a request to the gateway's API with the token.
func apiRequest(t *testing.T, method, url string, form url.Values) *http.Response {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Authorization", "Bearer "+apiToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// gw is a real gateway running a scenario runtime, with a SIP caller.
type gw struct {
	*gatewaytest.Env
	rt *scenario.Runtime
}

// startGateway starts a gateway whose calls run the scenario of cfg.
func startGateway(t *testing.T, cfg scenario.Config) *gw {
	t.Helper()
	return startGatewayTLS(t, cfg, "", "")
}

// startGatewayTLS is startGateway with the gateway's HTTPS listener on
// (certificate and key files), when certFile is not empty.
func startGatewayTLS(t *testing.T, cfg scenario.Config, certFile, keyFile string) *gw {
	t.Helper()
	var addr, secure atomic.Pointer[string]
	var rt *scenario.Runtime
	env := gatewaytest.Start(t, gatewaytest.Options{
		Configure: func(gc *gateway.Config) {
			if certFile != "" {
				gc.HTTPSAddr, gc.TLSCertFile, gc.TLSKeyFile = "127.0.0.1:0", certFile, keyFile
				cfg.HTTPSAddr = func() string {
					if p := secure.Load(); p != nil {
						return *p
					}
					return ""
				}
			}
			gc.APITokens = []string{apiToken}
			cfg.Logger = gc.Logger
			cfg.HTTPAddr = func() string {
				if p := addr.Load(); p != nil {
					return *p
				}
				return ""
			}
			if cfg.RecordDir == "" {
				cfg.RecordDir = t.TempDir()
			}
			var err error
			if rt, err = scenario.New(cfg); err != nil {
				t.Fatal(err)
			}
			gateway.WithScenario(gc, rt)
		},
	})
	a, sa := env.GW.HTTPAddr(), env.GW.HTTPSAddr()
	addr.Store(&a)
	secure.Store(&sa)
	t.Cleanup(func() { _ = rt.Close() })
	return &gw{Env: env, rt: rt}
}

// texts returns the Logger.write lines so far.
func (g *gw) texts() []string {
	var out []string
	for _, line := range strings.Split(g.Logs.String(), "\n") {
		if !strings.Contains(line, `"msg":"scenario log"`) {
			continue
		}
		var r struct {
			Text string `json:"text"`
		}
		if json.Unmarshal([]byte(line), &r) == nil {
			out = append(out, r.Text)
		}
	}
	return out
}

// waitText waits for a Logger.write line (a prefix when text ends in '*').
func (g *gw) waitText(t *testing.T, text string, d time.Duration) string {
	t.Helper()
	var found string
	g.Logs.Wait(t, d, fmt.Sprintf("Logger.write(%q)", text), func() bool {
		for _, s := range g.texts() {
			if p, ok := strings.CutSuffix(text, "*"); ok && strings.HasPrefix(s, p) || s == text {
				found = s
				return true
			}
		}
		return false
	})
	return found
}

// waitStreaming waits until the scenario streams the audio of the call
// from the number from to a WebSocket.
func (g *gw) waitStreaming(t *testing.T, from string) {
	t.Helper()
	g.Logs.WaitFind(t, 5*time.Second, "INFO", "call audio to websocket", map[string]string{"call_sid": g.callSid(t, from)})
}

// callSid waits for the call from the number from and returns its CallSid.
func (g *gw) callSid(t *testing.T, from string) string {
	t.Helper()
	var sid string
	g.Logs.Wait(t, 5*time.Second, "the call from "+from, func() bool {
		for _, r := range g.Logs.Records("INFO", "incoming call") {
			if r["from"] == from && r["call_sid"] != nil {
				sid = fmt.Sprint(r["call_sid"])
				return true
			}
		}
		return false
	})
	return sid
}

// waitCallerFrames waits until the gateway has handed n frames of the
// caller's audio (not silence it filled in) of the call from the number
// from to the call's taps, and then more frames, so that taps with a
// clock of their own (a recorder) have had their share. The call's
// counters are atomics that no event announces: they are polled.
func (g *gw) waitCallerFrames(t *testing.T, from string, n, more uint64) {
	t.Helper()
	sid := g.callSid(t, from)
	var slots uint64
	servetest.Eventually(t, 10*time.Second, fmt.Sprintf("%d frames of the caller's audio taken", n), func() bool {
		c := g.GW.Call(sid)
		if c == nil {
			return false
		}
		k := c.Counters()
		slots = k.FramesIn + k.Concealed
		return k.FramesIn >= n
	})
	servetest.Eventually(t, 10*time.Second, fmt.Sprintf("%d slots more", more), func() bool {
		c := g.GW.Call(sid)
		if c == nil {
			return false
		}
		k := c.Counters()
		return k.FramesIn+k.Concealed >= slots+more
	})
}

// waitSessions waits until no session runs.
func (g *gw) waitSessions(t *testing.T, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for len(g.rt.Sessions()) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(g.rt.Sessions()); n > 0 {
		t.Fatalf("%d sessions still running", n)
	}
}
