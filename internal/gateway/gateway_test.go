package gateway_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/gateway"
	"github.com/callstream/callstream/internal/gatewaytest"
	"github.com/callstream/callstream/internal/sipcaller"
	"github.com/callstream/callstream/internal/sipp"
	"github.com/callstream/callstream/internal/wsapp"
)

// streamDoc starts one inbound stream with two parameters and waits.
const streamDoc = `<Response>
  <Start>
    <Stream url="{{.WS}}/media" name="main">
      <Parameter name="First Name" value="John"/>
      <Parameter name="Last Name" value="Cleese"/>
    </Stream>
  </Start>
  <Pause length="30"/>
</Response>`

// writeAudio writes b into dir/name and returns the path.
func writeAudio(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// mediaOf checks every message of a CarrierX stream and returns the inbound
// audio in order.
func checkCarrierX(t *testing.T, conn *wsapp.Conn, callSid string, tracks []string, params map[string]string) map[string][]byte {
	t.Helper()
	msgs := conn.Messages()
	if len(msgs) < 3 {
		t.Fatalf("only %d messages", len(msgs))
	}
	if got := string(msgs[0].Data); got != `{"event":"connected","protocol":"Call","version":"0.2.0"}` {
		t.Fatalf("connected = %s", got)
	}
	var start struct {
		Event          string `json:"event"`
		SequenceNumber int    `json:"sequenceNumber"`
		Start          struct {
			CallID      string   `json:"callId"`
			Tracks      []string `json:"tracks"`
			MediaFormat struct {
				Encoding   string `json:"encoding"`
				SampleRate int    `json:"sampleRate"`
			} `json:"mediaFormat"`
			CustomParameters map[string]string `json:"customParameters"`
		} `json:"start"`
	}
	if err := json.Unmarshal(msgs[1].Data, &start); err != nil {
		t.Fatal(err)
	}
	if start.Event != "start" || start.SequenceNumber != 1 || start.Start.CallID != callSid ||
		strings.Join(start.Start.Tracks, ",") != strings.Join(tracks, ",") ||
		start.Start.MediaFormat.Encoding != "audio/x-mulaw" || start.Start.MediaFormat.SampleRate != 8000 {
		t.Fatalf("start = %s (call %s)", msgs[1].Data, callSid)
	}
	for k, v := range params {
		if start.Start.CustomParameters[k] != v {
			t.Fatalf("customParameters = %v, want %v", start.Start.CustomParameters, params)
		}
	}
	audio := map[string][]byte{}
	chunks := map[string]int{}
	lastTS := map[string]int64{}
	for i, m := range msgs[2:] {
		var e struct {
			Event          string          `json:"event"`
			SequenceNumber json.RawMessage `json:"sequenceNumber"`
			Media          struct {
				Track     string          `json:"track"`
				Chunk     json.RawMessage `json:"chunk"`
				Timestamp json.RawMessage `json:"timestamp"`
				Payload   string          `json:"payload"`
			} `json:"media"`
			Stop struct {
				CallID string `json:"callId"`
			} `json:"stop"`
		}
		if err := json.Unmarshal(m.Data, &e); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprint(i + 2); string(e.SequenceNumber) != want {
			t.Fatalf("message %d sequenceNumber %s, want integer %s: %s", i+2, e.SequenceNumber, want, m.Data)
		}
		switch e.Event {
		case "media":
			tr := e.Media.Track
			chunks[tr]++
			if want := fmt.Sprint(chunks[tr]); string(e.Media.Chunk) != want {
				t.Fatalf("chunk %s, want integer %s: %s", e.Media.Chunk, want, m.Data)
			}
			var ts int64
			if err := json.Unmarshal(e.Media.Timestamp, &ts); err != nil || e.Media.Timestamp[0] == '"' {
				t.Fatalf("timestamp %s not an integer", e.Media.Timestamp)
			}
			if len(lastTS) == 0 && ts != 0 {
				t.Fatalf("first media timestamp %d: relative timestamps start at 0", ts)
			}
			if prev, ok := lastTS[tr]; ok && ts != prev+20 {
				t.Fatalf("track %s timestamp %d after %d: want +20 ms (no holes)", tr, ts, prev)
			}
			lastTS[tr] = ts
			p, err := base64.StdEncoding.DecodeString(e.Media.Payload)
			if err != nil || len(p) != 160 {
				t.Fatalf("payload: %d bytes, %v", len(p), err)
			}
			audio[tr] = append(audio[tr], p...)
		case "stop":
			if i+2 != len(msgs)-1 {
				t.Fatalf("stop is message %d of %d", i+2, len(msgs))
			}
			if string(m.Data) != fmt.Sprintf(`{"event":"stop","sequenceNumber":%d,"stop":{"callId":"%s"}}`, i+2, callSid) {
				t.Fatalf("stop = %s", m.Data)
			}
		default:
			t.Fatalf("unexpected message %s", m.Data)
		}
	}
	var last struct{ Event string }
	_ = json.Unmarshal(msgs[len(msgs)-1].Data, &last)
	if last.Event != "stop" {
		t.Fatalf("last message %s, want stop", msgs[len(msgs)-1].Data)
	}
	return audio
}

// callSid returns the CallSid the app was told about in its first request.
func callSid(t *testing.T, env *gatewaytest.Env) string {
	t.Helper()
	reqs := env.App.Requests()
	if len(reqs) == 0 {
		t.Fatal("the app got no request")
	}
	return reqs[0].JSON["CallSid"]
}

// afterLeadingSilence returns a track's audio from its first frame that is
// not silence: the track starts when the stream does, with silence for the
// slots before the caller's first packet (µ-law 0xFF, or A-law silence
// transcoded).
func afterLeadingSilence(t *testing.T, track []byte) []byte {
	t.Helper()
	ulaw, alaw := bytes.Repeat([]byte{codec.ULawSilence}, 160), bytes.Repeat([]byte{codec.ALawToULaw(codec.ALawSilence)}, 160)
	quiet := func(f []byte) bool { return bytes.Equal(f, ulaw) || bytes.Equal(f, alaw) }
	for len(track) >= 160 && quiet(track[:160]) {
		track = track[160:]
	}
	return track
}

func isSilence(b []byte) bool {
	for _, x := range b {
		if x != 0xFF {
			return false
		}
	}
	return true
}

// SIPp calls, streams a µ-law file and hangs up: the app receives connected,
// start, 20 ms media frames equal to the file's bytes, and stop after BYE.
func TestSIPpStreamsPCMUByteExact(t *testing.T) {
	sipp.Require(t)
	env := gatewaytest.Start(t, gatewaytest.Options{})
	env.App.Doc("/app", streamDoc)
	dir := t.TempDir()
	speech := assets.Speech()
	writeAudio(t, dir, "speech.ulaw", speech)
	res, err := sipp.Run(env.Context(30*time.Second), sipp.Options{
		Scenario: "uac_stream.xml", Target: env.GW.SIPAddr(), Dir: dir,
		Params: sipp.Params{PT: 0, Codec: "PCMU", File: "speech.ulaw", PauseMs: 3600},
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Output)
	}
	conn := env.Accept()
	gatewaytest.WaitClosed(t, conn, 5*time.Second)
	audio := checkCarrierX(t, conn, callSid(t, env), []string{"inbound"}, map[string]string{"First Name": "John", "Last Name": "Cleese"})
	in := afterLeadingSilence(t, audio["inbound"])
	if !bytes.HasPrefix(in, speech) {
		i := bytes.Index(in, speech[:160])
		t.Fatalf("inbound audio (%d bytes) does not start with the %d bytes SIPp sent (first frame found at %d)", len(in), len(speech), i)
	}
	if !isSilence(in[len(speech):]) {
		t.Fatal("audio after the file is not silence")
	}
	if code, _ := conn.CloseStatus(); code != 1000 {
		t.Fatalf("close code %d, want 1000", code)
	}
}

// A PCMA caller's audio reaches the app as µ-law.
func TestSIPpPCMAReachesAppAsULaw(t *testing.T) {
	sipp.Require(t)
	env := gatewaytest.Start(t, gatewaytest.Options{})
	env.App.Doc("/app", streamDoc)
	dir := t.TempDir()
	speech := assets.Speech()
	alaw := make([]byte, len(speech))
	want := make([]byte, len(speech))
	for i, b := range speech {
		alaw[i] = codec.ULawToALaw(b)
		want[i] = codec.ALawToULaw(alaw[i])
	}
	writeAudio(t, dir, "speech.alaw", alaw)
	res, err := sipp.Run(env.Context(30*time.Second), sipp.Options{
		Scenario: "uac_stream.xml", Target: env.GW.SIPAddr(), Dir: dir,
		Params: sipp.Params{PT: 8, Codec: "PCMA", File: "speech.alaw", PauseMs: 3300},
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Output)
	}
	conn := env.Accept()
	gatewaytest.WaitClosed(t, conn, 5*time.Second)
	audio := checkCarrierX(t, conn, callSid(t, env), []string{"inbound"}, nil)
	if !bytes.HasPrefix(afterLeadingSilence(t, audio["inbound"]), want) {
		t.Fatal("PCMA audio did not arrive as its µ-law transcoding")
	}
	if bytes.Equal(alaw[:1000], want[:1000]) {
		t.Fatal("test audio does not tell A-law from µ-law")
	}
}

// The gateway hangs up (Hangup verb): SIPp receives BYE; stop is sent.
func TestGatewayHangsUpSIPpGetsBye(t *testing.T) {
	sipp.Require(t)
	env := gatewaytest.Start(t, gatewaytest.Options{})
	env.App.Doc("/app", `<Response><Start><Stream url="{{.WS}}/m"/></Start><Pause length="1"/><Hangup/></Response>`)
	dir := t.TempDir()
	writeAudio(t, dir, "speech.ulaw", assets.Speech())
	res, err := sipp.Run(env.Context(30*time.Second), sipp.Options{
		Scenario: "uac_stream.xml", Target: env.GW.SIPAddr(), Dir: dir,
		Params: sipp.Params{PT: 0, Codec: "PCMU", File: "speech.ulaw", PauseMs: 10, WaitBye: true},
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Output)
	}
	conn := env.Accept()
	gatewaytest.WaitClosed(t, conn, 5*time.Second)
	audio := checkCarrierX(t, conn, callSid(t, env), []string{"inbound"}, nil)
	if n := len(audio["inbound"]) / 160; n < 40 || n > 60 {
		t.Fatalf("%d frames in a 1 s stream", n)
	}
	env.Logs.WaitFind(t, 3*time.Second, "INFO", "call ended", map[string]string{"reason": "hangup verb"})
}

// The caller hangs up: the stream gets stop after the BYE.
func TestCallerByeEndsStreams(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{})
	env.App.Doc("/app", streamDoc)
	c := env.Dial(sipcaller.Config{})
	conn := env.Accept()
	if err := c.SendAudio(env.Context(5*time.Second), assets.Speech()[:1600]); err != nil {
		t.Fatal(err)
	}
	byeAt := time.Now()
	if err := c.Hangup(env.Context(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	gatewaytest.WaitClosed(t, conn, 5*time.Second)
	msgs := conn.Messages()
	last := msgs[len(msgs)-1]
	if !bytes.Contains(last.Data, []byte(`"event":"stop"`)) || last.At.Before(byeAt) {
		t.Fatalf("last message %s at %v (BYE at %v)", last.Data, last.At, byeAt)
	}
	checkCarrierX(t, conn, callSid(t, env), []string{"inbound"}, nil)
}

// CANCEL before the answer: the INVITE gets 487, nothing is left behind.
func TestCancelBeforeAnswer(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{})
	env.App.Set("/app", gatewaytest.Response{Body: streamDoc, Delay: 3 * time.Second})
	ctx := env.Context(10 * time.Second)
	dctx, cancel := contextWithCancelAfter(ctx, 300*time.Millisecond)
	defer cancel()
	_, err := env.Caller.Dial(dctx, sipcaller.Config{Target: env.GW.SIPAddr(), From: "1", To: "2"})
	var se *sipcaller.StatusError
	if !errors.As(err, &se) || se.Code != 487 {
		if err == nil || !errors.Is(err, dctx.Err()) {
			t.Fatalf("dial after CANCEL: %v, want 487", err)
		}
	}
	env.Logs.WaitFind(t, 5*time.Second, "INFO", "call ended", map[string]string{"reason": "caller cancelled"})
}

// SIPp cancels its INVITE while the app is still answering: 200 for the
// CANCEL, 487 for the INVITE, no call left behind.
func TestSIPpCancelGets487(t *testing.T) {
	sipp.Require(t)
	env := gatewaytest.Start(t, gatewaytest.Options{})
	env.App.Set("/app", gatewaytest.Response{Body: streamDoc, Delay: 3 * time.Second})
	res, err := sipp.Run(env.Context(20*time.Second), sipp.Options{
		Scenario: "uac_cancel.xml", Target: env.GW.SIPAddr(), Params: sipp.Params{PT: 0, Codec: "PCMU", PauseMs: 300},
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Output)
	}
	env.Logs.WaitFind(t, 5*time.Second, "INFO", "call ended", map[string]string{"reason": "caller cancelled"})
	if n := len(env.WS.Conns()); n != 0 {
		t.Fatalf("%d streams opened for a cancelled call", n)
	}
}

// The app cannot be reached: 500 with a generic Reason; the log names the
// CallSid, the URL and the cause.
func TestAppDownRejects500(t *testing.T) {
	sipp.Require(t)
	env := gatewaytest.Start(t, gatewaytest.Options{Configure: func(cfg *gateway.Config) {
		cfg.App = "http://127.0.0.1:1/down"
	}})
	res, err := sipp.Run(env.Context(20*time.Second), sipp.Options{
		Scenario: "uac_reject.xml", Target: env.GW.SIPAddr(), Params: sipp.Params{PT: 0, Code: 500},
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Output)
	}
	_, derr := env.Caller.Dial(env.Context(10*time.Second), sipcaller.Config{Target: env.GW.SIPAddr(), From: "1", To: "2"})
	var se *sipcaller.StatusError
	if !errors.As(derr, &se) || se.Code != 500 {
		t.Fatalf("dial: %v, want 500", derr)
	}
	if reason := se.Header["reason"] + se.Header["warning"]; !strings.Contains(reason, "application unavailable") ||
		strings.Contains(reason, "connection refused") || strings.Contains(reason, "127.0.0.1") {
		t.Fatalf("500 headers %v: want a generic reason, not the cause or the URL", se.Header)
	}
	line := env.Logs.Find("ERROR", "app failed", map[string]string{"url": "http://127.0.0.1:1/down", "err": "connection refused"})
	if line == nil || line["call_sid"] == "" {
		t.Fatalf("no error log naming CallSid, URL and cause:\n%s", env.Logs.String())
	}
}

// The app answers non-2xx, too slowly or an invalid document: 500 with a
// generic reason; the log names the cause.
func TestAppErrorsAndTimeout(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Configure: func(cfg *gateway.Config) {
		cfg.AppTimeout = 500 * time.Millisecond
	}})
	for _, tc := range []struct {
		name   string
		resp   gatewaytest.Response
		cause  string
		reason string
	}{
		{"http 404", gatewaytest.Response{Status: 404, Body: "nope"}, "HTTP 404", "application unavailable"},
		{"timeout", gatewaytest.Response{Body: streamDoc, Delay: 2 * time.Second}, "no answer within 500ms", "application unavailable"},
		{"invalid flexml", gatewaytest.Response{Body: "<Response>\n  <Start>\n    <Stream name=\"x\"/>\n  </Start>\n</Response>"}, `/app:3:5: <Stream>: attribute`, "application error"},
		{"not xml", gatewaytest.Response{Body: "hello"}, "invalid FlexML", "application error"},
		{"verb of a later release", gatewaytest.Response{Body: "<Response><Sms>hi</Sms></Response>"}, "<Sms> is not supported yet", "application error"},
		{"unknown verb", gatewaytest.Response{Body: "<Response><Dance/></Response>"}, "unknown verb <Dance>", "application error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env.App.Set("/app", tc.resp)
			_, err := env.Caller.Dial(env.Context(10*time.Second), sipcaller.Config{Target: env.GW.SIPAddr(), From: "1", To: "2"})
			var se *sipcaller.StatusError
			if !errors.As(err, &se) || se.Code != 500 {
				t.Fatalf("dial: %v, want 500", err)
			}
			if h := se.Header["reason"] + " " + se.Header["warning"]; !strings.Contains(h, tc.reason) ||
				strings.Contains(h, tc.cause) || strings.Contains(h, "127.0.0.1") {
				t.Fatalf("response headers %v: want %q, not the cause or the URL", se.Header, tc.reason)
			}
			if env.Logs.Find("ERROR", "app failed", map[string]string{"err": tc.cause, "url": env.App.URL("/app")}) == nil {
				t.Fatalf("no log naming %q", tc.cause)
			}
		})
	}
}

