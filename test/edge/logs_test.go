package edge

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/gatewaytest"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipcaller"
	"github.com/callstream/callstream/internal/wsapp"
)

// logLeaks returns the log lines of env that hold any of secrets.
func logLeaks(env *servetest.Env, secrets ...string) []string {
	var out []string
	for _, line := range strings.Split(env.Logs.String(), "\n") {
		for _, s := range secrets {
			if strings.Contains(line, s) {
				out = append(out, line)
				break
			}
		}
	}
	return out
}

// The caller's DTMF digits reach the app (Twilio dialect, <Connect>) but no
// log line at --log-level info: no line names a digit.
func TestDTMFDigitsNotLogged(t *testing.T) {
	env := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{
		Args: []string{"--stream-dialect", "twilio", "--log-level", "info"}}})
	base := env.Baseline(t)
	by := env.Bystander(t)

	env.App.DocTo("/app", "pin", `<Response><Connect><Stream url="{{.WS}}/pin"/></Connect></Response>`)
	c, err := env.Dial(t, sipcaller.Config{To: "pin", DTMF: true})
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	conn := env.StreamConn(t, "/pin")
	if err := c.SendAudio(servetest.Context(t, 5*time.Second), assets.Speech()[:1600]); err != nil {
		t.Fatalf("caller audio: %v", err)
	}
	const pin = "73*#A9"
	for i := range len(pin) {
		if err := c.SendDTMF(pin[i], 60*time.Millisecond); err != nil {
			t.Fatalf("digit %q: %v", pin[i], err)
		}
	}
	var got string
	servetest.Eventually(t, 10*time.Second, "the app gets the digits "+pin, func() bool {
		got = ""
		evs, err := conn.Events()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.Event == "dtmf" && e.DTMF != nil {
				got += e.DTMF.Digit
			}
		}
		return len(got) >= len(pin)
	})
	if got != pin {
		t.Fatalf("the app got digits %q, want %q", got, pin)
	}
	if err := c.Hangup(servetest.Context(t, 5*time.Second)); err != nil {
		t.Fatalf("hangup: %v", err)
	}
	sid := env.CallSid(t, "pin")
	env.Logs.Wait(t, 10*time.Second, "the call is released", func() bool {
		return env.Logs.Find("INFO", "call released", map[string]string{"call_sid": sid}) != nil
	})
	digits := map[string]bool{}
	for i := range len(pin) {
		digits[pin[i:i+1]] = true
	}
	for _, l := range env.Logs.Lines() {
		for k, v := range l {
			lk := strings.ToLower(k)
			if strings.Contains(lk, "digit") || strings.Contains(lk, "dtmf") {
				t.Errorf("a log line has a %q attribute: %v", k, l)
			}
			if s, ok := v.(string); ok && digits[s] {
				t.Errorf("a log line has a digit value %s=%q: %v", k, s, l)
			}
		}
		if msg, _ := l["msg"].(string); strings.Contains(msg, pin) {
			t.Errorf("a log message holds the digits: %v", l)
		}
	}
	env.Survived(t, by, base, 10*time.Second)
}

