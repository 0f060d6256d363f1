package api

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipcaller"
)

// answerScript answers every call and keeps it until the caller hangs up.
const answerScript = `VoxEngine.addEventListener(AppEvents.CallAlerting, (e) => {
  e.call.answer();
  e.call.addEventListener(CallEvents.Disconnected, () => VoxEngine.terminate());
});`

// TestAPIScenarioCall: a call a scenario runs is listed; it refuses a
// redirect and a stream with 409 saying why; status completed hangs it up.
func TestAPIScenarioCall(t *testing.T) {
	script := filepath.Join(t.TempDir(), "answer.js")
	if err := os.WriteFile(script, []byte(answerScript), 0o644); err != nil {
		t.Fatal(err)
	}
	e := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{Args: []string{"--scenario", script, "--api-token", token}}})
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
	code, body := postJSON(t, e, "/calls/"+got.Sid, map[string]string{"url": "http://127.0.0.1:9/next"})
	wantError(t, "redirect a scenario call", code, body, 409, "scenario")
	code, body = postJSON(t, e, "/calls/"+got.Sid+"/streams", map[string]string{"url": e.WS.URL("/s")})
	wantError(t, "stream on a scenario call", code, body, 409, "scenario")
	code, body = postJSON(t, e, "/calls/"+got.Sid, map[string]string{"status": "completed"})
	if code != 200 {
		t.Fatalf("status completed: %d %s", code, body)
	}
	waitEnded(t, c, "status completed on a scenario call")
}
