package scenario_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/scenario"
	"github.com/callstream/callstream/internal/sipcaller"
	"github.com/callstream/callstream/internal/sipp"
	"github.com/callstream/callstream/internal/wsapp"
)

// startCallee runs SIPp as the callee of an outgoing call: 180, then 200
// OK after pause (or the final code), echoing the audio it gets.
func startCallee(t *testing.T, params sipp.Params) *sipp.Process {
	t.Helper()
	sipp.Require(t)
	p, err := sipp.Start(context.Background(), sipp.Options{
		Scenario: "uas_echo.xml",
		Params:   params,
		Timeout:  40 * time.Second,
		Extra:    []string{"-rtp_echo"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			res, err := p.Wait()
			t.Logf("sipp callee: %v\n%s", err, res.Output)
		}
	})
	return p
}

// frameIndex maps every 160-byte frame of clip to its number.
func frameIndex(clip []byte) map[string]int {
	idx := map[string]int{}
	for i := 0; i+160 <= len(clip); i += 160 {
		idx[string(clip[i:i+160])] = i / 160
	}
	return idx
}

// inOrder counts the frames of clip found in got, in order and intact.
func inOrder(clip []byte, frames [][]byte) int {
	idx := frameIndex(clip)
	n, last := 0, -1
	for _, f := range frames {
		if k, ok := idx[string(f)]; ok && k > last {
			n++
			last = k
		}
	}
	return n
}