// A refused WebSocket is logged with the CallSid and URL; the call goes on.
func TestWebSocketRefusedCallGoesOn(t *testing.T) {
	sipp.Require(t)
	env := gatewaytest.Start(t, gatewaytest.Options{WS: wsapp.Options{Refuse: http.StatusForbidden}})
	env.App.Doc("/app", `<Response><Start><Stream url="{{.WS}}/refused"/></Start><Play>{{.App}}/prompt.wav</Play><Pause length="30"/></Response>`)
	env.App.Set("/prompt.wav", gatewaytest.Response{Raw: assets.PromptWAV()})
	dir := t.TempDir()
	writeAudio(t, dir, "speech.ulaw", assets.Speech()[:8000])
	res, err := sipp.Run(env.Context(30*time.Second), sipp.Options{
		Scenario: "uac_stream.xml", Target: env.GW.SIPAddr(), Dir: dir,
		Params: sipp.Params{PT: 0, Codec: "PCMU", File: "speech.ulaw", PauseMs: 1500},
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Output)
	}
	line := env.Logs.Find("ERROR", "stream failed", map[string]string{"url": env.WS.URL("/refused"), "err": "403"})
	if line == nil || line["call_sid"] != callSid(t, env) {
		t.Fatalf("no error log with CallSid, URL and cause:\n%s", env.Logs.String())
	}
	env.Logs.WaitFind(t, 3*time.Second, "INFO", "call ended", map[string]string{"reason": "caller hung up"})
}

