package edge

// Attacks and failures at the stream edge: an app's oversized message, a
// flood of Twilio marks, an app that goes away mid-call and comes back.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/gatewaytest"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipcaller"
	"github.com/callstream/callstream/internal/wsapp"
)

// waitClosed waits for the gateway to end the connection.
func waitClosed(t *testing.T, c *wsapp.Conn, d time.Duration) {
	t.Helper()
	select {
	case <-c.Closed():
	case <-time.After(d):
		t.Fatalf("the stream on %s did not close within %s", c.Path, d)
	}
}

// statusEvents returns the StreamEvent of the status callbacks posted to path.
func statusEvents(env *servetest.Env, path string) []string {
	var ev []string
	for _, r := range env.App.Requests() {
		if r.Path == path {
			ev = append(ev, r.Form.Get("StreamEvent"))
		}
	}
	return ev
}

// An app that sends a 100 MB message gets its stream closed with 1009 once
// the first MiB is read: the gateway holds none of the rest, says so in a
// warning, counts the refusal and reports stream-error; the document goes
// on to its next verb, and another call streams intact meanwhile.
func TestStreamMessageOverBound(t *testing.T) {
	size := servetest.Scale[int64](100<<20, 1200<<20) // the findings: 100 MB, and 1.2 GB ended the process
	env := servetest.StartEnv(t, servetest.EnvOptions{WS: wsapp.Options{Handler: func(c *wsapp.Conn) {
		if c.Path != "/huge" {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if c.WaitFor(ctx, 2) == nil { // connected, start
			_ = c.SendFrom(false, wsapp.Repeated('x', size))
		}
	}}})
	env.App.Doc("/status", "ok")
	env.App.DocTo("/app", "huge", `<Response>
<Connect><Stream url="{{.WS}}/huge" statusCallback="`+env.App.URL("/status")+`"/></Connect>
<Start><Stream url="{{.WS}}/after"/></Start>
<Pause length="60"/>
</Response>`)
	base := env.Baseline(t)
	hwm := env.HWM()
	b := env.Bystander(t)

	call, err := env.Dial(t, sipcaller.Config{To: "huge"})
	if err != nil {
		t.Fatal(err)
	}
	huge := env.StreamConn(t, "/huge")
	waitClosed(t, huge, 20*time.Second)
	if code, _ := huge.CloseStatus(); code != 1009 {
		t.Fatalf("the app's stream closed with %d, want 1009", code)
	}
	// The document went on: the caller is streamed to the next verb's app.
	after := env.StreamConn(t, "/after")
	sent := make(chan error, 1)
	go func() { sent <- call.SendAudio(servetest.Context(t, 10*time.Second), assets.Speech()[:8000]) }()
	b.Check(t)
	if err := <-sent; err != nil {
		t.Fatalf("the attacked call: %v", err)
	}
	if err := after.WaitFor(servetest.Context(t, 5*time.Second), 2+40); err != nil {
		t.Fatalf("the attacked call's next stream: %v", err)
	}
	checkHugeMessageRefused(t, env, hwm, size)
	if w := env.WaitLog(t, "WARN", "app message too big", map[string]string{"url": env.WS.URL("/huge")}); w["max_message_bytes"] != float64(1<<20) {
		t.Fatalf("warning %v, want one naming the stream's URL and the bound", w)
	}
	servetest.Eventually(t, 5*time.Second, "stream-started, stream-error, stream-stopped posted", func() bool {
		return strings.Join(statusEvents(env, "/status"), ",") == "stream-started,stream-error,stream-stopped"
	})
	if err := call.Hangup(servetest.Context(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	env.Survived(t, nil, base, 10*time.Second)
}

// The same through a scenario's incoming WebSocket: the client's 100 MB
// message closes that socket with 1009, the script sees CLOSE 1009, the
// session and its call go on.
func TestScenarioSocketMessageOverBound(t *testing.T) {
	const size = 100 << 20
	script := filepath.Join(t.TempDir(), "incoming.js")
	if err := os.WriteFile(script, []byte(`require(Modules.WebSocket);
let access = '';
VoxEngine.addEventListener(AppEvents.Started, (e) => {
  access = e.accessURL.replace('http', 'ws');
  VoxEngine.allowWebSocketConnections();
});
VoxEngine.addEventListener(AppEvents.CallAlerting, (e) => {
  const call = e.call;
  call.answer();
  const out = new WebSocket(VoxEngine.customData());
  out.addEventListener(WebSocketEvents.OPEN, () => out.send(access));
  call.addEventListener(CallEvents.Disconnected, () => VoxEngine.terminate());
  VoxEngine.addEventListener(AppEvents.WebSocket, (ev) => {
    ev.websocket.addEventListener(WebSocketEvents.CLOSE, (c) => {
      Logger.write('incoming closed ' + c.code);
      out.send('still here');
    });
  });
});`), 0o644); err != nil {
		t.Fatal(err)
	}
	ws, err := wsapp.Listen(wsapp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	env := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{Args: []string{
		"--scenario", script, "--scenario-data", ws.URL("/ctl")}}})
	base := env.Baseline(t)
	hwm := env.HWM()
	call, err := env.Dial(t, sipcaller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctl := servetest.ConnTo(t, ws, "/ctl")
	if err := ctl.WaitFor(servetest.Context(t, 10*time.Second), 1); err != nil {
		t.Fatal(err)
	}
	access := string(ctl.Messages()[0].Data)
	client, _, err := websocket.DefaultDialer.Dial(access, nil)
	if err != nil {
		t.Fatalf("incoming socket %s: %v", access, err)
	}
	defer client.Close()
	closed := make(chan int, 1)
	go func() {
		for {
			if _, _, err := client.ReadMessage(); err != nil {
				code := 0
				if ce, ok := err.(*websocket.CloseError); ok {
					code = ce.Code
				}
				closed <- code
				return
			}
		}
	}()
	if w, err := client.NextWriter(websocket.TextMessage); err == nil {
		_, _ = io.Copy(w, wsapp.Repeated('y', size))
		_ = w.Close()
	}
	select {
	case code := <-closed:
		if code != 1009 {
			t.Fatalf("the client saw close %d, want 1009", code)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the incoming socket was not closed")
	}
	if err := ctl.WaitFor(servetest.Context(t, 5*time.Second), 2); err != nil || string(ctl.Messages()[1].Data) != "still here" {
		t.Fatalf("the session did not go on: %v", err)
	}
	env.WaitLog(t, "INFO", "scenario log", map[string]string{"text": "incoming closed 1009"})
	checkHugeMessageRefused(t, env, hwm, size)
	if w := env.WaitLog(t, "WARN", "app message too big", nil); w["max_message_bytes"] != float64(1<<20) {
		t.Fatalf("warning %v, want one naming the bound", w)
	}
	if err := call.Hangup(servetest.Context(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	env.Settled(t, base, 10*time.Second)
}

// An app on a Twilio <Connect> stream that sends 200,000 marks while its
// audio is queued gets every one back, in order: past 1,000 pending the
// oldest comes back at once. The gateway's heap stays flat.
func TestTwilioMarkFlood(t *testing.T) {
	const marks, pending = 200000, 1000
	var back atomic.Int64
	flooded := make(chan error, 1)
	env := servetest.StartEnv(t, servetest.EnvOptions{
		Options: servetest.Options{Args: []string{"--stream-dialect", "twilio"}},
		WS: wsapp.Options{Handler: func(c *wsapp.Conn) {
			if c.Path != "/marks" {
				return
			}
			c.OnMessage(func(m wsapp.Message) {
				if bytes.Contains(m.Data, []byte(`"event":"mark"`)) {
					back.Add(1)
				}
			})
			flooded <- floodMarks(c, marks)
		}}})
	env.App.DocTo("/app", "marks", `<Response><Connect><Stream url="{{.WS}}/marks"/></Connect></Response>`)
	base := env.Baseline(t)
	b := env.Bystander(t)
	call, err := env.Dial(t, sipcaller.Config{To: "marks"})
	if err != nil {
		t.Fatal(err)
	}
	conn := env.StreamConn(t, "/marks")
	heap := env.Metrics(t).Get("go_memstats_heap_inuse_bytes")
	rss := env.RSS()
	select {
	case err := <-flooded:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the app could not send its marks in 60 s")
	}
	servetest.Eventually(t, 60*time.Second, "every mark past the pending bound answered", func() bool { return back.Load() >= marks-pending })
	grewHeap := env.Metrics(t).Get("go_memstats_heap_inuse_bytes") - heap
	grewRSS := env.RSS() - rss
	if err := conn.SendText(`{"event":"clear","streamSid":"x"}`); err != nil {
		t.Fatal(err)
	}
	servetest.Eventually(t, 10*time.Second, "the pending marks answered on clear", func() bool { return back.Load() == marks })
	t.Logf("%d marks: heap in use grew %.1f MB, RSS %.1f MB", marks, grewHeap/(1<<20), float64(grewRSS)/(1<<20))
	if grewHeap > 30<<20 || grewRSS > 30<<20 {
		t.Fatalf("heap in use grew %.0f MB, RSS %d MB: marks are not bounded", grewHeap/(1<<20), grewRSS>>20)
	}
	i := 0
	for _, m := range conn.Messages() {
		if !bytes.Contains(m.Data, []byte(`"event":"mark"`)) {
			continue
		}
		ev, err := m.Parse()
		if err != nil || ev.Mark == nil || ev.Mark.Name != "m"+strconv.Itoa(i) {
			t.Fatalf("mark %d came back as %s", i, m.Data)
		}
		i++
	}
	if got := env.Refusals(t, "pending_marks"); got != marks-pending {
		t.Fatalf("refusals{pending_marks} = %v, want %d", got, marks-pending)
	}
	if got := env.Refusals(t, "control_queue"); got != 0 {
		t.Fatalf("refusals{control_queue} = %v: answers were dropped", got)
	}
	env.WaitLog(t, "WARN", "too many marks pending", map[string]string{"max_pending_marks": "1000"})
	b.Check(t)
	if err := call.Hangup(servetest.Context(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	env.Settled(t, base, 10*time.Second)
}

// floodMarks is the mark-flooding app: 10 s of audio, then n marks as fast
// as the gateway reads them.
func floodMarks(c *wsapp.Conn, n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.WaitFor(ctx, 2); err != nil {
		return err
	}
	ev, err := c.Messages()[0].Parse()
	if err != nil {
		return err
	}
	if err := c.SendJSON(map[string]any{"event": "media", "streamSid": ev.StreamSid,
		"media": map[string]string{"payload": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xFF}, 8000*10))}}); err != nil {
		return err
	}
	for i := range n {
		if err := c.SendText(`{"event":"mark","streamSid":"` + ev.StreamSid + `","mark":{"name":"m` + strconv.Itoa(i) + `"}}`); err != nil {
			return fmt.Errorf("mark %d: %w", i, err)
		}
	}
	return nil
}

// A stream whose app goes away without a close frame is reconnected when
// the app is back on the same address 1.5 s later: the new connection
// gets connected and start with the same ids and parameters, chunks go on,
// and the media of both connections hold everything the caller said. On a
// <Connect> stream the app's audio queued before the drop plays on. With
// --stream-reconnect 0 the stream ends at the drop.
func TestStreamReconnect(t *testing.T) {
	for _, tc := range []struct {
		name, dialect, doc string
		bidi               bool
	}{
		{"carrierx start", "carrierx", `<Start><Stream url="{{.URL}}" statusCallback="{{.Status}}"><Parameter name="k" value="v"/></Stream></Start><Pause length="60"/>`, false},
		{"twilio connect", "twilio", `<Connect><Stream url="{{.URL}}" statusCallback="{{.Status}}"><Parameter name="k" value="v"/></Stream></Connect><Hangup/>`, true},
	} {
		t.Run(tc.name, func(t *testing.T) { testReconnect(t, tc.dialect, tc.doc, tc.bidi) })
	}
	t.Run("off", testReconnectOff)
}

// appAway is a stream's app that can go away and come back on its address.
type appAway struct {
	srv  *wsapp.Server
	addr string
}

func newAppAway(t *testing.T, opts wsapp.Options) *appAway {
	t.Helper()
	srv, err := wsapp.Listen(opts)
	if err != nil {
		t.Fatal(err)
	}
	a := &appAway{srv: srv, addr: srv.Addr()}
	t.Cleanup(func() { a.srv.Close() })
	return a
}

// kill stops listening, then drops every connection without a close
// frame (Server.Close, in that order: a gateway reconnecting at once, as
// it does, must find the app gone rather than land on the old listener).
func (a *appAway) kill() {
	a.srv.Close()
}

// restart listens again on the same address.
func (a *appAway) restart(t *testing.T, opts wsapp.Options) {
	t.Helper()
	opts.Addr = a.addr
	srv, err := wsapp.Listen(opts)
	if err != nil {
		t.Fatal(err)
	}
	a.srv = srv
}

func (a *appAway) url(path string) string { return "ws://" + a.addr + path }

func testReconnect(t *testing.T, dialect, doc string, bidi bool) {
	speech := assets.Speech()
	prompt := gatewaytest.PromptULaw(t)
	playOnce := wsapp.Options{Handler: func(c *wsapp.Conn) {
		if bidi && c.WaitFor(servetest.Context(t, 10*time.Second), 2) == nil {
			_ = c.SendMedia(prompt) // 1.5 s for the caller, queued at once
		}
	}}
	app := newAppAway(t, playOnce)
	env := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{Args: []string{"--stream-dialect", dialect}}})
	env.App.Doc("/status", "ok")
	fill := strings.NewReplacer("{{.URL}}", app.url("/live"), "{{.Status}}", env.App.URL("/status"))
	env.App.DocTo("/app", "reconnect", "<Response>"+fill.Replace(doc)+"</Response>")
	base := env.Baseline(t)
	b := env.Bystander(t)
	call, err := env.Dial(t, sipcaller.Config{To: "reconnect"})
	if err != nil {
		t.Fatal(err)
	}
	first := servetest.ConnTo(t, app.srv, "/live")
	sent := make(chan error, 1)
	go func() { sent <- call.SendAudio(servetest.Context(t, 20*time.Second), speech) }()
	if err := first.WaitFor(servetest.Context(t, 10*time.Second), 2+40); err != nil {
		t.Fatal(err)
	}
	app.kill()
	time.Sleep(1500 * time.Millisecond) // the app is away: it restarts 1.5 s later
	app.restart(t, wsapp.Options{})
	second := servetest.ConnTo(t, app.srv, "/live")
	if err := <-sent; err != nil {
		t.Fatalf("caller: %v", err)
	}
	// The caller's last frames reach the app, then the call ends.
	servetest.Eventually(t, 5*time.Second, "the caller's audio on the new connection", func() bool {
		return bytes.Contains(unionAudio(t, first, second), speech[len(speech)-1600:])
	})
	if err := call.Hangup(servetest.Context(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, second, 10*time.Second)

	old, now := events(t, first), events(t, second)
	if now[0].msg.Event != "connected" || now[1].msg.Event != "start" || now[len(now)-1].msg.Event != "stop" {
		t.Fatalf("new connection: %s, %s ... %s", now[0].msg.Event, now[1].msg.Event, now[len(now)-1].msg.Event)
	}
	if string(now[0].raw) != string(old[0].raw) {
		t.Fatalf("connected differs:\n%s\n%s", old[0].raw, now[0].raw)
	}
	// The same start, but for its sequence number.
	if a, b := startOf(t, old[1]), startOf(t, now[1]); a != b || !strings.Contains(a, `"k":"v"`) {
		t.Fatalf("start differs:\n%s\n%s", a, b)
	}
	if seq(t, now[1]) <= seq(t, old[len(old)-1]) {
		t.Fatalf("sequence numbers start over: %d after %d", seq(t, now[1]), seq(t, old[len(old)-1]))
	}
	lastOld, firstNew := chunks(t, old), chunks(t, now)
	if len(firstNew) == 0 || firstNew[0] > lastOld[len(lastOld)-1]+1 {
		t.Fatalf("chunks on the new connection start at %v after %d", firstNew[:1], lastOld[len(lastOld)-1])
	}
	for i := 1; i < len(firstNew); i++ {
		if firstNew[i] != firstNew[i-1]+1 {
			t.Fatalf("new connection: chunk %d after %d", firstNew[i], firstNew[i-1])
		}
	}
	if !bytes.Contains(unionAudio(t, first, second), speech) {
		t.Fatal("the caller's audio across the outage is not whole")
	}
	if bidi {
		heard := call.Heard()
		if !bytes.Contains(heard, prompt) {
			t.Fatal("the app's audio queued before the drop did not play on")
		}
	}
	env.WaitLog(t, "WARN", "stream reconnecting", map[string]string{"url": app.url("/live")})
	rec := env.WaitLog(t, "INFO", "stream reconnected", map[string]string{"attempts": "", "outage_ms": ""})
	t.Logf("reconnected after %v attempts, %v ms without the app, %v frames queued", rec["attempts"], rec["outage_ms"], rec["queued_frames"])
	env.WaitLog(t, "INFO", "stream ended", map[string]string{"reconnects": "1", "reconnect_failed": "false"})
	servetest.Eventually(t, 5*time.Second, "stream-started then stream-stopped, nothing between", func() bool {
		return strings.Join(statusEvents(env, "/status"), ",") == "stream-started,stream-stopped"
	})
	env.Survived(t, b, base, 10*time.Second)
}

// testReconnectOff: with --stream-reconnect 0 a drop ends the stream as an
// app failure; the <Connect> returns and the document goes on (here to
// its end: the caller gets a BYE).
func testReconnectOff(t *testing.T) {
	app := newAppAway(t, wsapp.Options{})
	env := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{Args: []string{"--stream-reconnect", "0"}}})
	env.App.DocTo("/app", "reconnect", `<Response><Connect><Stream url="`+app.url("/live")+`"/></Connect><Hangup/></Response>`)
	base := env.Baseline(t)
	call, err := env.Dial(t, sipcaller.Config{To: "reconnect"})
	if err != nil {
		t.Fatal(err)
	}
	first := servetest.ConnTo(t, app.srv, "/live")
	if err := first.WaitFor(servetest.Context(t, 10*time.Second), 2); err != nil {
		t.Fatal(err)
	}
	app.kill()
	app.restart(t, wsapp.Options{})
	select {
	case <-call.Ended():
	case <-time.After(10 * time.Second):
		t.Fatal("the document did not go on after the stream dropped")
	}
	if n := len(app.srv.Conns()); n != 0 {
		t.Fatalf("%d connections after the drop with --stream-reconnect 0", n)
	}
	env.WaitLog(t, "INFO", "stream ended", map[string]string{"reconnects": "0"})
	if env.Logs.Find("", "stream reconnecting", nil) != nil {
		t.Fatal("reconnecting with --stream-reconnect 0")
	}
	env.Settled(t, base, 10*time.Second)
}

// event is a stream message with its raw bytes.
type event struct {
	msg wsapp.Event
	raw []byte
}

func events(t *testing.T, c *wsapp.Conn) []event {
	t.Helper()
	var out []event
	for _, m := range c.Messages() {
		e, err := m.Parse()
		if err != nil {
			t.Fatalf("message %q: %v", m.Data, err)
		}
		out = append(out, event{msg: e, raw: m.Data})
	}
	return out
}

// number reads a JSON number or a string holding one (the Twilio dialect
// quotes them).
func number(t *testing.T, raw json.RawMessage) int {
	t.Helper()
	n, err := strconv.Atoi(strings.Trim(string(raw), `"`))
	if err != nil {
		t.Fatalf("number %s: %v", raw, err)
	}
	return n
}

func seq(t *testing.T, e event) int { return number(t, e.msg.SequenceNumber) }

// startOf returns the start message's start object.
func startOf(t *testing.T, e event) string {
	t.Helper()
	if e.msg.Event != "start" {
		t.Fatalf("%s, want start", e.raw)
	}
	return string(e.msg.Start)
}

func chunks(t *testing.T, es []event) []int {
	var out []int
	for _, e := range es {
		if e.msg.Event == "media" {
			out = append(out, number(t, e.msg.Media.Chunk))
		}
	}
	return out
}

// unionAudio returns the inbound audio of both connections, by chunk: a
// chunk sent on both is the same audio (the test checks it).
func unionAudio(t *testing.T, conns ...*wsapp.Conn) []byte {
	t.Helper()
	byChunk := map[int][]byte{}
	for _, c := range conns {
		for _, e := range events(t, c) {
			if e.msg.Event != "media" {
				continue
			}
			p, err := e.msg.Payload()
			if err != nil {
				t.Fatal(err)
			}
			k := number(t, e.msg.Media.Chunk)
			if prev, ok := byChunk[k]; ok && !bytes.Equal(prev, p) {
				t.Fatalf("chunk %d sent twice with different audio", k)
			}
			byChunk[k] = p
		}
	}
	keys := make([]int, 0, len(byChunk))
	for k := range byChunk {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []byte
	for i, k := range keys {
		if i > 0 && k != keys[i-1]+1 {
			t.Fatalf("chunks %d to %d missing", keys[i-1]+1, k-1)
		}
		out = append(out, byChunk[k]...)
	}
	return out
}

// checkHugeMessageRefused checks what one WebSocket message of size bytes
// cost the gateway: its peak RSS grew by 50 MB at most since it was hwm,
// and the message was counted once as ws_message_size.
func checkHugeMessageRefused(t *testing.T, env *servetest.Env, hwm, size int64) {
	t.Helper()
	grew := env.HWM() - hwm
	servetest.Figure(t, fmt.Sprintf("peak RSS growth with a %d MB WebSocket message", size>>20), fmt.Sprintf("%.1f", float64(grew)/(1<<20)), "MB")
	if grew > 50<<20 {
		t.Fatalf("peak RSS grew by %d MB with a %d MB message", grew>>20, size>>20)
	}
	if got := env.Refusals(t, "ws_message_size"); got != 1 {
		t.Fatalf("refusals{ws_message_size} = %v, want 1", got)
	}
}
