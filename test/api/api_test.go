package api

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/gatewaytest"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipcaller"
	"github.com/callstream/callstream/internal/wsapp"
)

const token = "api-test-token-0123456789"

// call is a call as GET /calls shows it.
type call struct {
	Sid, State, From, To, Direction, Codec, Controller string
	StartTime                                          time.Time `json:"start_time"`
	Duration                                           float64
	Streams                                            []struct {
		Sid, Name, Dialect string
		URLHost            string   `json:"url_host"`
		Tracks             []string `json:"tracks"`
		FramesSent         uint64   `json:"frames_sent"`
	}
	Media struct {
		FramesIn  uint64 `json:"frames_in"`
		FramesOut uint64 `json:"frames_out"`
	}
}

type apiErrors struct {
	Errors []struct{ Message, Field string }
}

// startEnv starts a gateway with the API on, and an app that serves the
// speech (looped by calls) and the prompt.
func startEnv(t *testing.T) *servetest.Env {
	t.Helper()
	e := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{Args: []string{"--api-token", token}}})
	e.App.Set("/speech.wav", gatewaytest.Response{Raw: assets.SpeechWAV()})
	e.App.Set("/prompt.wav", gatewaytest.Response{Raw: assets.PromptWAV()})
	e.App.Doc("/next", `<Response><Play>{{.App}}/prompt.wav</Play><Pause length="30"/></Response>`)
	return e
}

// loopCall places a call to the number to whose document loops the speech
// for ever, waits until the caller hears it and returns it and its sid.
func loopCall(t *testing.T, e *servetest.Env, to string) (*sipcaller.Call, string) {
	t.Helper()
	e.App.DocTo("/app", to, `<Response><Play loop="0">{{.App}}/speech.wav</Play></Response>`)
	c, err := e.Dial(t, sipcaller.Config{To: to})
	if err != nil {
		t.Fatalf("call %s: %v", to, err)
	}
	sid := e.CallSid(t, to)
	if err := c.WaitHeard(servetest.Context(t, 10*time.Second), assets.Speech()[4000:5600]); err != nil {
		t.Fatalf("the caller does not hear the looped speech: %v", err)
	}
	return c, sid
}

func getCall(t *testing.T, e *servetest.Env, sid string) call {
	t.Helper()
	code, body := servetest.Get(t, e.URL("/calls/"+sid), token)
	if code != 200 {
		t.Fatalf("GET /calls/%s: %d %s", sid, code, body)
	}
	var c call
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatalf("GET /calls/%s: %v: %s", sid, err, body)
	}
	return c
}

func postJSON(t *testing.T, e *servetest.Env, path string, v map[string]string) (int, []byte) {
	t.Helper()
	b, _ := json.Marshal(v)
	return servetest.Post(t, e.URL(path), token, "application/json", string(b))
}

// wantError checks an error answer: its status and the errors shape, the
// first entry's message holding msg.
func wantError(t *testing.T, what string, code int, body []byte, wantCode int, msg string) apiErrors {
	t.Helper()
	var e apiErrors
	if code != wantCode || json.Unmarshal(body, &e) != nil || len(e.Errors) == 0 || !strings.Contains(e.Errors[0].Message, msg) {
		t.Fatalf("%s: %d %s; want %d with an error saying %q", what, code, body, wantCode, msg)
	}
	return e
}

func waitEnded(t *testing.T, c *sipcaller.Call, what string) {
	t.Helper()
	select {
	case <-c.Ended():
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: the caller got no BYE", what)
	}
}

// TestAPIGuardAndUnknownCalls: the API needs a valid token; an unknown
// CallSid is 404; the OpenAPI document is served without one.
func TestAPIGuardAndUnknownCalls(t *testing.T) {
	e := startEnv(t)
	for _, tok := range []string{"", "not-the-token-at-all"} {
		code, body := servetest.Get(t, e.URL("/calls"), tok)
		wantError(t, "GET /calls with token "+tok, code, body, 401, "token")
	}
	code, body := servetest.Post(t, e.URL("/calls/CA00"), "", "application/json", `{"status":"completed"}`)
	wantError(t, "POST without a token", code, body, 401, "token")
	code, body = servetest.Get(t, e.URL("/calls/CA0123"), token)
	wantError(t, "GET an unknown call", code, body, 404, "no live call")
	code, body = postJSON(t, e, "/calls/CA0123/streams", map[string]string{"url": e.WS.URL("/x")})
	wantError(t, "stream on an unknown call", code, body, 404, "no live call")
	code, body = servetest.Get(t, e.URL("/openapi.json"), "")
	var doc map[string]any
	if code != 200 || json.Unmarshal(body, &doc) != nil || doc["openapi"] == nil {
		t.Fatalf("GET /openapi.json: %d %.200s", code, body)
	}
	code, body = servetest.Get(t, e.URL("/calls"), token)
	if code != 200 || !bytes.Contains(body, []byte(`"calls":[]`)) {
		t.Fatalf("GET /calls with no call: %d %s", code, body)
	}
}