// <Stop><Stream name> stops that stream only.
func TestStopByName(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{})
	env.App.Doc("/app", `<Response>
<Start><Stream url="{{.WS}}/a" name="a"/><Stream url="{{.WS}}/b" name="b"/></Start>
<Pause length="1"/>
<Stop><Stream name="a"/></Stop>
<Stop><Stream name="nosuch"/></Stop>
<Pause length="30"/>
</Response>`)
	c := env.Dial(sipcaller.Config{})
	go func() { _ = c.SendAudio(env.Context(10*time.Second), assets.Speech()) }()
	conns := map[string]*wsapp.Conn{}
	for i := 0; i < 2; i++ {
		conn := env.Accept()
		conns[conn.Path] = conn
	}
	gatewaytest.WaitClosed(t, conns["/a"], 3*time.Second)
	select {
	case <-conns["/b"].Closed():
		t.Fatal("stream b stopped with a")
	case <-time.After(500 * time.Millisecond):
	}
	if env.Logs.Find("WARN", "no running stream", map[string]string{"stream": "nosuch"}) == nil {
		t.Fatal("unknown stream name not warned about")
	}
	_ = c.Hangup(env.Context(5 * time.Second))
	gatewaytest.WaitClosed(t, conns["/b"], 5*time.Second)
	a := checkCarrierX(t, conns["/a"], callSid(t, env), []string{"inbound"}, nil)["inbound"]
	if n := len(a) / 160; n < 40 || n > 60 {
		t.Fatalf("stream a sent %d frames in ~1 s", n)
	}
}