// An inbound call is bridged by easyProcess to an outgoing call placed
// with callSIP to SIPp, which echoes its audio: the caller hears its own
// audio back through both legs, frame for frame. The callee sees the
// extra header; Ringing, Connected and the answer of the inbound call come
// in order; the caller's hang-up ends the outgoing leg with a BYE.
func TestCallSIPBridgedWithEasyProcess(t *testing.T) {
	callee := startCallee(t, sipp.Params{PauseMs: 300, ExpectHeader: "X-Case", ExpectValue: "bridge"})
	g := startGateway(t, scenario.Config{CustomData: callee.Addr(), Source: `
VoxEngine.addEventListener(AppEvents.CallAlerting, function (e) {
  var out = VoxEngine.callSIP('sip:bob@' + VoxEngine.customData(),
      {callerid: 'gateway', displayName: 'GW', extraHeaders: {'X-Case': 'bridge'}});
  Logger.write('placed ' + out.state() + ' incoming=' + out.incoming() + ' number=' + out.number() + ' callerid=' + out.callerid());
  out.addEventListener(CallEvents.Ringing, function () { Logger.write('ringing ' + e.call.state()); });
  out.addEventListener(CallEvents.Connected, function (ev) {
    Logger.write('connected ' + ev.call.state() + ' ' + ev.headers['x-callee'] + ' ' + ev.headers['x-checked']);
  });
  e.call.addEventListener(CallEvents.Connected, function () { Logger.write('inbound connected'); });
  VoxEngine.easyProcess(e.call, out);
});`})
	clip := ulawClip(160 * 150)
	c := g.Dial(sipcaller.Config{})
	g.waitText(t, "placed PROGRESSING incoming=false number=bob callerid=gateway", 5*time.Second)
	g.waitText(t, "ringing ALERTING", 5*time.Second)
	g.waitText(t, "connected CONNECTED sipp bridge", 5*time.Second)
	g.waitText(t, "inbound connected", 5*time.Second)
	if err := c.SendAudio(g.Context(10*time.Second), clip); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if err := c.Hangup(g.Context(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	for _, p := range received(c) {
		frames = append(frames, p.Payload)
	}
	if n := inOrder(clip, frames); n != 150 {
		t.Errorf("the caller heard %d of its 150 frames back through the outgoing leg", n)
	}
	if !bytes.Contains(payloads(received(c)), clip) {
		t.Errorf("the echo through the outgoing leg is not continuous")
	}
	if _, err := callee.Wait(); err != nil {
		t.Fatalf("the callee (SIPp) failed: %v", err)
	}
	g.waitSessions(t, 5*time.Second)
	texts := strings.Join(g.texts(), "\n")
	if i, j := strings.Index(texts, "ringing"), strings.Index(texts, "inbound connected"); i < 0 || j < i {
		t.Errorf("event order:\n%s", texts)
	}
}

// A session started by POST /scenarios calls out with callSIP; SIPp
// answers and echoes. The scenario plays a WebSocket's audio into the
// outgoing call and the call's audio to the socket: the app hears its own
// clip back through SIP and RTP, byte for byte, as ULAW media messages.
// A callee that answers 486 fires Failed {code, reason}.
func TestCallSIPFromPostScenarios(t *testing.T) {
	callee := startCallee(t, sipp.Params{PauseMs: 100})
	busy := startCallee(t, sipp.Params{Code: 486})
	clip := ulawClip(160 * 100)
	app := wsServer(t, func(c *wsapp.Conn) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if c.WaitFor(ctx, 1) != nil {
			return
		}
		if err := c.SendJSON(map[string]any{"event": "start", "start": map[string]any{
			"tag": "bot", "mediaFormat": map[string]any{"encoding": "ULAW", "sampleRate": 8000}}}); err != nil {
			return
		}
		for i := 0; i < len(clip); i += 800 {
			_ = c.SendJSON(map[string]any{"event": "media", "media": map[string]any{
				"tag": "bot", "chunk": i/800 + 1, "timestamp": i, "payload": base64.StdEncoding.EncodeToString(clip[i : i+800])}})
		}
	})
	g := startGateway(t, scenario.Config{Source: `
VoxEngine.addEventListener(AppEvents.Started, function () {
  var d = JSON.parse(VoxEngine.customData());
  var failed = VoxEngine.callSIP(d.busy);
  failed.addEventListener(CallEvents.Ringing, function () { Logger.write('busy ringing'); });
  failed.addEventListener(CallEvents.Failed, function (e) { Logger.write('failed ' + e.code + ' ' + e.reason + ' ' + failed.state()); });
  var out = VoxEngine.callSIP(d.sip, 'robot', 'Robot');
  out.addEventListener(CallEvents.Connected, function () {
    var ws = VoxEngine.createWebSocket(d.ws);
    ws.addEventListener(WebSocketEvents.OPEN, function () {
      out.sendMediaTo(ws, {encoding: WebSocketAudioEncoding.ULAW});
      ws.sendMediaTo(out, {tag: 'bot'});
    });
    setTimeout(function () { out.hangup(); }, 3500);
  });
  out.addEventListener(CallEvents.Disconnected, function (e) {
    Logger.write('disconnected ' + e.direction + ' ' + e.reason);
    VoxEngine.terminate();
  });
});`})
	data, _ := json.Marshal(map[string]string{
		"sip":  "sip:alice@" + callee.Addr(),
		"busy": "carol@" + busy.Addr(),
		"ws":   app.URL("/bot"),
	})
	resp, err := http.PostForm("http://"+g.GW.HTTPAddr()+"/scenarios", url.Values{"script_custom_data": {string(data)}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST /scenarios: %d", resp.StatusCode)
	}
	g.waitText(t, "busy ringing", 5*time.Second)
	g.waitText(t, "failed 486 Busy Here TERMINATED", 5*time.Second)
	g.waitText(t, "disconnected outgoing scenario hung up", 10*time.Second)
	g.waitSessions(t, 5*time.Second)
	if _, err := callee.Wait(); err != nil {
		t.Errorf("callee: %v", err)
	}
	if _, err := busy.Wait(); err != nil {
		t.Errorf("busy callee: %v", err)
	}
	conn := app.Conns()[0]
	var frames [][]byte
	var all []byte
	for _, v := range parseVox(t, conn) {
		if v.Event == "media" {
			b, _ := base64.StdEncoding.DecodeString(v.Media.Payload)
			frames = append(frames, b)
			all = append(all, b...)
		}
	}
	if n := inOrder(clip, frames); n != 100 {
		t.Errorf("the app heard %d of its 100 frames back through the outgoing call", n)
	}
	if !bytes.Contains(all, clip) {
		t.Errorf("the app's clip did not come back continuous")
	}
}
