package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/demo"
	"github.com/callstream/callstream/internal/logtest"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipcaller"
	"github.com/callstream/callstream/internal/sipp"
	"github.com/callstream/callstream/internal/tlstest"
	"github.com/callstream/callstream/internal/wsapp"
)

// `callstream serve --app FILE` answers a SIPp call; the WebSocket server
// receives connected, start, 20 ms media frames equal to what SIPp sent,
// and stop after the BYE. Flags come partly from CALLSTREAM_* variables.
func TestMain(m *testing.M) { os.Exit(servetest.Main(m)) }

func TestServeWithFileAppAndSIPp(t *testing.T) {
	sipp.Require(t)
	bin := servetest.Binary(t)
	ws, err := wsapp.Listen(wsapp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	dir := t.TempDir()
	app := filepath.Join(dir, "app.xml")
	doc := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Start><Stream url="%s" name="file-app"><Parameter name="source" value="file"/></Stream></Start>
  <Pause length="30"/>
</Response>
`, ws.URL("/media"))
	if err := os.WriteFile(app, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	sipPort, _ := sipp.FreeUDPPort()
	sipAddr := fmt.Sprintf("127.0.0.1:%d", sipPort)
	httpAddr := servetest.FreeTCPAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// A fixed jitter buffer: the audio is compared byte for byte, and SIPp's
	// pacing on a busy machine may stall past an adaptive buffer's floor.
	startServe(t, ctx, bin, []string{"CALLSTREAM_HTTP=" + httpAddr, "CALLSTREAM_RTP_PORTS=39000-39099"},
		"--app", app, "--sip", sipAddr, "--log-format", "json", "--jitter-buffer", "300ms")
	waitHealthy(t, http.DefaultClient, "http://"+httpAddr+"/healthz")
	speech := assets.Speech()
	if err := os.WriteFile(filepath.Join(dir, "speech.ulaw"), speech, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := sipp.Run(ctx, sipp.Options{Scenario: "uac_stream.xml", Target: sipAddr, Dir: dir,
		Params: sipp.Params{PT: 0, Codec: "PCMU", File: "speech.ulaw", PauseMs: 3400}})
	if err != nil {
		t.Fatalf("%v\n%s", err, res.Output)
	}
	conn, err := ws.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-conn.Closed():
	case <-time.After(5 * time.Second):
		t.Fatal("no close after BYE")
	}
	msgs := conn.Messages()
	if string(msgs[0].Data) != `{"event":"connected","protocol":"Call","version":"0.2.0"}` {
		t.Fatalf("first message %s", msgs[0].Data)
	}
	if !strings.Contains(string(msgs[1].Data), `"customParameters":{"source":"file"}`) {
		t.Fatalf("start %s", msgs[1].Data)
	}
	var audio []byte
	var prevAt time.Time
	var gaps []time.Duration
	for _, m := range msgs[2 : len(msgs)-1] {
		var e struct {
			Event string
			Media struct{ Payload string }
		}
		if err := json.Unmarshal(m.Data, &e); err != nil || e.Event != "media" {
			t.Fatalf("message %s", m.Data)
		}
		p, _ := base64.StdEncoding.DecodeString(e.Media.Payload)
		audio = append(audio, p...)
		if !prevAt.IsZero() {
			gaps = append(gaps, m.At.Sub(prevAt))
		}
		prevAt = m.At
	}
	// The track has a frame for every slot from its start: silence until the
	// caller's first packet has come through the jitter buffer.
	silence := bytes.Repeat([]byte{0xFF}, 160)
	for len(audio) >= 160 && bytes.Equal(audio[:160], silence) {
		audio = audio[160:]
	}
	if !bytes.HasPrefix(audio, speech) {
		t.Fatalf("received %d bytes that do not start with the %d bytes SIPp sent: %s", len(audio), len(speech), servetest.Divergence(audio, speech))
	}
	if !strings.Contains(string(msgs[len(msgs)-1].Data), `"event":"stop"`) {
		t.Fatalf("last message %s", msgs[len(msgs)-1].Data)
	}
	// 20 ms frames: the whole stream spans ~20 ms per frame.
	if n := len(gaps); n > 100 {
		span := prevAt.Sub(msgs[2].At)
		per := span / time.Duration(n)
		if per < 18*time.Millisecond || per > 22*time.Millisecond {
			t.Fatalf("media every %s on average, want 20 ms", per)
		}
	}
}

// The demo runs end to end and the audio matches.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	res, err := demo.Run(context.Background(), demo.Options{Out: &out, WAVPath: filepath.Join(t.TempDir(), "demo.wav")})
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	if !res.Match || res.Events["start"] != 1 || res.Events["stop"] != 1 || res.Events["connected"] != 1 {
		t.Fatalf("demo result %+v", res)
	}
	if res.MediaFrames < res.SentFrames || res.PromptPackets < 70 {
		t.Fatalf("demo result %+v", res)
	}
	// The reason is the gateway's own, from the call it released.
	if res.EndReason != "caller hung up" {
		t.Fatalf("end reason %q", res.EndReason)
	}
	for _, want := range []string{"media frames:", "first-frame latency:", "call ended:          caller hung up", "MATCH"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("summary lacks %q:\n%s", want, out.String())
		}
	}
	if st, err := os.Stat(res.WAVPath); err != nil || st.Size() < 24000 {
		t.Fatalf("wav %v %v", st, err)
	}
}

func TestFlagErrors(t *testing.T) {
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"serve"}, &stderr, &stderr); code != 1 || !strings.Contains(stderr.String(), "no app") {
		t.Fatalf("serve without --app: code %d, %s", code, stderr.String())
	}
	stderr.Reset()
	t.Setenv("CALLSTREAM_RTP_PORTS", "9-2")
	if code := run(context.Background(), []string{"serve", "--app", "x.xml"}, &stderr, &stderr); code != 1 || !strings.Contains(stderr.String(), "port range") {
		t.Fatalf("bad env port range: code %d, %s", code, stderr.String())
	}
	stderr.Reset()
	for _, v := range []string{"5ms", "2s", "soon"} {
		if code := run(context.Background(), []string{"serve", "--app", "x.xml", "--rtp-ports", "20000-20010", "--jitter-buffer", v}, &stderr, &stderr); code != 1 || !strings.Contains(stderr.String(), "--jitter-buffer") {
			t.Fatalf("--jitter-buffer %s: code %d, %s", v, code, stderr.String())
		}
		stderr.Reset()
	}
	if code := run(context.Background(), []string{"nosuch"}, &stderr, &stderr); code != 2 {
		t.Fatalf("unknown command: code %d", code)
	}
}

// `callstream demo --scenario` runs the echo-bot scenario end to end: the
// built-in copy (embedded from examples/scenarios) and the file.
func TestDemoScenarioBuiltIn(t *testing.T) {
	var out bytes.Buffer
	res, err := demo.RunScenario(context.Background(), demo.Options{Out: &out, WAVPath: filepath.Join(t.TempDir(), "s.wav")}, "")
	if err != nil {
		t.Fatalf("scenario demo: %v\n%s", err, out.String())
	}
	if !res.Match || res.HeardFrames < 150 || res.BotMessages < 150 || res.Script != "echo-bot.js" {
		t.Fatalf("scenario demo result %+v", res)
	}
}

func TestDemoScenario(t *testing.T) {
	var out bytes.Buffer
	res, err := demo.RunScenario(context.Background(), demo.Options{Out: &out, WAVPath: filepath.Join(t.TempDir(), "s.wav")}, "../../examples/scenarios/echo-bot.js")
	if err != nil {
		t.Fatalf("scenario demo: %v\n%s", err, out.String())
	}
	if !res.Match || res.HeardFrames < 150 || res.BotMessages < 150 {
		t.Fatalf("scenario demo result %+v", res)
	}
}

// `callstream serve --scenario FILE.js --scenario-data URL` runs the echo
// bot from its file for a call: the caller hears its own audio back through
// the bot. With --https the same handlers answer over TLS.
func TestServeWithScenario(t *testing.T) {
	bin := servetest.Binary(t)
	bot, err := wsapp.Listen(wsapp.Options{Handler: func(c *wsapp.Conn) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for n := 0; c.WaitFor(ctx, n+1) == nil; n++ { // every message back as it came
			if c.SendText(string(c.Messages()[n].Data)) != nil {
				return
			}
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer bot.Close()
	certFile, keyFile, _, tlsClient := tlstest.Files(t)
	sipAddr, httpsAddr := servetest.FreeSIPAddr(t), servetest.FreeTCPAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	logs := startServe(t, ctx, bin, nil, "--scenario", "../../examples/scenarios/echo-bot.js",
		"--scenario-data", bot.URL("/echo"), "--sip", sipAddr, "--http", servetest.FreeTCPAddr(t), "--rtp-ports", "39100-39199",
		"--https", httpsAddr, "--tls-cert", certFile, "--tls-key", keyFile, "--log-format", "json")
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsClient}, Timeout: time.Second}
	waitHealthy(t, hc, "https://"+httpsAddr+"/healthz")
	client, err := sipcaller.NewClient(sipcaller.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c, err := client.Dial(ctx, sipcaller.Config{Target: sipAddr, From: "15551112222", To: "15553334444"})
	if err != nil {
		t.Fatal(err)
	}
	speech := assets.Speech()[:16000]
	if err := c.SendAudio(ctx, speech); err != nil {
		t.Fatal(err)
	}
	// µ-law → 16-bit PCM → µ-law is exact: the echo is the caller's audio.
	heardCtx, cancelHeard := context.WithTimeout(ctx, 10*time.Second)
	defer cancelHeard()
	if err := c.WaitHeard(heardCtx, speech[1600:12000]); err != nil {
		t.Fatalf("the caller did not hear its own audio echoed: %v (%d bytes heard)", err, len(c.Heard()))
	}
	if err := c.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	logs.WaitContains(t, 5*time.Second, `"text":"call from 15551112222 to 15553334444"`) // the scenario's Logger.write line
}

// startServe runs `bin serve args...` with env added to the environment; the
// test's cleanup interrupts it, waits for it, and prints its logs if the
// test failed. It returns the process's stderr (JSON logs) as it fills.
func startServe(t *testing.T, ctx context.Context, bin string, env []string, args ...string) *logtest.Buffer {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, append([]string{"serve"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	logs := &logtest.Buffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("serve logs:\n%s", logs.String())
		}
	})
	return logs
}

// waitHealthy polls url until it answers 200, for at most 10 s.
func waitHealthy(t *testing.T, hc *http.Client, url string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not 200 within 10 s: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