// Reject answers nothing and maps the reason to its SIP code.
func TestRejectMapsReason(t *testing.T) {
	sipp.Require(t)
	env := gatewaytest.Start(t, gatewaytest.Options{})
	env.App.Doc("/app", `<Response><Reject reason="busy-here"/></Response>`)
	res, err := sipp.Run(env.Context(20*time.Second), sipp.Options{
		Scenario: "uac_reject.xml", Target: env.GW.SIPAddr(), Params: sipp.Params{PT: 0, Code: 486},
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Output)
	}
	env.App.Doc("/app", `<Response><Reject/></Response>`)
	_, derr := env.Caller.Dial(env.Context(10*time.Second), sipcaller.Config{Target: env.GW.SIPAddr(), From: "1", To: "2"})
	var se *sipcaller.StatusError
	if !errors.As(derr, &se) || se.Code != 403 {
		t.Fatalf("default reject: %v, want 403", derr)
	}
}

// Redirect fetches the next document (relative URL, method) and runs it.
func TestRedirect(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{})
	env.App.Doc("/app", `<Response><Redirect method="GET">next?step=2</Redirect><Hangup/></Response>`)
	env.App.Doc("/next", `<Response><Start><Stream url="{{.WS}}/after-redirect"/></Start><Pause length="30"/></Response>`)
	c := env.Dial(sipcaller.Config{})
	conn := env.Accept()
	if conn.Path != "/after-redirect" {
		t.Fatalf("stream path %s", conn.Path)
	}
	reqs := env.App.Requests()
	if len(reqs) != 2 || reqs[1].Method != "GET" || reqs[1].Path != "/next" || reqs[1].Query.Get("step") != "2" || reqs[1].Query.Get("CallSid") != reqs[0].JSON["CallSid"] {
		t.Fatalf("requests: %+v", reqs)
	}
	_ = c.Hangup(env.Context(5 * time.Second))
	gatewaytest.WaitClosed(t, conn, 5*time.Second)
}