// TestAPIRedirectAndHangup: a call looping a Play is listed with its
// fields and a rising duration; a redirect by URL interrupts the Play and
// runs the new document (the caller hears its prompt, byte for byte, then
// silence); an invalid inline document is refused naming its line and
// column; status completed hangs up; the ended call then answers 409.
func TestAPIRedirectAndHangup(t *testing.T) {
	e := startEnv(t)
	c, sid := loopCall(t, e, "redirect")

	code, body := servetest.Get(t, e.URL("/calls"), token)
	var list struct{ Calls []call }
	if code != 200 || json.Unmarshal(body, &list) != nil || len(list.Calls) != 1 {
		t.Fatalf("GET /calls: %d %s", code, body)
	}
	got := list.Calls[0]
	if got.Sid != sid || got.State != "in-progress" || got.From != "15551112222" || got.To != "redirect" ||
		got.Direction != "inbound" || !strings.HasPrefix(got.Codec, "PCMU") || got.Controller != "flexml" ||
		got.StartTime.IsZero() || got.Media.FramesOut == 0 {
		t.Fatalf("GET /calls: %+v", got)
	}
	first := got.Duration
	servetest.Eventually(t, 5*time.Second, "the call's duration rising", func() bool {
		return getCall(t, e, sid).Duration >= first+0.5
	})

	// An invalid inline document changes nothing.
	code, body = postJSON(t, e, "/calls/"+sid, map[string]string{"flexml": "<Response>\n  <Play>{{x}}</Play>\n  <Dance/>\n</Response>"})
	errs := wantError(t, "invalid inline flexml", code, body, 400, "flexml:3:3:")
	if errs.Errors[0].Field != "flexml" {
		t.Fatalf("invalid inline flexml: field %q", errs.Errors[0].Field)
	}

	// Redirect, as Twilio's clients send it: a form.
	form := url.Values{"Url": {e.App.URL("/next")}, "Method": {"GET"}}.Encode()
	code, body = servetest.Post(t, e.URL("/calls/"+sid), token, "application/x-www-form-urlencoded", form)
	if code != 200 {
		t.Fatalf("redirect: %d %s", code, body)
	}
	req := e.WaitRequest(t, "/next", 5*time.Second)
	if req.Method != "GET" || req.Field("CallSid") != sid {
		t.Fatalf("the new document's request: %s CallSid %q", req.Method, req.Field("CallSid"))
	}
	prompt := gatewaytest.PromptULaw(t)
	prompt = bytes.Trim(prompt, "\xff\x7f")
	if err := c.WaitHeard(servetest.Context(t, 10*time.Second), prompt); err != nil {
		t.Fatalf("the caller does not hear the new document's prompt: %v", err)
	}
	// After the prompt, a second of the Pause: silence, not the speech.
	at := bytes.Index(c.Heard(), prompt) + len(prompt)
	waitHeardBytes(t, c, at+8000)
	if l := loudness(c.Heard()[at : at+8000]); l.Loud > 0 {
		t.Fatalf("after the new prompt the caller hears %d loud frames: the old Play goes on", l.Loud)
	}
	if l := loudness(prompt); l.Loud < 25 {
		t.Fatalf("the prompt heard is not loud: %+v", l)
	}

	// Hang up through the API: the caller gets a BYE.
	code, body = postJSON(t, e, "/calls/"+sid, map[string]string{"status": "completed"})
	if code != 200 {
		t.Fatalf("status completed: %d %s", code, body)
	}
	waitEnded(t, c, "status completed")
	servetest.Eventually(t, 5*time.Second, "the ended call answering 409", func() bool {
		code, _ := postJSON(t, e, "/calls/"+sid, map[string]string{"url": e.App.URL("/next")})
		return code == 409
	})
	code, body = postJSON(t, e, "/calls/"+sid, map[string]string{"status": "completed"})
	wantError(t, "hang up an ended call", code, body, 409, "ended")
}

