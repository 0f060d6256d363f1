package scenario_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/scenario"
	"github.com/callstream/callstream/internal/scenario/voxtest"
	"github.com/callstream/callstream/internal/sipcaller"
	"github.com/callstream/callstream/internal/tlstest"
	"github.com/callstream/callstream/internal/wsapp"
)

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
		sendBurst(t, c, "", codec.SamplesToPCM16LE(nil, voxtest.Tone(4*16000, 16000, 600, 6000)), 640) // 4 s, at once
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
	// The fork trails the caller by its media clock and jitter buffer, and
	// has a frame for every slot from its start: hang up once the ASR
	// server has the start message and a second more than the speech.
	if err := asr.Conns()[0].WaitFor(g.Context(5*time.Second), 1+len(speech)/160+50); err != nil {
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
	clip := voxtest.Clip(16000)
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
			mine := voxtest.Clip(8000 + 160*i)
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