// Play's audio reaches the caller byte-exact, 20 ms per packet.
func TestPlayReachesCaller(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{})
	env.App.Doc("/app", `<Response><Play>{{.App}}/prompt.wav</Play><Hangup/></Response>`)
	env.App.Set("/prompt.wav", gatewaytest.Response{Raw: assets.PromptWAV()})
	prompt := gatewaytest.PromptULaw(t)
	c := env.Dial(sipcaller.Config{})
	select {
	case <-c.Ended():
	case <-time.After(10 * time.Second):
		t.Fatal("no BYE after the Play")
	}
	pk := c.Received()
	got := sipcaller.Payloads(pk)
	if !bytes.HasPrefix(got, prompt) {
		t.Fatalf("caller heard %d bytes, not the %d-byte prompt", len(got), len(prompt))
	}
	for i := 1; i < len(pk); i++ {
		if pk[i].Seq != pk[i-1].Seq+1 || pk[i].Timestamp != pk[i-1].Timestamp+160 || pk[i].SSRC != pk[0].SSRC {
			t.Fatalf("packet %d: seq %d ts %d after seq %d ts %d", i, pk[i].Seq, pk[i].Timestamp, pk[i-1].Seq, pk[i-1].Timestamp)
		}
	}
	if !pk[0].Marker {
		t.Fatal("first packet without the marker bit")
	}
}