// TestAPIStreams: a stream started through the API forks the call's audio
// to the WebSocket app (connected, start, media) while its document goes
// on; GET shows it; stopping it sends stop; an unknown name is 404.
func TestAPIStreams(t *testing.T) {
	e := startEnv(t)
	c, sid := loopCall(t, e, "fork")
	code, body := postJSON(t, e, "/calls/"+sid+"/streams", map[string]string{"url": e.WS.URL("/fork"), "name": "tap", "track": "both"})
	var started struct{ Sid, Name, CallSid string }
	if code != 201 || json.Unmarshal(body, &started) != nil || started.Name != "tap" || !strings.HasPrefix(started.Sid, "MZ") {
		t.Fatalf("start stream: %d %s", code, body)
	}
	conn := servetest.ConnTo(t, e.WS, "/fork")
	servetest.WaitFrames(t, conn, 50)
	evs, err := conn.Events()
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) < 3 || evs[0].Event != "connected" || evs[1].Event != "start" {
		t.Fatalf("the stream's first events: %+v", evs[:min(len(evs), 3)])
	}
	if !bytes.Contains(conn.Messages()[1].Data, []byte(sid)) {
		t.Fatalf("the start message does not name the call: %s", conn.Messages()[1].Data)
	}
	// Its document goes on: the caller still hears the speech, no new request.
	n := len(c.Heard())
	waitHeardBytes(t, c, n+8000)
	if l := loudness(c.Heard()[n : n+8000]); l.Loud < 10 {
		t.Fatalf("the call's document stopped playing when the stream started: %+v", l)
	}
	for _, r := range e.App.Requests() {
		if r.Path != "/app" && r.Path != "/speech.wav" {
			t.Fatalf("the app got a request on %s", r.Path)
		}
	}
	got := getCall(t, e, sid)
	if len(got.Streams) != 1 || got.Streams[0].Name != "tap" || got.Streams[0].Sid != started.Sid ||
		got.Streams[0].URLHost != e.WS.Addr() || len(got.Streams[0].Tracks) != 2 || got.Streams[0].FramesSent == 0 {
		t.Fatalf("GET shows streams %+v", got.Streams)
	}

	code, body = postJSON(t, e, "/calls/"+sid+"/streams/tap", map[string]string{"status": "stopped"})
	if code != 200 {
		t.Fatalf("stop stream: %d %s", code, body)
	}
	if err := conn.WaitUntil(servetest.Context(t, 5*time.Second), "stop", func(msgs []wsapp.Message) bool {
		for _, m := range msgs {
			if ev, err := m.Parse(); err == nil && ev.Event == "stop" {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatal(err)
	}
	code, body = postJSON(t, e, "/calls/"+sid+"/streams/tap", map[string]string{"status": "stopped"})
	wantError(t, "stop a stopped stream", code, body, 404, "no live stream")
	select {
	case <-c.Ended():
		t.Fatal("stopping the stream ended the call")
	default:
	}
}

// loudness measures µ-law audio a caller heard.
func loudness(ulaw []byte) servetest.Loudness {
	return servetest.Measure(codec.DecodeULaw(nil, ulaw), 8000, 300)
}

// waitHeardBytes waits until the caller has heard n bytes of audio.
func waitHeardBytes(t *testing.T, c *sipcaller.Call, n int) {
	t.Helper()
	err := c.WaitReceived(servetest.Context(t, 10*time.Second), "audio heard", func(ps []sipcaller.Packet) bool {
		return len(sipcaller.Payloads(ps)) >= n
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestAPIRedirectEndsConnectKeepsForks: a redirect while <Connect><Stream>
// runs closes that stream (stop, then 1000) and runs the new document; the
// stream a <Start> forked before it goes on receiving the caller's audio.
func TestAPIRedirectEndsConnectKeepsForks(t *testing.T) {
	e := startEnv(t)
	e.App.DocTo("/app", "connect", `<Response><Start><Stream url="{{.WS}}/fork" name="fork"/></Start><Connect><Stream url="{{.WS}}/bidi"/></Connect><Play>{{.App}}/speech.wav</Play></Response>`)
	c, err := e.Dial(t, sipcaller.Config{To: "connect"})
	if err != nil {
		t.Fatal(err)
	}
	sid := e.CallSid(t, "connect")
	fork, bidi := servetest.ConnTo(t, e.WS, "/fork"), servetest.ConnTo(t, e.WS, "/bidi")
	go func() {
		ctx := servetest.Context(t, time.Minute)
		for c.SendAudio(ctx, assets.Speech()[:8000]) == nil {
		}
	}()
	servetest.WaitFrames(t, bidi, 10)

	code, body := postJSON(t, e, "/calls/"+sid, map[string]string{"twiml": `<Response><Pause length="30"/></Response>`})
	if code != 200 {
		t.Fatalf("redirect: %d %s", code, body)
	}
	gatewaytest.WaitClosed(t, bidi, 5*time.Second)
	if code, _ := bidi.CloseStatus(); code != 1000 {
		t.Fatalf("the Connect's stream closed with %d, want 1000", code)
	}
	evs, err := bidi.Events()
	if err != nil || evs[len(evs)-1].Event != "stop" {
		t.Fatalf("the Connect's stream did not end with stop: %v", err)
	}
	// The fork goes on (50 more frames), and the document after the
	// Connect never ran: the speech Play is not fetched.
	n := fork.MediaCount()
	servetest.WaitFrames(t, fork, n+50)
	select {
	case <-fork.Closed():
		t.Fatal("the forked stream closed on the redirect")
	default:
	}
	if e.Requested("/speech.wav") {
		t.Fatal("the interrupted document went on after its Connect")
	}
	got := getCall(t, e, sid)
	if len(got.Streams) != 1 || got.Streams[0].Name != "fork" {
		t.Fatalf("streams after the redirect: %+v", got.Streams)
	}
	select {
	case <-c.Ended():
		t.Fatal("the redirect ended the call")
	default:
	}
}
