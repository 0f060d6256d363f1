package scenario_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/scenario"
	"github.com/callstream/callstream/internal/scenario/voxtest"
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
	clip := voxtest.Clip(160 * 150)
	var progress atomic.Int32
	c := g.Dial(sipcaller.Config{OnProgress: func(code int) { progress.Store(int32(code)) }})
	// easyProcess relayed the callee's ringing: the caller got 180.
	if got := progress.Load(); got != 180 {
		t.Errorf("the caller got provisional %d, want 180 relayed from the callee", got)
	}
	g.waitText(t, "placed PROGRESSING incoming=false number=bob callerid=gateway", 5*time.Second)
	g.waitText(t, "ringing ALERTING", 5*time.Second)
	g.waitText(t, "connected CONNECTED sipp bridge", 5*time.Second)
	g.waitText(t, "inbound connected", 5*time.Second)
	if err := c.SendAudio(g.Context(10*time.Second), clip); err != nil {
		t.Fatal(err)
	}
	waitHeard(t, g, c, clip) // back through the outgoing leg
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
	if !bytes.Contains(sipcaller.Payloads(received(c)), clip) {
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

// postScenario starts a session over HTTP with script_custom_data.
func postScenario(t *testing.T, g *gw, data any) {
	t.Helper()
	b, _ := json.Marshal(data)
	resp := apiRequest(t, http.MethodPost, "http://"+g.GW.HTTPAddr()+"/scenarios", url.Values{"script_custom_data": {string(b)}})
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST /scenarios: %d", resp.StatusCode)
	}
}