// SIPp echoes the prompt back (-rtp_echo): the stream carries the prompt.
func TestSIPpEchoesPlayIntoStream(t *testing.T) {
	sipp.Require(t)
	env := gatewaytest.Start(t, gatewaytest.Options{})
	env.App.Doc("/app", `<Response><Start><Stream url="{{.WS}}/echo"/></Start><Play>{{.App}}/prompt.wav</Play><Pause length="1"/><Hangup/></Response>`)
	env.App.Set("/prompt.wav", gatewaytest.Response{Raw: assets.PromptWAV()})
	prompt := gatewaytest.PromptULaw(t)
	dir := t.TempDir()
	// SIPp sends nothing of its own: every packet the gateway gets is an echo.
	res, err := sipp.Run(env.Context(30*time.Second), sipp.Options{
		Scenario: "uac_stream.xml", Target: env.GW.SIPAddr(), Dir: dir, Extra: []string{"-rtp_echo"},
		Params: sipp.Params{PT: 0, Codec: "PCMU", PauseMs: 10, WaitBye: true},
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Output)
	}
	conn := env.Accept()
	gatewaytest.WaitClosed(t, conn, 5*time.Second)
	in := afterLeadingSilence(t, checkCarrierX(t, conn, callSid(t, env), []string{"inbound"}, nil)["inbound"])
	if !bytes.HasPrefix(in, prompt[:len(prompt)-len(prompt)%160]) {
		t.Fatalf("the echoed prompt is not in the stream (%d bytes)", len(in))
	}
}