// Userinfo and query strings of stream, status-callback, redirect and play
// URLs — tokens, signatures, passwords — appear in no log line, while the
// gateway still uses them and logs the URLs without them. (FlexML refuses
// a Stream url with a query: the refusal does not quote it.)
func TestURLSecretsNotLogged(t *testing.T) {
	env := servetest.StartEnv(t, servetest.EnvOptions{})
	base := env.Baseline(t)
	by := env.Bystander(t)

	secrets := []string{"QTOKEN-5d1c", "CBSIG-77aa", "streamuser", "UPASS-9e3f", "APPKEY-41b2", "PLAYKEY-3a3a"}
	env.App.DocTo("/app", "badq", `<Response><Start><Stream url="{{.WS}}/badq?token=QTOKEN-5d1c"/></Start><Pause length="5"/></Response>`)
	if _, err := env.Dial(t, sipcaller.Config{To: "badq"}); err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("a Stream url with a query: call error %v, want 500", err)
	}
	env.App.DocTo("/app", "urls", `<Response>
  <Start><Stream name="q" url="{{.WS}}/urls-q" statusCallback="{{.App}}/status?sig=CBSIG-77aa"/></Start>
  <Start><Stream name="u" url="ws://streamuser:UPASS-9e3f@`+env.WS.Addr()+`/urls-u"/></Start>
  <Pause length="1"/>
  <Redirect>/next?key=APPKEY-41b2</Redirect>
</Response>`)
	// A Stream left open inside Start: a validation warning naming the
	// document's URL; a Play of a missing file: an error naming its URL.
	env.App.DocTo("/next", "urls", `<Response>
  <Start><Stream name="n" url="{{.WS}}/urls-n"></Start>
  <Play>/missing.wav?k=PLAYKEY-3a3a</Play>
  <Pause length="30"/>
</Response>`)
	c, err := env.Dial(t, sipcaller.Config{To: "urls"})
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	sid := env.CallSid(t, "urls")
	go func() { _ = c.SendAudio(servetest.Context(t, 10*time.Second), assets.Speech()[:16000]) }()
	q := env.StreamConn(t, "/urls-q")
	n := env.StreamConn(t, "/urls-n")
	servetest.Eventually(t, 10*time.Second, "both streams get audio", func() bool {
		_, a := servetest.Media(t, q)
		_, b := servetest.Media(t, n)
		return a > 5 && b > 5
	})
	servetest.Eventually(t, 10*time.Second, "the status callback and the play are requested with their queries", func() bool {
		cb, play := false, false
		for _, r := range env.App.Requests() {
			cb = cb || r.Path == "/status" && r.Query.Get("sig") == "CBSIG-77aa"
			play = play || r.Path == "/missing.wav" && r.Query.Get("k") == "PLAYKEY-3a3a"
		}
		return cb && play
	})
	wsQ := env.WS.URL("/urls-q")
	checks := []struct {
		level, msg string
		attrs      map[string]string
	}{
		{"INFO", "stream started", map[string]string{"call_sid": sid, "url": wsQ}},
		{"WARN", "statusCallback", map[string]string{"call_sid": sid, "url": env.App.URL("/status")}},
		{"ERROR", "stream", map[string]string{"call_sid": sid, "stream": "u"}},
		{"WARN", "flexml warning", map[string]string{"call_sid": sid, "url": env.App.URL("/next")}},
		{"ERROR", "play failed", map[string]string{"call_sid": sid, "url": "/missing.wav", "err": env.App.URL("/missing.wav") + ": fetch: HTTP 404"}},
	}
	servetest.Eventually(t, 10*time.Second, "the gateway logs the streams, the callback, the warning and the play failure", func() bool {
		for _, c := range checks {
			if env.Logs.Find(c.level, c.msg, c.attrs) == nil {
				return false
			}
		}
		return true
	})
	for _, c := range checks {
		l := env.Logs.Find(c.level, c.msg, c.attrs)
		if u, _ := l["url"].(string); c.attrs["url"] != "" && u != c.attrs["url"] {
			t.Errorf("%s logged with url %q, want %q", c.msg, u, c.attrs["url"])
		}
	}
	if err := c.Hangup(servetest.Context(t, 5*time.Second)); err != nil {
		t.Fatalf("hangup: %v", err)
	}
	env.Logs.Wait(t, 10*time.Second, "the call is released", func() bool {
		return env.Logs.Find("INFO", "call released", map[string]string{"call_sid": sid}) != nil
	})
	if leaks := logLeaks(env, secrets...); len(leaks) > 0 {
		t.Fatalf("%d log lines hold a URL secret:\n%s", len(leaks), strings.Join(leaks, "\n"))
	}
	env.Survived(t, by, base, 10*time.Second)
}