// TestOutboundBotExample runs examples/scenarios/outbound-bot.js: a
// session started by POST /scenarios calls SIPp, which answers and echoes.
// The bot's clip plays into the outgoing call and the call's audio goes to
// the bot: the bot hears its own clip back through SIP and RTP, byte for
// byte, as ULAW media messages. When the bot closes the socket the call
// is hung up (SIPp gets the BYE).
func TestOutboundBotExample(t *testing.T) {
	callee := startCallee(t, sipp.Params{PauseMs: 100, ExpectHeader: "X-Job", ExpectValue: "job-7"})
	clip := voxtest.Clip(160 * 100)
	var heard atomic.Int32
	app := wsServer(t, func(c *wsapp.Conn) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if c.WaitFor(ctx, 1) != nil {
			return
		}
		if err := c.SendJSON(map[string]any{"event": "start", "start": map[string]any{
			"mediaFormat": map[string]any{"encoding": "ULAW", "sampleRate": 8000}}}); err != nil {
			return
		}
		for i := 0; i < len(clip); i += 800 {
			_ = c.SendJSON(map[string]any{"event": "media", "media": map[string]any{
				"chunk": i/800 + 1, "timestamp": i, "payload": base64.StdEncoding.EncodeToString(clip[i : i+800])}})
		}
		// Hang up once the clip has come back.
		for ctx.Err() == nil {
			if n := inOrder(clip, mediaFrames(t, c)); n == 100 {
				heard.Store(int32(n))
				_ = c.Close(1000, "done")
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	g := startGateway(t, scenario.Config{File: "../../examples/scenarios/outbound-bot.js"})
	postScenario(t, g, map[string]string{"to": "sip:alice@" + callee.Addr(), "bot": app.URL("/agent"), "id": "job-7", "callerid": "15550001111"})
	g.waitText(t, "ringing alice", 5*time.Second)
	g.waitText(t, "connected alice", 5*time.Second)
	g.waitText(t, "disconnected after *", 15*time.Second)
	g.waitSessions(t, 5*time.Second)
	if _, err := callee.Wait(); err != nil {
		t.Errorf("callee: %v", err)
	}
	if heard.Load() != 100 {
		t.Errorf("the bot heard %d of its 100 frames back through the outgoing call", heard.Load())
	}
	var all []byte
	for _, f := range mediaFrames(t, app.Conns()[0]) {
		all = append(all, f...)
	}
	if !bytes.Contains(all, clip) {
		t.Errorf("the bot's clip did not come back continuous")
	}
}

// mediaFrames returns the payloads of the media messages a bot received.
func mediaFrames(t *testing.T, c *wsapp.Conn) [][]byte {
	var frames [][]byte
	for _, v := range parseVox(t, c) {
		if v.Event == "media" {
			b, _ := base64.StdEncoding.DecodeString(v.Media.Payload)
			frames = append(frames, b)
		}
	}
	return frames
}

// A callee that rings and answers 486 fires Ringing, then Failed {code,
// reason}; the call's state is TERMINATED and no Disconnected fires.
func TestCallSIPFailed(t *testing.T) {
	busy := startCallee(t, sipp.Params{Code: 486})
	g := startGateway(t, scenario.Config{Source: `
VoxEngine.addEventListener(AppEvents.Started, function () {
  var call = VoxEngine.callSIP(VoxEngine.customData());
  call.addEventListener(CallEvents.Ringing, function () { Logger.write('ringing ' + call.state()); });
  call.addEventListener(CallEvents.Disconnected, function () { Logger.write('disconnected'); });
  call.addEventListener(CallEvents.Failed, function (e) {
    Logger.write('failed ' + e.code + ' ' + e.reason + ' ' + call.state() + ' ' + (e.call === call));
    setTimeout(function () { VoxEngine.terminate(); }, 200);
  });
});`})
	resp := apiRequest(t, http.MethodPost, "http://"+g.GW.HTTPAddr()+"/scenarios", url.Values{"script_custom_data": {"carol@" + busy.Addr()}})
	resp.Body.Close()
	g.waitText(t, "ringing PROGRESSING", 5*time.Second)
	g.waitText(t, "failed 486 Busy Here TERMINATED true", 5*time.Second)
	g.waitSessions(t, 5*time.Second)
	if _, err := busy.Wait(); err != nil {
		t.Errorf("busy callee: %v", err)
	}
	for _, s := range g.texts() {
		if s == "disconnected" {
			t.Error("Disconnected fired for a call that never connected")
		}
	}
}

// call.sendMediaTo(recorder) records the caller's audio, byte for byte.
func TestCallAudioToRecorder(t *testing.T) {
	g := startGateway(t, scenario.Config{Source: `
VoxEngine.addEventListener(AppEvents.CallAlerting, function (e) {
  var rec = VoxEngine.createRecorder();
  rec.addEventListener(RecorderEvents.Stopped, function (ev) { Logger.write('recorded ' + ev.url); VoxEngine.terminate(); });
  e.call.addEventListener(CallEvents.Connected, function () { e.call.sendMediaTo(rec); Logger.write('recording'); });
  e.call.addEventListener(CallEvents.Disconnected, function () { rec.stop(); });
  e.call.answer();
});`})
	clip := voxtest.Clip(160 * 50)
	c := g.Dial(sipcaller.Config{})
	g.waitText(t, "recording", 5*time.Second)
	if err := c.SendAudio(g.Context(5*time.Second), clip); err != nil {
		t.Fatal(err)
	}
	g.waitCallerFrames(t, "15551112222", 50, 10) // the whole clip, and 200 ms more for the recorder
	if err := c.Hangup(g.Context(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	url := strings.TrimPrefix(g.waitText(t, "recorded *", 5*time.Second), "recorded ")
	if got := fetchWAV(t, url); !bytes.Contains(got, clip) {
		t.Errorf("the recording (%d bytes) does not hold the caller's %d bytes", len(got), len(clip))
	}
	g.waitSessions(t, 5*time.Second)
}

// fetchWAV downloads a recording and returns its µ-law audio.
func fetchWAV(t *testing.T, url string) []byte {
	t.Helper()
	resp := apiRequest(t, http.MethodGet, url, nil)
	defer resp.Body.Close()
	a, err := media.ReadWAV(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if a.Encoding != media.EncodingULaw || a.SampleRate != 8000 {
		t.Fatalf("recording %v %d Hz", a.Encoding, a.SampleRate)
	}
	return a.Data
}