// Request fields: POST sends JSON with CarrierX's fields; GET sends them as query parameters.
func TestAppRequestFields(t *testing.T) {
	for _, method := range []string{"POST", "GET"} {
		t.Run(method, func(t *testing.T) {
			env := gatewaytest.Start(t, gatewaytest.Options{Configure: func(cfg *gateway.Config) { cfg.AppMethod = method }})
			env.App.Doc("/app", `<Response><Pause length="0.1"/><Hangup/></Response>`)
			c := env.Dial(sipcaller.Config{From: "15550100", To: "15550200", FromDisplay: "Alice Smith",
				Headers: map[string]string{"Diversion": "<sip:15550300@example.com>;reason=unconditional"}})
			<-c.Ended()
			r := env.App.Requests()[0]
			get := func(k string) string {
				if method == "GET" {
					return r.Query.Get(k)
				}
				return r.JSON[k]
			}
			if r.Method != method {
				t.Fatalf("method %s", r.Method)
			}
			want := map[string]string{"From": "15550100", "To": "15550200", "CallerName": "Alice Smith",
				"Direction": "inbound", "ForwardedFrom": "15550300", "AccountSid": "", "RequestUrl": env.App.URL("/app")}
			for k, v := range want {
				if get(k) != v {
					t.Errorf("%s = %q, want %q", k, get(k), v)
				}
			}
			for _, k := range []string{"CallSid", "ApiVersion", "CallStatus", "OriginalFrom", "OriginalTo"} {
				if get(k) == "" {
					t.Errorf("%s empty", k)
				}
			}
		})
	}
}

// No RTP for --rtp-timeout: the gateway hangs up with a logged reason.
func TestRTPTimeoutHangsUp(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Configure: func(cfg *gateway.Config) { cfg.RTPTimeout = time.Second }})
	env.App.Doc("/app", `<Response><Pause length="30"/></Response>`)
	c := env.Dial(sipcaller.Config{})
	select {
	case <-c.Ended():
	case <-time.After(5 * time.Second):
		t.Fatal("no BYE after the RTP timeout")
	}
	if env.Logs.Find("WARN", "no RTP", map[string]string{"call_sid": callSid(t, env)}) == nil {
		t.Fatal("timeout not logged")
	}
}

// A caller that holds the call with an offer in which it sends nothing
// (inactive, recvonly) is not idle, however long the hold; once it takes
// the call back, the RTP timeout applies again from then.
func TestLongHoldIsNotAnRTPTimeout(t *testing.T) {
	for _, dir := range []string{"inactive", "recvonly"} {
		t.Run(dir, func(t *testing.T) {
			env := gatewaytest.Start(t, gatewaytest.Options{Configure: func(cfg *gateway.Config) { cfg.RTPTimeout = time.Second }})
			env.App.Doc("/app", `<Response><Pause length="30"/></Response>`)
			c := env.Dial(sipcaller.Config{})
			_ = c.SendAudio(env.Context(5*time.Second), assets.Speech()[:2400])
			if err := c.SendReinvite(env.Context(5*time.Second), dir); err != nil {
				t.Fatalf("hold: %v", err)
			}
			select {
			case <-c.Ended():
				t.Fatal("the call ended on hold")
			case <-time.After(2500 * time.Millisecond): // 2.5 × the RTP timeout, no RTP at all
			}
			if err := c.SendReinvite(env.Context(5*time.Second), "sendrecv"); err != nil {
				t.Fatalf("unhold: %v", err)
			}
			unheld := time.Now()
			select {
			case <-c.Ended():
			case <-time.After(5 * time.Second):
				t.Fatal("no RTP after the hold, and no BYE")
			}
			if d := time.Since(unheld); d < 900*time.Millisecond {
				t.Fatalf("hung up %s after the unhold, before the 1 s RTP timeout", d)
			}
		})
	}
}

// healthz answers 200 once SIP and HTTP listen; OPTIONS gets 200.
func TestHealthz(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{})
	resp, err := http.Get("http://" + env.GW.HTTPAddr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("healthz %d", resp.StatusCode)
	}
	resp, err = http.Get("http://" + env.GW.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("metrics %d", resp.StatusCode)
	}
}

func contextWithCancelAfter(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	t := time.AfterFunc(d, cancel)
	return ctx, func() { t.Stop(); cancel() }
}

