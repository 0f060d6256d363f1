package scenario_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/gateway"
	"github.com/callstream/callstream/internal/gatewaytest"
	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/pacetest"
	"github.com/callstream/callstream/internal/scenario"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipcaller"
	"github.com/callstream/callstream/internal/tlstest"
	"github.com/callstream/callstream/internal/wsapp"
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
	var in uint64
	servetest.Eventually(t, 10*time.Second, fmt.Sprintf("%d frames of the caller's audio taken", n), func() bool {
		c := g.GW.Call(sid)
		if c == nil {
			return false
		}
		k := c.Counters()
		in = k.FramesIn
		return k.FramesIn-k.SilenceFilled >= n
	})
	servetest.Eventually(t, 10*time.Second, fmt.Sprintf("%d frames more", more), func() bool {
		c := g.GW.Call(sid)
		return c != nil && c.Counters().FramesIn >= in+more
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

// wsServer starts a WebSocket app for the scenarios to dial.
func wsServer(t *testing.T, handler func(c *wsapp.Conn)) *wsapp.Server {
	t.Helper()
	s, err := wsapp.Listen(wsapp.Options{Handler: handler})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// echo sends every message back as it came: the gateway's own start,
// media and stop are valid messages from a remote.
func echo(c *wsapp.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for n := 0; ; n++ {
		if c.WaitFor(ctx, n+1) != nil {
			return
		}
		if c.SendText(string(c.Messages()[n].Data)) != nil {
			return
		}
	}
}

// vox is a message of the Voximplant wire format.
type vox struct {
	Event          string          `json:"event"`
	SequenceNumber json.RawMessage `json:"sequenceNumber"`
	Start          *struct {
		Tag         string `json:"tag"`
		MediaFormat struct {
			Encoding   string `json:"encoding"`
			SampleRate int    `json:"sampleRate"`
		} `json:"mediaFormat"`
		CustomParameters map[string]string `json:"customParameters"`
	} `json:"start"`
	Media *struct {
		Tag       string          `json:"tag"`
		Chunk     json.RawMessage `json:"chunk"`
		Timestamp json.RawMessage `json:"timestamp"`
		Payload   string          `json:"payload"`
	} `json:"media"`
	Stop *struct {
		Tag       string `json:"tag"`
		MediaInfo struct {
			BytesSent json.RawMessage `json:"bytesSent"`
			Duration  json.RawMessage `json:"duration"`
		} `json:"mediaInfo"`
	} `json:"stop"`
}

func parseVox(t *testing.T, c *wsapp.Conn) []vox { return voxIn(c.Messages()) }

// voxIn returns the stream messages among msgs, skipping the scenario's
// own text messages.
func voxIn(msgs []wsapp.Message) []vox {
	var out []vox
	for _, m := range msgs {
		var v vox
		if json.Unmarshal(m.Data, &v) != nil || v.Event == "" {
			continue // a text message of the scenario
		}
		out = append(out, v)
	}
	return out
}

// waitVox waits until the remote received a message with event.
func waitVox(t *testing.T, c *wsapp.Conn, event string, d time.Duration) {
	t.Helper()
	waitVoxFor(t, c, d, fmt.Sprintf("a %q message", event), func(vs []vox) bool {
		for _, v := range vs {
			if v.Event == event {
				return true
			}
		}
		return false
	})
}

// waitVoxFor waits until the messages the remote received satisfy cond.
func waitVoxFor(t *testing.T, c *wsapp.Conn, d time.Duration, what string, cond func(vs []vox) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := c.WaitUntil(ctx, what, func(msgs []wsapp.Message) bool { return cond(voxIn(msgs)) }); err != nil {
		t.Fatalf("the remote: %v", err)
	}
}

// waitMoreMedia waits until the remote has received n more media messages
// than it has now: the call's audio has moved n frames further through the
// gateway, whatever the time that took.
func waitMoreMedia(t *testing.T, c *wsapp.Conn, n int) {
	t.Helper()
	want := c.MediaCount() + n
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.WaitMedia(ctx, want); err != nil {
		t.Fatalf("the remote: %v", err)
	}
}

// waitHeard waits until the audible packets the caller received hold
// audio.
func waitHeard(t *testing.T, g *gw, c *sipcaller.Call, audio []byte) {
	t.Helper()
	err := c.WaitReceived(g.Context(10*time.Second), fmt.Sprintf("%d bytes of audio", len(audio)), func(ps []sipcaller.Packet) bool {
		return bytes.Contains(sipcaller.Payloads(audible(audioPackets(ps))), audio)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// waitAudible waits until the caller has received n audible packets, and
// returns them.
func waitAudible(t *testing.T, g *gw, c *sipcaller.Call, n int) []sipcaller.Packet {
	t.Helper()
	err := c.WaitReceived(g.Context(10*time.Second), fmt.Sprintf("%d audible packets", n), func(ps []sipcaller.Packet) bool {
		return len(audible(audioPackets(ps))) >= n
	})
	if err != nil {
		t.Fatal(err)
	}
	return audible(received(c))
}

// waitVoxConn waits for the server's first connection to receive event.
func waitVoxConn(t *testing.T, s *wsapp.Server, event string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(s.Conns()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if len(s.Conns()) == 0 {
		t.Fatal("no connection")
	}
	waitVox(t, s.Conns()[0], event, time.Until(deadline))
}

// send sends a Voximplant message from a remote.
func send(t *testing.T, c *wsapp.Conn, v map[string]any) {
	t.Helper()
	if err := c.SendJSON(v); err != nil {
		t.Error(err)
	}
}

func sendStart(t *testing.T, c *wsapp.Conn, tag, enc string, rate int) {
	send(t, c, map[string]any{"event": "start", "sequenceNumber": 0, "start": map[string]any{
		"tag": tag, "mediaFormat": map[string]any{"encoding": enc, "sampleRate": rate}}})
}

// sendBurst sends audio as media messages of chunk bytes, all at once.
func sendBurst(t *testing.T, c *wsapp.Conn, tag string, audio []byte, chunk int) {
	for i := 0; len(audio) > 0; i++ {
		n := min(chunk, len(audio))
		send(t, c, map[string]any{"event": "media", "sequenceNumber": i + 1, "media": map[string]any{
			"tag": tag, "chunk": i + 1, "timestamp": i * n, "payload": base64.StdEncoding.EncodeToString(audio[:n])}})
		audio = audio[n:]
	}
}

// received returns the caller's received audio packets.
func received(c *sipcaller.Call) []sipcaller.Packet { return audioPackets(c.Received()) }

// audioPackets returns the audio packets among ps (not DTMF events).
func audioPackets(ps []sipcaller.Packet) []sipcaller.Packet {
	var out []sipcaller.Packet
	for _, p := range ps {
		if len(p.Payload) > 0 && p.PayloadType < 96 {
			out = append(out, p)
		}
	}
	return out
}

// checkPacing checks the arrivals of a run of packets at the caller: a
// median gap of 20 ms ± 1 ms and, when strict, the whole run on a 20 ms
// grid (see pacetest).
func checkPacing(t *testing.T, ps []sipcaller.Packet, strict bool) {
	t.Helper()
	if len(ps) < 40 {
		t.Fatalf("only %d packets", len(ps))
	}
	at := make([]time.Time, len(ps))
	for i, p := range ps {
		at[i] = p.Arrival
	}
	if strict {
		if err := pacetest.Check(at, 20*time.Millisecond); err != nil {
			t.Errorf("pacing at the caller: %v", err)
		}
		return
	}
	if st := pacetest.Measure(at, 20*time.Millisecond); st.Median < 19*time.Millisecond || st.Median > 21*time.Millisecond {
		t.Errorf("pacing at the caller: median gap %s over %d packets", st.Median, st.N)
	}
}

// audible returns the packets that are not µ-law silence, in order.
func audible(ps []sipcaller.Packet) []sipcaller.Packet {
	var out []sipcaller.Packet
	for _, p := range ps {
		if bytes.Count(p.Payload, []byte{0xFF}) < len(p.Payload) {
			out = append(out, p)
		}
	}
	return out
}

// ulawClip is n bytes of µ-law audio with no silence in it.
func ulawClip(n int) []byte {
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = int16(7000*math.Sin(2*math.Pi*440*float64(i)/8000) + 900*math.Sin(float64(i)*0.41))
	}
	b := media.EncodeULaw(nil, pcm)
	for i := range b {
		if b[i] == 0xFF || b[i] == 0x7F {
			b[i] = 0xFE
		}
	}
	return b
}

func tone(n, rate int, f, amp float64) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(amp * math.Sin(2*math.Pi*f*float64(i)/float64(rate)))
	}
	return out
}

func power(x []int16, rate int, f float64) float64 {
	var re, im float64
	for i, v := range x {
		a := 2 * math.Pi * f * float64(i) / float64(rate)
		re += float64(v) * math.Cos(a)
		im -= float64(v) * math.Sin(a)
	}
	n := float64(len(x))
	return (re*re + im*im) / (n * n)
}

func meanPower(x []int16) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return s / float64(len(x)) / 2
}

// TestEchoBotExample runs examples/scenarios/echo-bot.js: the caller hears
// exactly what it said (PCM16 at 8 kHz both ways is lossless for µ-law),
// paced at 20 ms; the socket is closed when the caller hangs up.
func TestEchoBotExample(t *testing.T) {
	bot := wsServer(t, echo)
	g := startGateway(t, scenario.Config{File: "../../examples/scenarios/echo-bot.js", CustomData: bot.URL("/echo")})
	speech := assets.Speech()
	c := g.Dial(sipcaller.Config{FromDisplay: "Echo Tester"})
	g.waitText(t, "call from 15551112222 to 15553334444", 5*time.Second)
	// The bot echoed the stream's start: the caller's audio is streamed now.
	g.waitText(t, "bot audio started (PCM8)", 5*time.Second)
	if err := c.SendAudio(g.Context(10*time.Second), speech); err != nil {
		t.Fatal(err)
	}
	waitHeard(t, g, c, bytes.TrimRight(speech, "\xff"))
	if err := c.Hangup(g.Context(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	got := received(c)
	if !bytes.Contains(sipcaller.Payloads(got), bytes.TrimRight(speech, "\xff")) {
		t.Errorf("the caller did not hear its speech back: %d bytes", len(sipcaller.Payloads(got)))
	}
	conn := bot.Conns()[0]
	select {
	case <-conn.Closed():
	case <-time.After(5 * time.Second):
		t.Fatal("bot socket not closed after the hang-up")
	}
	if code, reason := conn.CloseStatus(); code != 1000 || reason != "caller hung up" {
		t.Errorf("close %d %q", code, reason)
	}
	// The last messages to the bot: stop, after every media message.
	msgs := parseVox(t, conn)
	if last := msgs[len(msgs)-1]; last.Event != "stop" || last.Stop.Tag != "" {
		t.Errorf("last message %+v", last)
	}
	g.waitSessions(t, 5*time.Second)
}

// TestCallEncodings streams the caller to a socket and the socket's audio
// to the caller in every encoding: the wire format (start, sequence
// numbers, chunks, timestamps in samples, payload bytes, stop with
// mediaInfo), the audio both ways, and the pacing at the caller.
func TestCallEncodings(t *testing.T) {
	clipAudio := ulawClip(20000) // 2.5 s
	alaw := make([]byte, len(clipAudio))
	media.TranscodeULawToALaw(alaw, clipAudio)
	viaALaw := make([]byte, len(alaw))
	media.TranscodeALawToULaw(viaALaw, alaw)
	pcm8 := media.SamplesToPCM16LE(nil, media.DecodeULaw(nil, clipAudio))
	// 1 kHz + 5.3 kHz at 16 kHz: only the 1 kHz part may reach the caller.
	x, y := tone(40000, 16000, 1000, 6000), tone(40000, 16000, 5300, 6000)
	for i := range x {
		x[i] += y[i]
	}
	pcm16 := media.SamplesToPCM16LE(nil, x)
	remoteAudio := map[string][]byte{"ULAW": clipAudio, "ALAW": alaw, "PCM8": pcm8, "PCM16": pcm16}
	rates := map[string]int{"ULAW": 8000, "ALAW": 8000, "PCM8": 8000, "PCM16": 16000}

	bot := wsServer(t, func(c *wsapp.Conn) {
		enc := strings.TrimPrefix(c.Path, "/")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if c.WaitFor(ctx, 1) != nil {
			return
		}
		sendStart(t, c, "", enc, rates[enc])
		sendBurst(t, c, "", remoteAudio[enc], 999)
		send(t, c, map[string]any{"event": "stop", "stop": map[string]any{"tag": ""}})
	})
	g := startGateway(t, scenario.Config{CustomData: bot.URL(""), Source: `
VoxEngine.addEventListener(AppEvents.CallAlerting, function (e) {
  var call = e.call, enc = e.destination;
  var ws = new WebSocket(VoxEngine.customData() + '/' + enc);
  call.answer();
  call.addEventListener(CallEvents.Connected, function () {
    call.sendMediaTo(ws, {encoding: enc, tag: 'caller', customParameters: {enc: enc, n: 1}});
    ws.sendMediaTo(call);
  });
  ws.addEventListener(WebSocketEvents.MEDIA_STARTED, function (ev) { Logger.write(enc + ' started ' + ev.encoding); });
  call.addEventListener(CallEvents.Disconnected, function () { ws.close(); VoxEngine.terminate(); });
});`})
	callerTone := media.EncodeULaw(nil, tone(20000, 8000, 1000, 8000))
	for _, enc := range []string{"ULAW", "ALAW", "PCM8", "PCM16"} {
		t.Run(enc, func(t *testing.T) {
			c := g.Dial(sipcaller.Config{To: enc})
			g.waitText(t, enc+" started "+enc, 5*time.Second)
			sent := assets.Speech()[:20000]
			if enc == "PCM16" {
				sent = callerTone
			}
			if err := c.SendAudio(g.Context(10*time.Second), sent); err != nil {
				t.Fatal(err)
			}
			var conn *wsapp.Conn
			for _, cn := range bot.Conns() {
				if cn.Path == "/"+enc {
					conn = cn
				}
			}
			waitMoreMedia(t, conn, 15) // the caller's last frames are through
			if err := c.Hangup(g.Context(5 * time.Second)); err != nil {
				t.Fatal(err)
			}
			waitVox(t, conn, "stop", 5*time.Second)

			// Gateway -> remote.
			msgs := parseVox(t, conn)
			st := msgs[0].Start
			if msgs[0].Event != "start" || string(msgs[0].SequenceNumber) != "0" || st.Tag != "caller" ||
				st.MediaFormat.Encoding != enc || st.MediaFormat.SampleRate != rates[enc] ||
				st.CustomParameters["enc"] != enc || st.CustomParameters["n"] != "1" {
				t.Fatalf("start %s", mustJSON(msgs[0]))
			}
			spf, size := 160, map[string]int{"ULAW": 160, "ALAW": 160, "PCM8": 320, "PCM16": 640}[enc]
			if enc == "PCM16" {
				spf = 320
			}
			var stream []byte
			frames := 0
			for i, m := range msgs[1:] {
				if string(m.SequenceNumber) != fmt.Sprint(i+1) {
					t.Fatalf("sequenceNumber %s at %d", m.SequenceNumber, i+1)
				}
				if m.Event == "stop" {
					if i != len(msgs)-2 || m.Stop.Tag != "caller" || string(m.Stop.MediaInfo.BytesSent) != fmt.Sprint(len(stream)) ||
						string(m.Stop.MediaInfo.Duration) != fmt.Sprint(frames*20) {
						t.Fatalf("stop %s after %d frames, %d bytes", mustJSON(m), frames, len(stream))
					}
					break
				}
				frames++
				p, _ := base64.StdEncoding.DecodeString(m.Media.Payload)
				if m.Media.Tag != "caller" || string(m.Media.Chunk) != fmt.Sprint(frames) ||
					string(m.Media.Timestamp) != fmt.Sprint((frames-1)*spf) || len(p) != size {
					t.Fatalf("media %d: %s (payload %d bytes)", frames, mustJSON(m), len(p))
				}
				stream = append(stream, p...)
			}
			switch enc {
			case "ULAW":
				if !bytes.Contains(stream, sent) {
					t.Error("the caller's audio is not in the ULAW stream")
				}
			case "ALAW":
				want := make([]byte, len(sent))
				media.TranscodeULawToALaw(want, sent)
				if !bytes.Contains(stream, want) {
					t.Error("the caller's audio is not in the ALAW stream")
				}
			case "PCM8":
				if !bytes.Contains(stream, media.SamplesToPCM16LE(nil, media.DecodeULaw(nil, sent))) {
					t.Error("the caller's audio is not in the PCM8 stream")
				}
			case "PCM16":
				s := media.PCM16LEToSamples(nil, stream)
				start := 0
				for start < len(s) && math.Abs(float64(s[start])) < 2000 {
					start++
				}
				mid := s[start+1600 : start+17600] // 1 s at 16 kHz
				if f := power(mid, 16000, 1000) / meanPower(mid); f < 0.97 {
					t.Errorf("1 kHz holds %.3f of the 16 kHz stream", f)
				}
				if img := 10 * math.Log10(power(mid, 16000, 7000)/power(mid, 16000, 1000)); img > -50 {
					t.Errorf("image at 7 kHz: %.1f dB (sample doubling?)", img)
				}
			}

			// Remote -> caller, paced by the gateway.
			got := audible(received(c))
			heard := sipcaller.Payloads(got)
			switch enc {
			case "ULAW", "PCM8":
				if !bytes.Contains(heard, clipAudio) {
					t.Errorf("the caller did not hear the remote's %s audio intact (%d bytes); the remote got %d messages; warnings: %s",
						enc, len(heard), len(conn.Messages()), warnings(g))
				}
			case "ALAW":
				if !bytes.Contains(heard, viaALaw) {
					t.Errorf("the caller did not hear the remote's ALAW audio intact (%d bytes)", len(heard))
				}
			case "PCM16":
				s := media.DecodeULaw(nil, heard)
				if len(s) < 19600 {
					t.Fatalf("heard %d samples", len(s))
				}
				mid := s[400:19600]
				if f := power(mid, 8000, 1000) / meanPower(mid); f < 0.97 {
					t.Errorf("1 kHz holds %.3f of what the caller heard", f)
				}
				if a := 10 * math.Log10(power(mid, 8000, 2700)/power(mid, 8000, 1000)); a > -60 {
					t.Errorf("5.3 kHz aliased to 2.7 kHz at %.1f dB", a)
				}
			}
			checkPacing(t, got, false)
		})
	}
	g.waitSessions(t, 5*time.Second)
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// warnings returns the gateway's warning and error lines.
func warnings(g *gw) string {
	var b strings.Builder
	for _, line := range strings.Split(g.Logs.String(), "\n") {
		if strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`) {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// TestPlaybackPacing sends 5 s of audio at once from a remote: the caller
// receives it paced by the gateway, median 20 ms and 99% of the gaps
// within 20 ± 5 ms, and byte for byte.
func TestPlaybackPacing(t *testing.T) {
	audio := ulawClip(40000)
	bot := wsServer(t, func(c *wsapp.Conn) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if c.WaitFor(ctx, 1) != nil { // "go": the scenario is bound
			return
		}
		sendStart(t, c, "", "ULAW", 8000)
		sendBurst(t, c, "", audio, 8000)
		send(t, c, map[string]any{"event": "stop", "stop": map[string]any{}})
	})
	g := startGateway(t, scenario.Config{CustomData: bot.URL("/bot"), Source: `
VoxEngine.addEventListener(AppEvents.CallAlerting, function (e) {
  var call = e.call, ws = new WebSocket(VoxEngine.customData());
  call.answer();
  call.addEventListener(CallEvents.Connected, function () {
    ws.sendMediaTo(call);
    if (ws.readyState === WebSocketReadyState.OPEN) ws.send('go');
    else ws.onopen = function () { ws.send('go'); };
  });
  ws.onmediaended = function (ev) { Logger.write('played ' + ev.mediaInfo.duration); };
  call.addEventListener(CallEvents.Disconnected, function () { VoxEngine.terminate(); });
});`})
	c := g.Dial(sipcaller.Config{})
	g.waitText(t, "played 5000", 10*time.Second)
	heard := received(c)
	if !bytes.Equal(sipcaller.Payloads(heard), audio) {
		t.Errorf("the caller heard %d bytes, want the remote's %d intact", len(sipcaller.Payloads(heard)), len(audio))
	}
	checkPacing(t, heard, true)
	_ = c.Hangup(g.Context(5 * time.Second))
	g.waitSessions(t, 5*time.Second)
}

// TestCallEvents checks the Call object: CallAlerting's payload, the
// call's members, state transitions, Connected, AudioStarted,
// ToneReceived after handleTones, PlaybackStarted and PlaybackFinished for
// startPlayback and say, sendDigits and Disconnected.
func TestCallEvents(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		_, _ = w.Write(assets.PromptWAV())
	}))
	t.Cleanup(app.Close)
	g := startGateway(t, scenario.Config{CustomData: app.URL + "/prompt.wav", TTSCommand: "no-such-tts-program", Source: `
function log(s) { Logger.write(s); }
VoxEngine.addEventListener(AppEvents.Started, function (e) {
  log('started ' + e.name + ' ' + /^http:\/\/.*\/request\//.test(e.accessURL));
});
VoxEngine.addEventListener(AppEvents.CallAlerting, function (e) {
  var call = e.call;
  log(['alerting', e.name, e.callerid, e.destination, e.displayName, e.headers['x-test'],
       /^sip:15553334444@/.test(e.toURI), /^sip:15551112222@/.test(e.fromURI), e.call === call].join('|'));
  log(['members', typeof call.id(), call.callerid(), call.number(), call.displayName(), call.state()].join('|'));
  call.customData('mine');
  call.addEventListener(CallEvents.Connected, function (ev) {
    log('connected ' + call.state() + ' ' + (ev.call === call) + ' ' + ev.customData);
    call.handleTones(true);
    call.startPlayback(VoxEngine.customData());
  });
  call.addEventListener(CallEvents.AudioStarted, function () { log('audio started'); });
  call.addEventListener(CallEvents.PlaybackStarted, function (ev) { log('playback started ' + ev.duration); });
  var played = 0;
  call.addEventListener(CallEvents.PlaybackFinished, function (ev) {
    played++;
    log('playback finished ' + played + ' ' + (ev.error ? 'error: ' + ev.error : 'ok'));
    if (played === 1) call.say('hello');
  });
  call.addEventListener(CallEvents.ToneReceived, function (ev) {
    log('tone ' + ev.tone + ' ' + ev.type);
    call.sendDigits('1#');
  });
  call.addEventListener(CallEvents.Disconnected, function (ev) {
    log('disconnected ' + call.state() + ' ' + ev.reason + ' ' + (ev.duration > 0));
    VoxEngine.terminate();
  });
  log('before answer ' + call.state());
  call.answer();
});`})
	c := g.Dial(sipcaller.Config{FromDisplay: "Ann Caller", DTMF: true, Headers: map[string]string{"X-Test": "yes"}})
	g.waitText(t, "connected CONNECTED true mine", 5*time.Second)
	go func() { _ = c.SendAudio(g.Context(5*time.Second), assets.Speech()[:8000]) }()
	g.waitText(t, "audio started", 5*time.Second)
	g.waitText(t, "playback finished 2 *", 5*time.Second)
	dtmfAt := time.Now()
	if err := c.SendDTMF('5', 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	g.waitText(t, "tone 5 dtmf", 5*time.Second)
	err := c.WaitReceived(g.Context(10*time.Second), "the keys 1# played", func(ps []sipcaller.Packet) bool { // the digits play
		var after []sipcaller.Packet
		for _, p := range audioPackets(ps) {
			if p.Arrival.After(dtmfAt) {
				after = append(after, p)
			}
		}
		return strings.Contains(detectDTMF(media.DecodeULaw(nil, sipcaller.Payloads(after))), "1#")
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Hangup(g.Context(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	g.waitText(t, "disconnected *", 5*time.Second)
	got := g.texts()
	want := []string{
		"started Application.Started true", // Started comes first, then CallAlerting
		"alerting|Application.CallAlerting|15551112222|15553334444|Ann Caller|yes|true|true|true",
		"members|string|15551112222|15553334444|Ann Caller|ALERTING",
		"before answer ALERTING",
		"connected CONNECTED true mine",
		"playback started 1.5",
	}
	for i, w := range want {
		if i >= len(got) || got[i] != w {
			t.Fatalf("event %d: got %q\nwant %q", i, got, want)
		}
	}
	for _, w := range []string{"audio started", "playback finished 1 ok", "tone 5 dtmf", "disconnected TERMINATED caller hung up true"} {
		if !slicesContains(got, w) {
			t.Errorf("missing %q in %q", w, got)
		}
	}
	say := g.waitText(t, "playback finished 2 *", time.Second)
	if !strings.Contains(say, "error: ") || !strings.Contains(say, "no-such-tts-program") {
		t.Errorf("say without a TTS program: %q", say)
	}
	// The prompt (1.5 s) and then the DTMF tones reached the caller.
	heard := audible(received(c))
	if len(heard) < 70 {
		t.Errorf("the caller heard %d audible packets", len(heard))
	}
	// sendDigits('1#') played in-band: 697+1209 Hz, then 941+1477 Hz.
	var after []sipcaller.Packet
	for _, p := range received(c) {
		if p.Arrival.After(dtmfAt) {
			after = append(after, p)
		}
	}
	if got := detectDTMF(media.DecodeULaw(nil, sipcaller.Payloads(after))); !strings.Contains(got, "1#") {
		t.Errorf("sendDigits('1#'): the caller heard the keys %q", got)
	}
	g.waitSessions(t, 5*time.Second)
}

// detectDTMF returns the keys heard in 8 kHz samples, 20 ms at a time
// (Goertzel power at the eight DTMF frequencies; a key counts when its row
// and column tones clearly dominate), each run of a key once.
func detectDTMF(pcm []int16) string {
	rows := []float64{697, 770, 852, 941}
	cols := []float64{1209, 1336, 1477, 1633}
	keys := [4][4]byte{{'1', '2', '3', 'A'}, {'4', '5', '6', 'B'}, {'7', '8', '9', 'C'}, {'*', '0', '#', 'D'}}
	power := func(x []int16, f float64) float64 {
		k := 2 * math.Cos(2*math.Pi*f/8000)
		var s1, s2 float64
		for _, v := range x {
			s0 := float64(v) + k*s1 - s2
			s2, s1 = s1, s0
		}
		return s1*s1 + s2*s2 - k*s1*s2
	}
	best := func(x []int16, fs []float64) (int, bool) {
		i0, p0, p1 := 0, 0.0, 0.0
		for i, f := range fs {
			switch p := power(x, f); {
			case p > p0:
				i0, p0, p1 = i, p, p0
			case p > p1:
				p1 = p
			}
		}
		return i0, p0 > 10*p1 && p0 > 1e9
	}
	var out []byte
	var last byte
	for off := 0; off+160 <= len(pcm); off += 160 {
		x := pcm[off : off+160]
		r, okR := best(x, rows)
		c, okC := best(x, cols)
		key := byte(0)
		if okR && okC {
			key = keys[r][c]
		}
		if key != 0 && key != last {
			out = append(out, key)
		}
		last = key
	}
	return string(out)
}

func slicesContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestBargeInBotExample runs examples/scenarios/barge-in-bot.js against an
// agent: call_started, PCM16 at 16 kHz both ways, audio sent ahead of real
// time and played paced, barge-in cutting it within a frame, and the
// summary after the hang-up on the socket that outlives the call.
func TestBargeInBotExample(t *testing.T) {
	var bargeAt atomic.Pointer[time.Time]
	agent := wsServer(t, func(c *wsapp.Conn) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		// call_started, then the gateway's start.
		if c.WaitFor(ctx, 2) != nil {
			return
		}
		sendStart(t, c, "", "PCM16", 16000)
		sendBurst(t, c, "", media.SamplesToPCM16LE(nil, tone(4*16000, 16000, 600, 6000)), 640) // 4 s, at once
		time.Sleep(1500 * time.Millisecond)
		now := time.Now()
		bargeAt.Store(&now)
		_ = c.SendText(`{"type":"barge_in"}`)
		for n := 3; ; n++ {
			if c.WaitFor(ctx, n) != nil {
				return
			}
			if strings.Contains(string(c.Messages()[n-1].Data), "call_ended") {
				_ = c.SendText(`{"type":"summary","text":"the caller listened"}`)
				return
			}
		}
	})
	g := startGateway(t, scenario.Config{File: "../../examples/scenarios/barge-in-bot.js", CustomData: agent.URL("/agent")})
	c := g.Dial(sipcaller.Config{})
	g.waitText(t, "agent audio started (PCM16)", 5*time.Second)
	go func() { _ = c.SendAudio(g.Context(5*time.Second), assets.Speech()[:16000]) }()
	g.waitText(t, "barge-in: agent audio cleared", 5*time.Second)
	time.Sleep(300 * time.Millisecond) // watch: no agent audio may come after the barge-in
	if err := c.Hangup(g.Context(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	g.waitText(t, "summary: the caller listened", 5*time.Second)
	g.waitSessions(t, 5*time.Second)

	conn := agent.Conns()[0]
	msgs := conn.Messages()
	var hello map[string]string
	if err := json.Unmarshal(msgs[0].Data, &hello); err != nil || hello["type"] != "call_started" || hello["from"] != "15551112222" {
		t.Errorf("first message %s", msgs[0].Data)
	}
	if !strings.HasPrefix(conn.Path, "/agent/") || len(conn.Path) < 20 {
		t.Errorf("agent path %q", conn.Path)
	}
	if code, reason := conn.CloseStatus(); code != 1000 || reason != "done" {
		t.Errorf("close %d %q", code, reason)
	}
	vs := parseVox(t, conn)
	if vs[0].Start == nil || vs[0].Start.MediaFormat.Encoding != "PCM16" || vs[0].Start.MediaFormat.SampleRate != 16000 {
		t.Errorf("the caller's stream starts %s", mustJSON(vs[0]))
	}
	heard := audible(received(c))
	at := *bargeAt.Load()
	var before []sipcaller.Packet
	for _, p := range heard {
		if p.Arrival.After(at.Add(60 * time.Millisecond)) {
			t.Fatalf("agent audio heard %s after the barge-in", p.Arrival.Sub(at))
		}
		before = append(before, p)
	}
	// 1.5 s of the 4 s burst played before the barge-in, paced.
	if n := len(before); n < 65 || n > 85 {
		t.Errorf("%d agent packets before the barge-in, want about 75", n)
	}
	checkPacing(t, before[1:], false)
}

// TestTranscriptionForkExample runs examples/scenarios/transcription-fork.js:
// the greeting starts the µ-law fork, a transcript is played back through
// the TTS URL, and the session ends when the caller hangs up.
func TestTranscriptionForkExample(t *testing.T) {
	var ttsText atomic.Pointer[string]
	tts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		text := r.URL.Query().Get("text")
		ttsText.Store(&text)
		w.Header().Set("Content-Type", "audio/wav")
		_, _ = w.Write(assets.PromptWAV())
	}))
	t.Cleanup(tts.Close)
	asr := wsServer(t, func(c *wsapp.Conn) {
		_ = c.SendText("ready")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// About a second of the caller's audio, then a transcript.
		if c.WaitFor(ctx, 50) == nil {
			_ = c.SendText("hello world")
		}
	})
	cfg, _ := json.Marshal(map[string]string{"asr": asr.URL("/asr"), "tts": tts.URL + "/say?text="})
	g := startGateway(t, scenario.Config{File: "../../examples/scenarios/transcription-fork.js", CustomData: string(cfg)})
	c := g.Dial(sipcaller.Config{})
	g.waitText(t, "asr ready: ready", 5*time.Second)
	waitVoxConn(t, asr, "start")
	speech := assets.Speech()
	if err := c.SendAudio(g.Context(10*time.Second), speech); err != nil {
		t.Fatal(err)
	}
	g.waitText(t, "transcript: hello world", 5*time.Second)
	g.waitText(t, "playback finished", 5*time.Second)
	if p := ttsText.Load(); p == nil || *p != "hello world" {
		t.Errorf("TTS asked for %v", p)
	}
	// The fork trails the caller by its media clock: hang up once the ASR
	// server has the start message and every frame of the speech.
	if err := asr.Conns()[0].WaitFor(g.Context(5*time.Second), 1+len(speech)/160); err != nil {
		t.Fatalf("the ASR server got %d messages: %v", len(asr.Conns()[0].Messages()), err)
	}
	if err := c.Hangup(g.Context(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	g.waitSessions(t, 5*time.Second)
	conn := asr.Conns()[0]
	var fork []byte
	for _, v := range parseVox(t, conn) {
		if v.Event == "start" && (v.Start.MediaFormat.Encoding != "ULAW" || v.Start.MediaFormat.SampleRate != 8000) {
			t.Errorf("start %s", mustJSON(v))
		}
		if v.Event == "media" {
			p, _ := base64.StdEncoding.DecodeString(v.Media.Payload)
			fork = append(fork, p...)
		}
	}
	if want := bytes.TrimRight(speech, "\xff"); !bytes.Contains(fork, want) {
		// Where the fork parts from the speech, frame by frame.
		at := bytes.Index(fork, want[:160])
		diff := -1
		for i := 0; at >= 0 && i < len(want) && at+i < len(fork); i++ {
			if fork[at+i] != want[i] {
				diff = i
				break
			}
		}
		t.Errorf("the ASR server did not get the caller's speech intact: fork %d bytes, speech %d, first frame at %d, differs at byte %d",
			len(fork), len(want), at, diff)
	}
	prompt, _ := media.ReadWAV(bytes.NewReader(assets.PromptWAV()))
	if !bytes.Contains(sipcaller.Payloads(received(c)), bytes.Trim(prompt.Data, "\xff")) {
		t.Error("the caller did not hear the TTS audio")
	}
}

// TestIncomingSocketExample runs examples/scenarios/incoming-socket.js: a
// media client connects to the session's URL and its audio (ULAW, 160-byte
// chunks, sent at once) reaches the caller intact and paced.
// The incoming-socket flow as written: the client connects over TLS to
// exactly the URL the script printed (accessSecureURL with wss), served by
// the gateway's HTTPS listener.
func TestIncomingSocketExample(t *testing.T) {
	certFile, keyFile, _, tlsClient := tlstest.Files(t)
	g := startGatewayTLS(t, scenario.Config{File: "../../examples/scenarios/incoming-socket.js"}, certFile, keyFile)
	c := g.Dial(sipcaller.Config{})
	line := g.waitText(t, "media clients connect to wss://*", 5*time.Second)
	sessions := g.rt.Sessions()
	printed := strings.TrimPrefix(line, "media clients connect to ")
	if len(sessions) != 1 || printed != strings.Replace(sessions[0].AccessSecureURL, "https", "wss", 1) ||
		!strings.HasPrefix(printed, "wss://"+g.GW.HTTPSAddr()+"/") {
		t.Fatalf("%q vs %+v", line, sessions)
	}
	d := websocket.Dialer{TLSClientConfig: tlsClient, HandshakeTimeout: 5 * time.Second}
	conn, _, err := d.Dial(printed+"/client", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	g.waitText(t, "media client connected on *", 5*time.Second)
	clip := ulawClip(16000)
	write := func(v any) {
		b, _ := json.Marshal(v)
		if err := conn.WriteMessage(websocket.TextMessage, b); err != nil {
			t.Fatal(err)
		}
	}
	write(map[string]any{"event": "start", "sequenceNumber": 0, "start": map[string]any{"mediaFormat": map[string]any{"encoding": "ULAW", "sampleRate": 8000}}})
	for i := 0; i*160 < len(clip); i++ {
		write(map[string]any{"event": "media", "sequenceNumber": i + 1, "media": map[string]any{
			"chunk": i + 1, "timestamp": i * 160, "payload": base64.StdEncoding.EncodeToString(clip[i*160 : (i+1)*160])}})
	}
	write(map[string]any{"event": "stop", "sequenceNumber": 102, "stop": map[string]any{}})
	g.waitText(t, "client audio started (ULAW)", 5*time.Second)
	g.waitText(t, "client audio played", 5*time.Second)
	heard := audible(received(c))
	if !bytes.Equal(sipcaller.Payloads(heard), clip) {
		t.Errorf("the caller heard %d bytes, want the client's %d intact", len(sipcaller.Payloads(heard)), len(clip))
	}
	checkPacing(t, heard, false)
	if err := c.Hangup(g.Context(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	g.waitSessions(t, 5*time.Second)
}

// TestCallLimitsAndErrors checks an unanswered call dropped after the
// answer timeout, and a script throwing during a call: the call is hung
// up, its socket closed, the error logged with its place; another call's
// session is not touched. OPUS in a build without it is refused clearly.
func TestCallLimitsAndErrors(t *testing.T) {
	bot := wsServer(t, echo)
	g := startGateway(t, scenario.Config{CustomData: bot.URL(""), Limits: scenario.Limits{AnswerTimeout: 300 * time.Millisecond, NoCallTimeout: 500 * time.Millisecond}, Source: `
VoxEngine.addEventListener(AppEvents.CallAlerting, function (e) {
  var call = e.call;
  if (e.destination === 'never') return;
  var ws = new WebSocket(VoxEngine.customData() + '/' + e.destination);
  call.answer();
  call.addEventListener(CallEvents.Connected, function () {
    if (e.destination === 'opus') {
      ws.onerror = function () { Logger.write('opus refused'); };
      call.sendMediaTo(ws, {encoding: WebSocketAudioEncoding.OPUS});
      return;
    }
    call.sendMediaTo(ws);
    ws.sendMediaTo(call);
    if (e.destination === 'bad') {
      setTimeout(function () {
        var nothing;
        nothing.explode();
      }, 200);
    }
  });
  call.addEventListener(CallEvents.Disconnected, function () { VoxEngine.terminate(); });
});`})
	// Nobody answers: 480 after the timeout, logged.
	start := time.Now()
	_, err := g.Caller.Dial(g.Context(5*time.Second), sipcaller.Config{Target: g.GW.SIPAddr(), From: "1", To: "never"})
	var se *sipcaller.StatusError
	if !errors.As(err, &se) || se.Code != 480 || time.Since(start) < 300*time.Millisecond {
		t.Fatalf("unanswered call: %v after %s", err, time.Since(start))
	}
	if g.Logs.Find("ERROR", "not answered in time", nil) == nil {
		t.Error("no error logged for the unanswered call")
	}

	good := g.Dial(sipcaller.Config{To: "good"})
	bad := g.Dial(sipcaller.Config{To: "bad"})
	select {
	case <-bad.Ended():
	case <-time.After(5 * time.Second):
		t.Fatal("the failing session did not hang up its call")
	}
	rec := g.Logs.Find("ERROR", "scenario error", map[string]string{"at": "scenario.js:18:9"})
	if rec == nil || !strings.Contains(fmt.Sprint(rec["err"]), "TypeError") || !strings.Contains(fmt.Sprint(rec["stack"]), "scenario.js:18:9") {
		t.Errorf("error record %v", rec)
	}
	var badConn *wsapp.Conn
	for _, cn := range bot.Conns() {
		if cn.Path == "/bad" {
			badConn = cn
		}
	}
	select {
	case <-badConn.Closed():
	case <-time.After(5 * time.Second):
		t.Fatal("the failing session's socket is open")
	}
	// The good call goes on: its echo still works.
	if err := good.SendAudio(g.Context(5*time.Second), assets.Speech()[:8000]); err != nil {
		t.Fatal(err)
	}
	waitHeard(t, g, good, bytes.TrimRight(assets.Speech()[:8000], "\xff")) // the other call's echo still works
	_ = good.Hangup(g.Context(5 * time.Second))

	op := g.Dial(sipcaller.Config{To: "opus"})
	if scenario.OpusSupported {
		conn := servetest.ConnTo(t, bot, "/opus")
		waitVox(t, conn, "media", 5*time.Second)
		if st := parseVox(t, conn)[0].Start; st == nil || st.MediaFormat.Encoding != "OPUS" || st.MediaFormat.SampleRate != 48000 {
			t.Errorf("opus start %s", mustJSON(parseVox(t, conn)[0]))
		}
	} else {
		g.waitText(t, "opus refused", 5*time.Second)
		if g.Logs.Find("ERROR", "media not sent", map[string]string{"err": "-tags opus"}) == nil {
			t.Error("OPUS refusal not logged clearly")
		}
	}
	_ = op.Hangup(g.Context(5 * time.Second))
	g.waitSessions(t, 5*time.Second)
}

// TestManyCallsInParallel runs calls at once through the echo bot example:
// every caller hears itself and nothing of the others.
func TestManyCallsInParallel(t *testing.T) {
	bot := wsServer(t, echo)
	g := startGateway(t, scenario.Config{File: "../../examples/scenarios/echo-bot.js", CustomData: bot.URL("/echo")})
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := g.Caller.Dial(g.Context(10*time.Second), sipcaller.Config{Target: g.GW.SIPAddr(), From: fmt.Sprint(1000 + i), To: "echo"})
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			mine := ulawClip(8000 + 160*i)
			for j := range mine {
				mine[j] ^= byte(i) << 4 // a different clip per caller
				if mine[j] == 0xFF || mine[j] == 0x7F {
					mine[j]-- // no silence, and no -0 (PCM has one zero)
				}
			}
			g.waitStreaming(t, fmt.Sprint(1000+i))
			if err := c.SendAudio(g.Context(10*time.Second), mine); err != nil {
				errs <- err
				return
			}
			// Compared without all-silence frames: the call's inbound track
			// may fill a silence frame when the caller's audio starts late.
			err = c.WaitReceived(g.Context(10*time.Second), "its own audio", func(ps []sipcaller.Packet) bool {
				return bytes.Contains(sipcaller.Payloads(audible(audioPackets(ps))), mine)
			})
			if err != nil {
				errs <- fmt.Errorf("caller %d: %w (%d audible bytes heard)", i, err, len(sipcaller.Payloads(audible(received(c)))))
			}
			_ = c.Hangup(g.Context(5 * time.Second))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	g.waitSessions(t, 10*time.Second)
}

// TestCallMediaControls checks call.reject, several tags from one call on
// one socket, ws.stopMediaTo(call), call.stopMediaTo(ws) (stop messages),
// a looping startPlayback cut by stopPlayback, call.hangup, and
// sendMediaBetween / stopMediaBetween.
func TestCallMediaControls(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(assets.PromptWAV())
	}))
	t.Cleanup(app.Close)
	bot := wsServer(t, nil)
	cfg, _ := json.Marshal(map[string]string{"ws": bot.URL(""), "wav": app.URL + "/p.wav"})
	g := startGateway(t, scenario.Config{CustomData: string(cfg), Source: `
var cfg = JSON.parse(VoxEngine.customData());
VoxEngine.addEventListener(AppEvents.CallAlerting, function (e) {
  var call = e.call;
  if (e.destination === 'reject') { call.reject(486); return; }
  call.answer();
  call.addEventListener(CallEvents.Connected, function () {
    var ws = new WebSocket(cfg.ws + '/' + e.destination);
    ws.onopen = function () {
      if (e.destination === 'between') {
        VoxEngine.sendMediaBetween(call, ws);
      } else {
        call.sendMediaTo(ws, {tag: 'a'});
        call.sendMediaTo(ws, {tag: 'b', encoding: 'ULAW'});
        ws.sendMediaTo(call);
      }
      Logger.write(e.destination + ' open');
    };
    ws.onmessage = function (m) {
      switch (m.text) {
      case 'stop-in': ws.stopMediaTo(call); break;
      case 'stop-in-other': ws.stopMediaTo(call, {tag: 'other'}); break;
      case 'stop-out': call.stopMediaTo(ws); break;
      case 'stop-out-a': call.stopMediaTo(ws, {tag: 'a'}); break;
      case 'unlink': VoxEngine.stopMediaBetween(call, ws); break;
      case 'loop': call.startPlayback(cfg.wav, {loop: true}); break;
      case 'stopplay': call.stopPlayback(); break;
      case 'hangup': call.hangup(); break;
      }
      Logger.write('did ' + m.text);
    };
  });
  call.addEventListener(CallEvents.PlaybackStarted, function () { Logger.write('playback started'); });
  call.addEventListener(CallEvents.PlaybackFinished, function () { Logger.write('playback finished'); });
  call.addEventListener(CallEvents.Disconnected, function () { Logger.write(e.destination + ' disconnected'); });
});`})
	_, err := g.Caller.Dial(g.Context(5*time.Second), sipcaller.Config{Target: g.GW.SIPAddr(), From: "1", To: "reject"})
	var se *sipcaller.StatusError
	if !errors.As(err, &se) || se.Code != 486 {
		t.Fatalf("reject: %v", err)
	}

	c := g.Dial(sipcaller.Config{To: "controls"})
	g.waitText(t, "controls open", 5*time.Second)
	var conn *wsapp.Conn
	for _, cn := range bot.Conns() {
		if cn.Path == "/controls" {
			conn = cn
		}
	}
	go func() { _ = c.SendAudio(g.Context(5*time.Second), assets.Speech()[:8000]) }()
	sendStart(t, conn, "", "ULAW", 8000)
	sendBurst(t, conn, "", ulawClip(24000), 1600)
	waitAudible(t, g, c, 25) // half a second of the remote's audio heard
	command := func(cmd string) time.Time {
		at := time.Now()
		if err := conn.SendText(cmd); err != nil {
			t.Fatal(err)
		}
		g.waitText(t, "did "+cmd, 5*time.Second)
		return at
	}
	// A tag the remote does not send: nothing stops.
	other := command("stop-in-other")
	err = c.WaitReceived(g.Context(5*time.Second), "audio 150 ms after the command", func(ps []sipcaller.Packet) bool {
		heard := audible(audioPackets(ps))
		return len(heard) > 0 && !heard[len(heard)-1].Arrival.Before(other.Add(150*time.Millisecond))
	})
	if err != nil {
		t.Errorf("ws.stopMediaTo(call, {tag: 'other'}) stopped the remote's untagged audio: %v", err)
	}
	cut := command("stop-in")
	time.Sleep(200 * time.Millisecond) // watch: no audio may come after the cut
	heard := audible(received(c))
	if len(heard) < 15 || heard[len(heard)-1].Arrival.After(cut.Add(60*time.Millisecond)) {
		t.Errorf("ws.stopMediaTo(call): %d packets, the last %s after the command", len(heard), heard[len(heard)-1].Arrival.Sub(cut))
	}
	count := func() (map[string]int, map[string]int) {
		tags := map[string]int{}
		seq := map[string]int{}
		for _, v := range parseVox(t, conn) {
			switch v.Event {
			case "start":
				tags["start "+v.Start.Tag+" "+v.Start.MediaFormat.Encoding]++
			case "media":
				seq[v.Media.Tag]++
			case "stop":
				tags["stop "+v.Stop.Tag]++
			}
		}
		return tags, seq
	}
	// stopMediaTo with a tag stops that tag only.
	command("stop-out-a")
	waitVox(t, conn, "stop", 5*time.Second)
	waitVoxFor(t, conn, 5*time.Second, "10 frames of tag b past tag a", func(vs []vox) bool {
		seq := map[string]int{}
		for _, v := range vs {
			if v.Event == "media" {
				seq[v.Media.Tag]++
			}
		}
		return seq["b"] >= seq["a"]+10
	})
	tags, seq := count()
	if tags["stop a"] != 1 || tags["stop b"] != 0 || seq["b"] < seq["a"]+10 {
		t.Errorf("call.stopMediaTo(ws, {tag: 'a'}): %v, media %v", tags, seq)
	}
	command("stop-out")
	waitVoxFor(t, conn, 5*time.Second, "tag b stopped", func(vs []vox) bool {
		for _, v := range vs {
			if v.Event == "stop" && v.Stop.Tag == "b" {
				return true
			}
		}
		return false
	})
	tags, seq = count()
	if tags["start a PCM8"] != 1 || tags["start b ULAW"] != 1 || tags["stop a"] != 1 || tags["stop b"] != 1 || seq["a"] < 10 {
		t.Errorf("two tags on one socket: %v, media %v", tags, seq)
	}

	command("loop")
	g.waitText(t, "playback started", 5*time.Second)
	waitAudible(t, g, c, len(audible(received(c)))+100) // 2 s, longer than the 1.5 s prompt: it loops
	stop := command("stopplay")
	time.Sleep(200 * time.Millisecond) // watch: no audio may come after the stop
	heard = audible(received(c))
	last := heard[len(heard)-1].Arrival
	if last.After(stop.Add(60 * time.Millisecond)) {
		t.Errorf("stopPlayback: audio %s after the command", last.Sub(stop))
	}
	if slicesContains(g.texts(), "playback finished") {
		t.Error("a stopped playback reported PlaybackFinished")
	}
	command("hangup")
	select {
	case <-c.Ended():
	case <-time.After(5 * time.Second):
		t.Fatal("call.hangup did not end the call")
	}
	g.waitText(t, "controls disconnected", 5*time.Second)

	b := g.Dial(sipcaller.Config{To: "between"})
	g.waitText(t, "between open", 5*time.Second)
	for _, cn := range bot.Conns() {
		if cn.Path == "/between" {
			conn = cn
		}
	}
	waitVox(t, conn, "start", 5*time.Second)
	sendStart(t, conn, "", "PCM8", 8000)
	sendBurst(t, conn, "", media.SamplesToPCM16LE(nil, media.DecodeULaw(nil, ulawClip(8000))), 3200)
	waitAudible(t, g, b, 10)
	command("unlink")
	waitVox(t, conn, "stop", 5*time.Second)
	if n := len(audible(received(b))); n < 10 {
		t.Errorf("sendMediaBetween: the caller heard %d packets", n)
	}
	_ = b.Hangup(g.Context(5 * time.Second))
	g.waitText(t, "between disconnected", 5*time.Second)
}
