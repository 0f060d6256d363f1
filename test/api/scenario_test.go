package api

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/gatewaytest"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipcaller"
)

// answerScript answers every call and keeps it until the caller hangs up.
const answerScript = `VoxEngine.addEventListener(AppEvents.CallAlerting, (e) => {
  e.call.answer();
  e.call.addEventListener(CallEvents.Disconnected, (d) => {
    Logger.write("disconnected: " + d.reason + ", released " + d.released);
    VoxEngine.terminate();
  });
});`

// TestAPIScenarioCall: a call a scenario runs is listed as the scenario's
// and refuses API streams (409 saying why). A redirect hands it to FlexML:
// the scenario gets Disconnected (released) and terminates, as scripts do,
// yet the call stays up, the caller hears the new document, the call is
// now FlexML's and takes an API stream; status completed hangs it up.
func TestAPIScenarioCall(t *testing.T) {
	script := filepath.Join(t.TempDir(), "answer.js")
	if err := os.WriteFile(script, []byte(answerScript), 0o644); err != nil {
		t.Fatal(err)
	}
	e := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{Args: []string{"--scenario", script, "--api-token", token}}})
	e.App.Set("/prompt.wav", gatewaytest.Response{Raw: assets.PromptWAV()})
	e.App.Doc("/next", `<Response><Play>{{.App}}/prompt.wav</Play><Pause length="30"/></Response>`)
	c, err := e.Dial(t, sipcaller.Config{To: "scenario"})
	if err != nil {
		t.Fatal(err)
	}
	var list struct{ Calls []call }
	servetest.Eventually(t, 5*time.Second, "the scenario's call listed in progress", func() bool {
		code, body := servetest.Get(t, e.URL("/calls"), token)
		return code == 200 && json.Unmarshal(body, &list) == nil && len(list.Calls) == 1 && list.Calls[0].State == "in-progress"
	})
	got := list.Calls[0]
	if got.Controller != "scenario" || got.To != "scenario" || got.Direction != "inbound" {
		t.Fatalf("the scenario's call: %+v", got)
	}
	code, body := postJSON(t, e, "/calls/"+got.Sid+"/streams", map[string]string{"url": e.WS.URL("/s")})
	wantError(t, "stream on a scenario call", code, body, 409, "scenario")

	code, body = postJSON(t, e, "/calls/"+got.Sid, map[string]string{"url": e.App.URL("/next")})
	if code != 200 {
		t.Fatalf("redirect a scenario call: %d %s", code, body)
	}
	e.WaitLog(t, "INFO", "call released by the session", map[string]string{"call_sid": got.Sid, "reason": "redirected"})
	e.WaitLog(t, "INFO", "scenario log", map[string]string{"call_sid": got.Sid, "text": "disconnected: redirected, released true"})
	e.WaitLog(t, "INFO", "session ended", map[string]string{"call_sid": got.Sid})
	prompt := bytes.Trim(gatewaytest.PromptULaw(t), "\xff\x7f")
	if err := c.WaitHeard(servetest.Context(t, 10*time.Second), prompt[:3200]); err != nil {
		t.Fatalf("the caller does not hear the document the scenario's call was redirected to: %v", err)
	}
	select {
	case <-c.Ended():
		t.Fatal("the call ended with the scenario's session")
	default:
	}
	if now := getCall(t, e, got.Sid); now.Controller != "flexml" || now.State != "in-progress" {
		t.Fatalf("the call after the redirect: %+v", now)
	}
	code, body = postJSON(t, e, "/calls/"+got.Sid+"/streams", map[string]string{"url": e.WS.URL("/s"), "name": "tap"})
	if code != 201 {
		t.Fatalf("stream on the redirected call: %d %s", code, body)
	}
	if err := servetest.ConnTo(t, e.WS, "/s").WaitFor(servetest.Context(t, 10*time.Second), 5); err != nil {
		t.Fatalf("the API stream of the redirected call: %v", err)
	}
	code, body = postJSON(t, e, "/calls/"+got.Sid, map[string]string{"status": "completed"})
	if code != 200 {
		t.Fatalf("status completed: %d %s", code, body)
	}
	waitEnded(t, c, "status completed on a redirected scenario call")
}

// placedScript treats every call as an incoming one: it answers it, says
// so when connected, and hangs up a second later.
const placedScript = `VoxEngine.addEventListener(AppEvents.CallAlerting, (e) => {
  Logger.write("alerting to " + e.destination);
  e.call.addEventListener(CallEvents.Connected, () => {
    Logger.write("connected");
    setTimeout(() => e.call.hangup(), 1000);
  });
  e.call.addEventListener(CallEvents.Disconnected, () => VoxEngine.terminate());
  e.call.answer();
});`

// TestAPIPlaceScenarioCall: on a gateway that runs a scenario, POST
// /calls without url places the call, and once the callee (SIPp) answers,
// the scenario gets it as it gets an incoming call: CallAlerting, then
// Connected after call.answer(); its hangup sends the callee a BYE. The
// call is listed as the scenario's; a url is refused, naming the field.
func TestAPIPlaceScenarioCall(t *testing.T) {
	callee := startCallee(t)
	script := filepath.Join(t.TempDir(), "placed.js")
	if err := os.WriteFile(script, []byte(placedScript), 0o644); err != nil {
		t.Fatal(err)
	}
	e := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{Args: []string{"--scenario", script, "--api-token", token}}})
	code, body := postJSON(t, e, "/calls", map[string]string{"to": "sip:bob@" + callee.Addr(), "url": e.App.URL("/x")})
	wantError(t, "POST /calls with a url on a scenario gateway", code, body, 400, "scenario")
	code, body = postJSON(t, e, "/calls", map[string]string{"to": "sip:bob@" + callee.Addr(), "from": "+15550001111", "timeout": "10"})
	var placed call
	if code != 201 || json.Unmarshal(body, &placed) != nil || placed.Sid == "" || placed.Direction != "outbound-api" || placed.Controller != "scenario" {
		t.Fatalf("POST /calls: %d %s", code, body)
	}
	e.WaitLog(t, "INFO", "scenario log", map[string]string{"call_sid": placed.Sid, "text": "alerting to bob"})
	e.WaitLog(t, "INFO", "scenario log", map[string]string{"call_sid": placed.Sid, "text": "connected"})
	if got := getCall(t, e, placed.Sid); got.State != "in-progress" || got.Controller != "scenario" || got.Codec == "" {
		t.Fatalf("the placed call while the scenario runs it: %+v", got)
	}
	waitCalleeBye(t, callee, "the callee (SIPp) did not end its call with a BYE")
	e.WaitLog(t, "INFO", "session ended", map[string]string{"call_sid": placed.Sid})
}