func waitFor(t *testing.T, d time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// RFC 4733 events become digits, one per event (not per packet). The
// digits are logged at DEBUG only.
func TestDTMFOneDigitPerEvent(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{LogLevel: slog.LevelDebug})
	env.App.Doc("/app", `<Response><Pause length="30"/></Response>`)
	c := env.Dial(sipcaller.Config{DTMF: true})
	for _, d := range []byte("11#") {
		if err := c.SendDTMF(d, 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // the caller's pause between digits
	}
	env.Logs.Wait(t, 3*time.Second, "three digits", func() bool { return len(dtmfDigits(env)) >= 3 })
	time.Sleep(200 * time.Millisecond) // watch: a repeated end packet must not count twice
	if got := dtmfDigits(env); got != "11#" {
		t.Fatalf("digits %q, want \"11#\"", got)
	}
	_ = c.Hangup(env.Context(5 * time.Second))
}

func dtmfDigits(env *gatewaytest.Env) string {
	var s string
	for _, l := range env.Logs.Lines() {
		if l["msg"] == "dtmf received" && l["level"] == "DEBUG" {
			s += fmt.Sprint(l["digit"])
		}
	}
	return s
}

// Hold and unhold by re-INVITE keep the call and its stream up.
func TestReinviteHoldKeepsCall(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{})
	env.App.Doc("/app", streamDoc)
	c := env.Dial(sipcaller.Config{})
	conn := env.Accept()
	go func() { _ = c.SendAudio(env.Context(5*time.Second), assets.Speech()[:8000]) }()
	if err := conn.WaitMedia(env.Context(5*time.Second), 15); err != nil { // the audio flows
		t.Fatal(err)
	}
	if err := c.SendReinvite(env.Context(5*time.Second), "sendonly"); err != nil {
		t.Fatalf("hold: %v", err)
	}
	time.Sleep(300 * time.Millisecond) // on hold for a while
	if err := c.SendReinvite(env.Context(5*time.Second), "sendrecv"); err != nil {
		t.Fatalf("unhold: %v", err)
	}
	select {
	case <-conn.Closed():
		t.Fatal("the stream ended on hold")
	case <-c.Ended():
		t.Fatal("the call ended on hold")
	case <-time.After(500 * time.Millisecond):
	}
	waitInbound(t, env, conn, assets.Speech()[:8000])
	_ = c.Hangup(env.Context(5 * time.Second))
	gatewaytest.WaitClosed(t, conn, 5*time.Second)
	in := checkCarrierX(t, conn, callSid(t, env), []string{"inbound"}, nil)["inbound"]
	if !bytes.Contains(in, assets.Speech()[:8000]) {
		t.Fatal("audio across hold not intact")
	}
}

// After the answer, an app failure hangs up; falling off the end of a
// document hangs up too; Play loops.
func TestAfterAnswerFailuresAndDocumentEnd(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{})
	withPrompt(env)
	env.App.Doc("/app", `<Response><Pause length="0.2"/><Redirect>http://127.0.0.1:1/gone</Redirect></Response>`)
	c := env.Dial(sipcaller.Config{})
	select {
	case <-c.Ended():
	case <-time.After(5 * time.Second):
		t.Fatal("no BYE after the app failed mid-call")
	}
	if env.Logs.Find("ERROR", "app failed", map[string]string{"url": "http://127.0.0.1:1/gone", "err": "connection refused", "call_sid": callSid(t, env)}) == nil {
		t.Fatal("mid-call app failure not logged with CallSid, URL and cause")
	}

	env.App.Doc("/app", `<Response><Play loop="2">{{.App}}/prompt.wav</Play></Response>`)
	c = env.Dial(sipcaller.Config{})
	select {
	case <-c.Ended():
	case <-time.After(10 * time.Second):
		t.Fatal("no BYE at the end of the document")
	}
	heard, _ := callerAudio(c)
	prompt := gatewaytest.PromptULaw(t)
	if !bytes.HasPrefix(heard, append(append([]byte(nil), prompt...), prompt...)) {
		t.Fatalf("loop=2: heard %d bytes, want the %d-byte prompt twice", len(heard), len(prompt))
	}
}