// scenarioSocket is a scenario that streams each call's audio (µ-law) to
// the WebSocket app at cfg.ws + "/" + the called number, with cfg.token in
// the query, and logs where it connects.
const scenarioSocket = `require(Modules.WebSocket);
const cfg = JSON.parse(VoxEngine.customData());
VoxEngine.addEventListener(AppEvents.CallAlerting, (e) => {
  const call = e.call;
  const url = cfg.ws + '/' + e.destination + '?token=' + cfg.token;
  Logger.write('connecting to ' + url);
  const ws = VoxEngine.createWebSocket(url);
  call.answer();
  call.addEventListener(CallEvents.Connected, () => {
    call.sendMediaTo(ws, { encoding: WebSocketAudioEncoding.ULAW });
  });
  call.addEventListener(CallEvents.Disconnected, () => {
    ws.close();
    VoxEngine.terminate();
  });
});
`

// A scenario's WebSocket URL carries a token in its query: the socket
// connects with it, and no log line at info holds it.
func TestScenarioSocketTokenNotLogged(t *testing.T) {
	const token = "WSTOKEN-8f2e61"
	script := filepath.Join(t.TempDir(), "socket.js")
	if err := os.WriteFile(script, []byte(scenarioSocket), 0o644); err != nil {
		t.Fatal(err)
	}
	// The scenario's data names the WebSocket app, so the app starts first.
	ws, err := wsapp.Listen(wsapp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	data, err := json.Marshal(map[string]string{"ws": strings.TrimSuffix(ws.URL(""), "/"), "token": token})
	if err != nil {
		t.Fatal(err)
	}
	app := gatewaytest.NewApp(t, map[string]string{"WS": strings.TrimSuffix(ws.URL(""), "/")})
	caller, err := sipcaller.NewClient(sipcaller.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { caller.Close() })
	p := servetest.Start(t, servetest.Options{Args: []string{"--app", app.URL("/app"),
		"--scenario", script, "--scenario-data", string(data), "--log-level", "info"}})
	env := &servetest.Env{Proc: p, App: app, WS: ws, Caller: caller}
	base := env.Baseline(t)
	by := env.Bystander(t) // the scenario streams it to /bystander-N

	c, err := env.Dial(t, sipcaller.Config{To: "scn"})
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	conn := env.StreamConn(t, "/scn")
	if err := c.SendAudio(servetest.Context(t, 10*time.Second), assets.Speech()[:8000]); err != nil {
		t.Fatalf("caller audio: %v", err)
	}
	servetest.Eventually(t, 10*time.Second, "the scenario socket gets the caller's audio", func() bool {
		_, n := servetest.Media(t, conn)
		return n >= 25
	})
	if err := c.Hangup(servetest.Context(t, 5*time.Second)); err != nil {
		t.Fatalf("hangup: %v", err)
	}
	select {
	case <-conn.Closed():
	case <-time.After(10 * time.Second):
		t.Fatal("the scenario socket was not closed after the hangup")
	}
	clean := ws.URL("/scn")
	env.Logs.Wait(t, 10*time.Second, "the socket's lines and the script's line are logged", func() bool {
		return env.Logs.Find("INFO", "websocket created", map[string]string{"url": clean}) != nil &&
			env.Logs.Find("INFO", "websocket open", map[string]string{"url": clean}) != nil &&
			env.Logs.Find("INFO", "scenario log", map[string]string{"text": "connecting to " + clean}) != nil
	})
	for _, msg := range []string{"websocket created", "websocket open"} {
		if l := env.Logs.Find("INFO", msg, map[string]string{"url": clean}); l["url"] != clean {
			t.Errorf("%s logged with url %v, want %s", msg, l["url"], clean)
		}
	}
	if leaks := logLeaks(env, token); len(leaks) > 0 {
		t.Fatalf("%d log lines hold the socket's token:\n%s", len(leaks), strings.Join(leaks, "\n"))
	}
	env.Survived(t, by, base, 10*time.Second)
}
