package scenario

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/pacetest"
	"github.com/callstream/callstream/internal/wsapp"
)

// remote sends the Voximplant media messages a remote server sends.
type remote struct{ c *wsapp.Conn }

func (r remote) start(t testing.TB, tag, enc string, rate int, params any) {
	t.Helper()
	msg := map[string]any{"event": "start", "sequenceNumber": 0, "start": map[string]any{
		"tag": tag, "mediaFormat": map[string]any{"encoding": enc, "sampleRate": rate}, "customParameters": params}}
	if err := r.c.SendJSON(msg); err != nil {
		t.Fatal(err)
	}
}

func (r remote) media(t testing.TB, tag string, chunk int, payload []byte) {
	t.Helper()
	msg := map[string]any{"event": "media", "sequenceNumber": chunk, "media": map[string]any{
		"tag": tag, "chunk": chunk, "timestamp": fmt.Sprint(chunk * 160), "payload": base64.StdEncoding.EncodeToString(payload)}}
	if err := r.c.SendJSON(msg); err != nil {
		t.Fatal(err)
	}
}

func (r remote) stop(t testing.TB, tag string) {
	t.Helper()
	if err := r.c.SendJSON(map[string]any{"event": "stop", "stop": map[string]any{"tag": tag}}); err != nil {
		t.Fatal(err)
	}
}

// waitGo waits until the script sent "go": it has bound its media.
func (r remote) waitGo(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := r.c.WaitUntil(ctx, `"go"`, func(msgs []wsapp.Message) bool {
		for _, m := range msgs {
			if string(m.Data) == "go" {
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Errorf("the script never sent go: %v", err)
	}
}

// sendChunks sends payload in chunks of size bytes, as fast as possible.
func (r remote) sendChunks(t testing.TB, tag string, payload []byte, size int) {
	t.Helper()
	for i := 0; len(payload) > 0; i++ {
		n := min(size, len(payload))
		r.media(t, tag, i+1, payload[:n])
		payload = payload[n:]
	}
}

// tone makes n samples of a sine at f Hz.
func tone(n, rate int, f, amp float64) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(amp * math.Sin(2*math.Pi*f*float64(i)/float64(rate)))
	}
	return out
}

// power returns the power of x at f Hz (a single DFT bin, normalised).
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

// total returns the mean power of x.
func total(x []int16) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return s / float64(len(x)) / 2
}

// clip returns a µ-law test clip of n bytes with no silence (0xFF) in it.
func clip(n int) []byte {
	pcm := tone(n, 8000, 440, 8000)
	for i := range pcm {
		pcm[i] += int16(1000 * math.Sin(float64(i)*0.37))
	}
	b := media.EncodeULaw(nil, pcm)
	for i := range b {
		if b[i] == 0xFF || b[i] == 0x7F {
			b[i] = 0xFE
		}
	}
	return b
}

// gwMessage is a message the gateway sent to a remote.
type gwMessage struct {
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
	At time.Time `json:"-"`
}

// gwMessages parses what a remote received.
func gwMessages(t testing.TB, c *wsapp.Conn) []gwMessage {
	t.Helper()
	out, err := parseGW(c.Messages())
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// parseGW parses msgs as the gateway's messages to a remote.
func parseGW(msgs []wsapp.Message) ([]gwMessage, error) {
	var out []gwMessage
	for _, m := range msgs {
		var g gwMessage
		if err := json.Unmarshal(m.Data, &g); err != nil {
			return out, fmt.Errorf("message %q: %w", m.Data, err)
		}
		g.At = m.At
		out = append(out, g)
	}
	return out, nil
}

// waitGW waits until what the remote received satisfies cond, and returns
// it; a message that does not parse fails the test at once.
func waitGW(t testing.TB, c *wsapp.Conn, d time.Duration, what string, cond func(msgs []gwMessage) bool) []gwMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	err := c.WaitUntil(ctx, what, func(msgs []wsapp.Message) bool {
		gs, err := parseGW(msgs)
		return err != nil || cond(gs)
	})
	if err != nil {
		t.Fatalf("the remote: %v", err)
	}
	return gwMessages(t, c)
}

// waitEvent waits until the remote received a message with the event.
func waitEvent(t testing.TB, c *wsapp.Conn, event string, d time.Duration) []gwMessage {
	t.Helper()
	return waitGW(t, c, d, fmt.Sprintf("%q message", event), func(msgs []gwMessage) bool {
		for _, m := range msgs {
			if m.Event == event {
				return true
			}
		}
		return false
	})
}

// TestWebSocketLifecycle checks both constructors, url, id, instanceof,
// the event order (CREATED, OPEN, MESSAGE, CLOSE), on* before listeners,
// readyState at each step, send, and a close with a code and reason.
func TestWebSocketLifecycle(t *testing.T) {
	t.Parallel()
	ws := newWSApp(t, func(c *wsapp.Conn) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if c.WaitFor(ctx, 1) == nil && string(c.Messages()[0].Data) == "hello" {
			_ = c.SendText("hi there")
			_ = c.SendText("bye?")
		}
	})
	e := newEnv(t, `
var log = function (s) { Logger.write(s); };
VoxEngine.addEventListener(AppEvents.Started, function () {
  var base = VoxEngine.customData();
  var ws = new WebSocket(base + '/a', 'proto-a');
  log('new ' + (ws instanceof WebSocket) + ' ' + (ws.url === base + '/a') + ' ' + ws.readyState + ' ' + typeof ws.id());
  ws.onopen = function (e) { log('onopen ' + ws.readyState + ' ' + (e.websocket === ws) + ' ' + e.name); };
  ws.addEventListener(WebSocketEvents.CREATED, function (e) { log('created ' + ws.readyState); });
  ws.addEventListener(WebSocketEvents.OPEN, function () { log('open listener'); ws.send('hello'); });
  ws.onmessage = function (e) { log('onmessage ' + e.text + '|' + e.data); };
  ws.addEventListener(WebSocketEvents.MESSAGE, function (e) {
    log('listener ' + e.text);
    if (e.text === 'bye?') {
      ws.close(WebSocketCloseCode.CLOSE_GOING_AWAY, 'done');
      log('closing ' + ws.readyState);
      ws.close(1000);
    }
  });
  ws.onclose = function (e) { log('onclose ' + e.code + ' ' + e.reason + ' ' + e.wasClean + ' ' + ws.readyState + ' ' + (e.websocket === ws)); };
  ws.onerror = function () { log('onerror'); };
  var dropped = function () { log('removed listener ran'); };
  ws.addEventListener(WebSocketEvents.MESSAGE, dropped);
  ws.removeEventListener(WebSocketEvents.MESSAGE, dropped);
  ws.addEventListener(WebSocketEvents.CLOSE, dropped);
  ws.addEventListener(WebSocketEvents.CLOSE, dropped);
  ws.removeEventListener(WebSocketEvents.CLOSE);
  ws.addEventListener(WebSocketEvents.CLOSE, function () { log('close listener'); });

  var ws2 = VoxEngine.createWebSocket(base + '/b', {protocols: ['p1', 'p2'], headers: [{name: 'X-Auth', value: 'secret'}]});
  log('ws2 create ' + (ws2 instanceof WebSocket) + ' ' + ws2.readyState + ' ' + (ws2.id() !== ws.id()));
  ws2.addEventListener(WebSocketEvents.OPEN, function () { ws2.close(); });
  ws2.addEventListener(WebSocketEvents.CLOSE, function (e) { log('ws2 close ' + e.code + ' ' + e.wasClean); });
  // The constructor's other forms: no protocols (the default, 'chat'), an array.
  var ws3 = new WebSocket(base + '/c');
  ws3.onopen = function () { ws3.close(); };
  var ws4 = new WebSocket(base + '/d', ['x1', 'x2']);
  ws4.onopen = function () { ws4.close(); };
});`, nil)
	info := e.start(t, ws.URL(""))
	e.logs.waitText(t, 5*time.Second, "close listener")
	e.logs.waitText(t, 5*time.Second, "ws2 close *")
	var got []string
	for _, s := range e.logs.texts(info.ID) {
		if !strings.HasPrefix(s, "ws2") {
			got = append(got, s)
		}
	}
	want := []string{
		"new true true connecting string",
		"created connecting",
		"onopen open true WebSocket.Open",
		"open listener",
		"onmessage hi there|hi there",
		"listener hi there",
		"onmessage bye?|bye?",
		"listener bye?",
		"closing closing",
		"onclose 1001 done true closed true",
		"close listener",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := e.logs.texts(info.ID); !contains(got, "ws2 create true connecting true") || !contains(got, "ws2 close 1000 true") {
		t.Errorf("ws2: %q", got)
	}
	a := ws.conn(t, "/a")
	<-a.Closed()
	if code, reason := a.CloseStatus(); code != 1001 || reason != "done" {
		t.Errorf("remote saw close %d %q", code, reason)
	}
	if msgs := a.Messages(); len(msgs) != 1 || string(msgs[0].Data) != "hello" {
		t.Errorf("remote got %v", msgs)
	}
	if p := a.Header.Get("Sec-WebSocket-Protocol"); p != "proto-a" {
		t.Errorf("protocols %q", p)
	}
	b := ws.conn(t, "/b")
	if p, h := b.Header.Get("Sec-WebSocket-Protocol"), b.Header.Get("X-Auth"); p != "p1, p2" || h != "secret" {
		t.Errorf("createWebSocket: protocols %q header %q", p, h)
	}
	if p := ws.conn(t, "/c").Header.Get("Sec-WebSocket-Protocol"); p != "chat" {
		t.Errorf("new WebSocket(url): protocols %q, want the default chat", p)
	}
	if p := ws.conn(t, "/d").Header.Get("Sec-WebSocket-Protocol"); p != "x1, x2" {
		t.Errorf("new WebSocket(url, [x1, x2]): protocols %q", p)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestWebSocketCloseCodes closes with every WebSocketCloseCode and checks
// what the remote sees and what CLOSE reports; then the remote closes
// with a code, and a connection that breaks.
func TestWebSocketCloseCodes(t *testing.T) {
	t.Parallel()
	ws := newWSApp(t, func(c *wsapp.Conn) {
		switch c.Path {
		case "/remote-close":
			time.Sleep(50 * time.Millisecond)
			_ = c.Close(4001, "custom")
		case "/remote-abort":
			time.Sleep(50 * time.Millisecond)
			c.Abort()
		}
	})
	e := newEnv(t, `
VoxEngine.addEventListener(AppEvents.Started, function () {
  var base = VoxEngine.customData();
  Object.keys(WebSocketCloseCode).forEach(function (name) {
    var code = WebSocketCloseCode[name];
    var ws = new WebSocket(base + '/close/' + code);
    ws.onopen = function () { ws.close(code, 'r' + code); };
    ws.onclose = function (e) { Logger.write('close ' + code + ' ' + e.code + ' ' + e.reason + ' ' + e.wasClean); };
  });
  ['/remote-close', '/remote-abort'].forEach(function (p) {
    var ws = new WebSocket(base + p);
    ws.onerror = function () { Logger.write(p + ' error ' + ws.readyState); };
    ws.onclose = function (e) { Logger.write(p + ' ' + e.code + ' ' + e.reason + ' ' + e.wasClean + ' ' + ws.readyState); };
  });
});`, nil)
	info := e.start(t, ws.URL(""))
	codes := []int{1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 1015}
	for _, code := range codes {
		line := e.logs.waitText(t, 5*time.Second, fmt.Sprintf("close %d *", code))
		c := ws.conn(t, fmt.Sprintf("/close/%d", code))
		<-c.Closed()
		gotCode, gotReason := c.CloseStatus()
		wantCode, wantReason := code, fmt.Sprintf("r%d", code)
		if code == 1005 || code == 1006 || code == 1015 {
			// Codes that may not be sent in a close frame go without a status.
			wantCode, wantReason = 1005, ""
		}
		if code == 1014 {
			// gorilla/websocket (the remote here) does not accept 1014 in a
			// close frame: it answers 1002 naming the code it received.
			if want := "close 1014 1002 bad close code 1014 true"; line != want {
				t.Errorf("CLOSE event %q, want %q", line, want)
			}
			continue
		}
		if gotCode != wantCode || gotReason != wantReason {
			t.Errorf("close(%d): the remote saw %d %q, want %d %q", code, gotCode, gotReason, wantCode, wantReason)
		}
		if want := fmt.Sprintf("close %d %d r%d true", code, wantCode, code); line != want {
			t.Errorf("CLOSE event %q, want %q", line, want)
		}
	}
	e.logs.waitText(t, 5*time.Second, "/remote-close 4001 custom true closed")
	e.logs.waitText(t, 5*time.Second, "/remote-abort 1006 *")
	got := e.logs.texts(info.ID)
	i := indexOf(got, "/remote-abort error closed")
	j := -1
	for k, s := range got {
		if strings.HasPrefix(s, "/remote-abort 1006 ") && strings.HasSuffix(s, " false closed") {
			j = k
		}
	}
	if i < 0 || j < 0 || i > j {
		t.Errorf("abort: want ERROR then CLOSE 1006 wasClean=false: %q", got)
	}
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

// TestWebSocketErrors checks that send on a socket that is not open and a
// failed connection raise ERROR, never a crash, and that CLOSE follows.
func TestWebSocketErrors(t *testing.T) {
	t.Parallel()
	ws := newWSApp(t, nil)
	e := newEnv(t, `
VoxEngine.addEventListener(AppEvents.Started, function () {
  var base = VoxEngine.customData();
  var ws = new WebSocket(base + '/x');
  ws.onerror = function (e) { Logger.write('error ' + ws.readyState + ' ' + (e.websocket === ws)); };
  ws.send('too early');
  ws.onopen = function () { ws.close(); ws.send('too late'); };
  ws.onclose = function () {
    ws.send('after close');
    var bad = new WebSocket('ws://127.0.0.1:1/refused');
    bad.onerror = function () { Logger.write('bad error ' + bad.readyState); };
    var closed = 0;
    function done() { if (++closed === 2) VoxEngine.terminate(); }
    bad.onclose = function (e) { Logger.write('bad close ' + e.code + ' ' + e.wasClean + ' ' + bad.readyState); done(); };
    var junk = new WebSocket('not a url');
    junk.onclose = function (e) { Logger.write('junk close ' + e.code); done(); };
  };
});`, nil)
	info := e.start(t, ws.URL(""))
	e.waitEnded(t, info.ID, 10*time.Second)
	got := e.logs.texts(info.ID)
	var filtered []string
	for _, s := range got {
		if !strings.HasPrefix(s, "junk") {
			filtered = append(filtered, s)
		}
	}
	// ERROR is dispatched on the loop after send returns: readyState is
	// what it is then (the close may have completed).
	ok := len(filtered) == 5 && filtered[0] == "error connecting true" &&
		(filtered[1] == "error closing true" || filtered[1] == "error closed true") && filtered[2] == "error closed true" &&
		filtered[3] == "bad error closed" && filtered[4] == "bad close 1006 false closed"
	if !ok || !contains(got, "junk close 1006") {
		t.Fatalf("got %q", got)
	}
	if msgs := ws.conn(t, "/x").Messages(); len(msgs) != 0 {
		t.Errorf("remote got %d messages", len(msgs))
	}
	if r := e.logs.find(func(r record) bool { return r["level"] == "ERROR" }); r != nil {
		t.Errorf("error logged: %v", r)
	}
}

// TestIncomingWebSockets checks allowWebSocketConnections, AppEvents.WebSocket
// and its payload, the socket's url and readyState, the calls + 3 limit with
// NewWebSocketFailed, and refusal when not allowed.
func TestIncomingWebSockets(t *testing.T) {
	t.Parallel()
	e := newEnv(t, `
VoxEngine.addEventListener(AppEvents.Started, function (e) {
  if (VoxEngine.customData() === 'allow') VoxEngine.allowWebSocketConnections();
});
VoxEngine.addEventListener(AppEvents.WebSocket, function (e) {
  var h = e.headers.filter(function (x) { return x.key === 'X-Client'; })[0];
  var ws = e.websocket;
  Logger.write('incoming ' + e.method + ' ' + e.path + ' ' + h.value + ' ' + ws.readyState + ' ' + ws.url + ' ' + (ws instanceof WebSocket));
  ws.addEventListener(WebSocketEvents.MESSAGE, function (m) { ws.send('echo ' + m.text); });
  ws.addEventListener(WebSocketEvents.CLOSE, function (c) { Logger.write('closed ' + c.code); });
});
VoxEngine.addEventListener(AppEvents.NewWebSocketFailed, function (e) { Logger.write('failed ' + e.reason); });
`, nil)
	info := e.start(t, "allow")
	if !strings.HasPrefix(info.WebSocketURL, "ws://") {
		t.Fatalf("ws url %q", info.WebSocketURL)
	}
	h := http.Header{"X-Client": {"c1"}}
	var conns []*websocket.Conn
	for i := range 3 {
		c, resp, err := websocket.DefaultDialer.Dial(info.WebSocketURL+fmt.Sprintf("/k%d", i), h)
		if err != nil {
			t.Fatalf("connection %d: %v (%v)", i, err, resp)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	_, resp, err := websocket.DefaultDialer.Dial(info.WebSocketURL, h)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("4th connection: err %v resp %v", err, resp)
	}
	e.logs.waitText(t, 5*time.Second, "failed too many incoming websockets: at most 3 (calls in the session + 3)")
	path := strings.TrimPrefix(info.WebSocketURL, "ws://"+e.srv.Listener.Addr().String())
	e.logs.waitText(t, 5*time.Second, "incoming GET "+path+"/k2 c1 open "+info.WebSocketURL+" true")
	if err := conns[1].WriteMessage(websocket.TextMessage, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	_ = conns[1].SetReadDeadline(time.Now().Add(5 * time.Second))
	_, msg, err := conns[1].ReadMessage()
	if err != nil || string(msg) != "echo ping" {
		t.Fatalf("read %q %v", msg, err)
	}
	// Closing one makes room for another.
	_ = conns[0].WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4000, ""), time.Now().Add(time.Second))
	e.logs.waitText(t, 5*time.Second, "closed 4000")
	c, _, err := websocket.DefaultDialer.Dial(info.WebSocketURL, h)
	if err != nil {
		t.Fatalf("after a close: %v", err)
	}
	c.Close()

	// A session that did not allow incoming sockets refuses them.
	closed := e.start(t, "deny")
	_, resp, err = websocket.DefaultDialer.Dial(closed.WebSocketURL, nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("not allowed: err %v resp %v", err, resp)
	}
}

// mediaScript binds the remote's stream to a recorder, reports MEDIA
// events and stops the recorder when the stream ends.
const mediaScript = `
VoxEngine.addEventListener(AppEvents.Started, function () {
  var cfg = JSON.parse(VoxEngine.customData());
  var ws = VoxEngine.createWebSocket(cfg.url);
  var rec = VoxEngine.createRecorder();
  var opts = {tag: cfg.tag};
  if (cfg.encoding) opts.encoding = cfg.encoding;
  ws.sendMediaTo(rec, opts);
  ws.onmediastarted = function (e) {
    Logger.write('started ' + e.tag + ' ' + e.encoding + ' ' + JSON.stringify(e.customParameters) + ' ' + (e.websocket === ws));
  };
  ws.addEventListener(WebSocketEvents.MEDIA_ENDED, function (e) {
    Logger.write('ended ' + e.tag + ' ' + e.mediaInfo.duration);
    rec.stop();
  });
  ws.onerror = function () { Logger.write('error'); };
  ws.onopen = function () { ws.send('go'); };
  rec.addEventListener(RecorderEvents.Stopped, function (e) { Logger.write('recorded ' + e.url); });
});`

// record fetches a recording and returns its µ-law audio.
func fetchRecording(t testing.TB, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
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

// trimSilence drops leading and trailing µ-law silence.
func trimSilence(b []byte) []byte {
	return bytes.TrimRight(bytes.TrimLeft(b, "\xff"), "\xff")
}

// TestRemoteMediaEncodings sends the remote's audio in every encoding
// (chunks of odd sizes, faster than real time) into a recorder and checks
// MEDIA_STARTED, MEDIA_ENDED and the exact audio recorded.
func TestRemoteMediaEncodings(t *testing.T) {
	t.Parallel()
	ulaw := clip(4000) // 0.5 s
	alaw := make([]byte, len(ulaw))
	media.TranscodeULawToALaw(alaw, ulaw)
	viaALaw := make([]byte, len(alaw))
	media.TranscodeALawToULaw(viaALaw, alaw)
	pcm8 := media.SamplesToPCM16LE(nil, media.DecodeULaw(nil, ulaw))
	tests := []struct {
		enc   string
		rate  int
		data  []byte
		chunk int
		want  []byte
	}{
		{"ULAW", 8000, ulaw, 333, ulaw},
		{"ALAW", 8000, alaw, 160, viaALaw},
		{"PCM8", 8000, pcm8, 777, ulaw}, // odd chunks split samples
		{"PCM16_8KHZ", 8000, pcm8, 320, ulaw},
		{"audio/x-mulaw", 8000, ulaw, 1000, ulaw},
	}
	for _, tc := range tests {
		t.Run(tc.enc, func(t *testing.T) {
			t.Parallel()
			ws := newWSApp(t, func(c *wsapp.Conn) {
				r := remote{c}
				r.waitGo(t)
				r.start(t, "t1", tc.enc, tc.rate, map[string]string{"k": "v"})
				r.sendChunks(t, "t1", tc.data, tc.chunk)
				r.stop(t, "t1")
			})
			e := newEnv(t, mediaScript, nil)
			cfg, _ := json.Marshal(map[string]string{"url": ws.URL("/m"), "tag": "t1"})
			info := e.start(t, string(cfg))
			url := strings.TrimPrefix(e.logs.waitText(t, 5*time.Second, "recorded *"), "recorded ")
			got := e.logs.texts(info.ID)
			canon := map[string]string{"PCM16_8KHZ": "PCM8", "audio/x-mulaw": "ULAW"}[tc.enc]
			if canon == "" {
				canon = tc.enc
			}
			if want := fmt.Sprintf(`started t1 %s {"k":"v"} true`, canon); got[0] != want {
				t.Errorf("got %q, want %q", got[0], want)
			}
			if want := "ended t1 500"; got[1] != want {
				t.Errorf("got %q, want %q", got[1], want)
			}
			rec := trimSilence(fetchRecording(t, url))
			if !bytes.Equal(rec, trimSilence(tc.want)) {
				t.Errorf("recorded %d bytes, want %d; equal prefix %d", len(rec), len(tc.want), commonPrefix(rec, tc.want))
			}
		})
	}
}

func commonPrefix(a, b []byte) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// TestRemoteMediaPCM16 sends a 1 kHz tone as PCM16 at 16 kHz: what is
// recorded at 8 kHz is the tone, with nothing left of the images a plain
// decimation would fold back.
func TestRemoteMediaPCM16(t *testing.T) {
	t.Parallel()
	// 1 kHz plus 5.3 kHz: the 5.3 kHz part must be filtered out (it would
	// alias to 2.7 kHz without a low-pass).
	x := tone(8000, 16000, 1000, 6000)
	y := tone(8000, 16000, 5300, 6000)
	for i := range x {
		x[i] += y[i]
	}
	data := media.SamplesToPCM16LE(nil, x)
	ws := newWSApp(t, func(c *wsapp.Conn) {
		r := remote{c}
		r.waitGo(t)
		r.start(t, "", "PCM16", 16000, nil)
		r.sendChunks(t, "", data, 640)
		r.stop(t, "")
	})
	e := newEnv(t, mediaScript, nil)
	cfg, _ := json.Marshal(map[string]string{"url": ws.URL("/m"), "encoding": "PCM16_16KHZ"})
	e.start(t, string(cfg))
	url := strings.TrimPrefix(e.logs.waitText(t, 5*time.Second, "recorded *"), "recorded ")
	e.logs.waitText(t, time.Second, `started  PCM16 {} true`)
	rec := media.DecodeULaw(nil, trimSilence(fetchRecording(t, url)))
	if len(rec) < 3900 || len(rec) > 4100 {
		t.Fatalf("recorded %d samples, want about 4000", len(rec))
	}
	mid := rec[400:3600]
	p1, p3, all := power(mid, 8000, 1000), power(mid, 8000, 2700), total(mid)
	if p1/all < 0.97 {
		t.Errorf("1 kHz holds %.3f of the power, want > 0.97", p1/all)
	}
	if db := 10 * math.Log10(p3/p1); db > -60 {
		t.Errorf("5.3 kHz aliased to 2.7 kHz at %.1f dB, want < -60 dB", db)
	}
}

// TestRemoteMediaRefused checks that a start whose sample rate does not
// match its encoding, an unknown encoding, OPUS without the build tag and
// a start that contradicts the encoding the script asked for are refused
// with ERROR and no MEDIA_STARTED, and that a valid start then works.
func TestRemoteMediaRefused(t *testing.T) {
	t.Parallel()
	ws := newWSApp(t, func(c *wsapp.Conn) {
		r := remote{c}
		r.waitGo(t)
		r.start(t, "t1", "PCM16", 8000, nil) // the field report: refused
		r.start(t, "t1", "MP3", 8000, nil)
		r.start(t, "t1", "OPUS", 48000, nil)
		r.start(t, "t1", "ULAW", 8000, nil) // the script asked for PCM16 on t1
		r.start(t, "t2", "PCM8", 8000, nil)
		r.media(t, "t2", 1, make([]byte, 320))
		r.media(t, "t3", 1, make([]byte, 160)) // no start: dropped
		r.stop(t, "t2")
		_ = c.SendText(`{"event":"media","media":{"tag":"t2"}}`) // broken media message
	})
	e := newEnv(t, `
VoxEngine.addEventListener(AppEvents.Started, function () {
  var ws = VoxEngine.createWebSocket(VoxEngine.customData());
  var rec = VoxEngine.createRecorder();
  ws.sendMediaTo(rec, {tag: 't1', encoding: WebSocketAudioEncoding.PCM16});
  ws.onmediastarted = function (e) { Logger.write('started ' + e.tag + ' ' + e.encoding); };
  ws.onmediaended = function (e) { Logger.write('ended ' + e.tag); };
  ws.onerror = function () { Logger.write('error'); };
  ws.onmessage = function (e) { Logger.write('message ' + e.text); };
  ws.onopen = function () { ws.send('go'); };
});`, nil)
	info := e.start(t, ws.URL("/m"))
	e.logs.waitText(t, 5*time.Second, "ended t2")
	time.Sleep(100 * time.Millisecond) // watch: nothing more may be logged
	got := e.logs.texts(info.ID)
	want := []string{"error", "error", "error", "error", "started t2 PCM8", "error", "ended t2"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	msgs := []string{"PCM16 is 16000 Hz, the start declares 8000 Hz", `"MP3"`, "the script asked for PCM16"}
	if !OpusSupported {
		msgs = append(msgs, "-tags opus")
	}
	for _, msg := range msgs {
		if r := e.logs.find(func(r record) bool { return strings.Contains(r.str("err"), msg) }); r == nil {
			t.Errorf("no log naming %q", msg)
		}
	}
}

// TestMediaEndedAfterSilence checks that MEDIA_ENDED fires one second
// after the remote's audio has stopped arriving and has been played.
func TestMediaEndedAfterSilence(t *testing.T) {
	t.Parallel()
	var sentAt time.Time
	var mu sync.Mutex
	ws := newWSApp(t, func(c *wsapp.Conn) {
		r := remote{c}
		r.waitGo(t)
		r.start(t, "t", "ULAW", 8000, nil)
		r.sendChunks(t, "t", clip(1600), 1600) // 200 ms, then nothing
		mu.Lock()
		sentAt = time.Now()
		mu.Unlock()
	})
	e := newEnv(t, mediaScript, nil)
	cfg, _ := json.Marshal(map[string]string{"url": ws.URL("/m"), "tag": "t"})
	e.start(t, string(cfg))
	r := e.logs.wait(t, 5*time.Second, "ended", func(r record) bool { return r.str("text") == "ended t 200" })
	_ = r
	mu.Lock()
	took := time.Since(sentAt)
	mu.Unlock()
	// 200 ms of audio plays, then 1 s of silence; checks run every 100 ms.
	if took < 1000*time.Millisecond || took > 1500*time.Millisecond {
		t.Errorf("MEDIA_ENDED %s after the last media, want 1 to 1.5 s", took)
	}
}

// TestRelayEncodings sends a remote's audio to another socket in every
// encoding and checks the wire format: start with tag, mediaFormat and
// customParameters, media every 20 ms with sequenceNumber, chunk and
// timestamp counting up, payload size and bytes, and stop with mediaInfo.
func TestRelayEncodings(t *testing.T) {
	t.Parallel()
	ulaw := clip(1600)
	tests := []struct {
		enc       string
		wire      string
		rate      int
		frameSize int
		spf       int
		encode    func(frame []byte) []byte
	}{
		{"ULAW", "ULAW", 8000, 160, 160, func(f []byte) []byte { return f }},
		{"ALAW", "ALAW", 8000, 160, 160, func(f []byte) []byte { b := make([]byte, len(f)); media.TranscodeULawToALaw(b, f); return b }},
		{"PCM8", "PCM8", 8000, 320, 160, func(f []byte) []byte { return media.SamplesToPCM16LE(nil, media.DecodeULaw(nil, f)) }},
		{"", "PCM8", 8000, 320, 160, func(f []byte) []byte { return media.SamplesToPCM16LE(nil, media.DecodeULaw(nil, f)) }},
		{"PCM16", "PCM16", 16000, 640, 320, nil},
	}
	for _, tc := range tests {
		t.Run("enc="+tc.wire+"/"+tc.enc, func(t *testing.T) {
			t.Parallel()
			ws := newWSApp(t, func(c *wsapp.Conn) {
				if c.Path != "/src" {
					return
				}
				r := remote{c}
				r.waitGo(t)
				r.start(t, "relay", "ULAW", 8000, nil)
				time.Sleep(100 * time.Millisecond)
				r.sendChunks(t, "relay", ulaw, 800)
			})
			e := newEnv(t, `
VoxEngine.addEventListener(AppEvents.Started, function () {
  var cfg = JSON.parse(VoxEngine.customData());
  var src = new WebSocket(cfg.base + '/src');
  var dst = new WebSocket(cfg.base + '/dst');
  var opts = {tag: 'relay', customParameters: {a: '1', b: 'two'}};
  if (cfg.enc) opts.encoding = cfg.enc;
  src.sendMediaTo(dst, opts);
  src.onopen = function () { src.send('go'); };
  src.onmediaended = function () { setTimeout(function () { src.stopMediaTo(dst); Logger.write('stopped'); }, 100); };
});`, nil)
			cfg, _ := json.Marshal(map[string]string{"base": ws.URL(""), "enc": tc.enc})
			e.start(t, string(cfg))
			e.logs.waitText(t, 5*time.Second, "stopped")
			dst := ws.conn(t, "/dst")
			msgs := waitEvent(t, dst, "stop", 5*time.Second)
			st := msgs[0].Start
			if msgs[0].Event != "start" || string(msgs[0].SequenceNumber) != "0" || st.Tag != "relay" ||
				st.MediaFormat.Encoding != tc.wire || st.MediaFormat.SampleRate != tc.rate ||
				!reflect.DeepEqual(st.CustomParameters, map[string]string{"a": "1", "b": "two"}) {
				t.Fatalf("start %+v", msgs[0])
			}
			var audio []byte
			var arrivals []time.Time
			var payloadBytes int
			frames := 0
			for i, m := range msgs[1:] {
				if string(m.SequenceNumber) != fmt.Sprint(i+1) {
					t.Fatalf("message %d sequenceNumber %s", i+1, m.SequenceNumber)
				}
				if m.Event == "stop" {
					if i != len(msgs)-2 || m.Stop.Tag != "relay" || string(m.Stop.MediaInfo.BytesSent) != fmt.Sprint(payloadBytes) ||
						string(m.Stop.MediaInfo.Duration) != fmt.Sprint(frames*20) {
						t.Fatalf("stop %+v after %d frames, %d bytes", m.Stop, frames, payloadBytes)
					}
					break
				}
				if m.Event != "media" || m.Media.Tag != "relay" {
					t.Fatalf("message %d: %+v", i+1, m)
				}
				frames++
				if string(m.Media.Chunk) != fmt.Sprint(frames) || string(m.Media.Timestamp) != fmt.Sprint((frames-1)*tc.spf) {
					t.Fatalf("media %d chunk %s timestamp %s", frames, m.Media.Chunk, m.Media.Timestamp)
				}
				p, _ := base64.StdEncoding.DecodeString(m.Media.Payload)
				if len(p) != tc.frameSize {
					t.Fatalf("payload of %d bytes, want %d", len(p), tc.frameSize)
				}
				payloadBytes += len(p)
				audio = append(audio, p...)
				arrivals = append(arrivals, m.At)
			}
			if err := pacetest.Check(arrivals, 20*time.Millisecond); err != nil {
				t.Error(err)
			}
			if tc.encode != nil {
				want := tc.encode(ulaw)
				if !bytes.Contains(audio, want) {
					t.Errorf("the clip is not in the %s stream", tc.wire)
				}
				return
			}
			// PCM16: 16 kHz of the upsampled clip: the clip's 440 Hz.
			pcm := media.PCM16LEToSamples(nil, audio)
			nz := 0
			for nz < len(pcm) && pcm[nz] == 0 {
				nz++
			}
			mid := pcm[nz+400 : nz+2800]
			if f := power(mid, 16000, 440) / total(mid); f < 0.9 {
				t.Errorf("440 Hz holds %.3f of the 16 kHz stream", f)
			}
			if img := 10 * math.Log10(power(mid, 16000, 7560)/power(mid, 16000, 440)); img > -40 {
				t.Errorf("image at 7560 Hz %.1f dB: not a proper low-pass", img)
			}
		})
	}
}

// TestClearMediaBuffer checks barge-in: after clearMediaBuffer({tag}) the
// unit fed by that tag hears silence from the next frame, though seconds
// were buffered, while another tag plays on.
func TestClearMediaBuffer(t *testing.T) {
	t.Parallel()
	bargeAt := make(chan time.Time, 1)
	ws := newWSApp(t, func(c *wsapp.Conn) {
		if c.Path != "/src" {
			return
		}
		r := remote{c}
		r.waitGo(t)
		r.start(t, "a", "ULAW", 8000, nil)
		r.start(t, "b", "ULAW", 8000, nil)
		r.sendChunks(t, "a", clip(40000), 1600) // 5 s at once
		r.sendChunks(t, "b", clip(40000), 1600)
		time.Sleep(500 * time.Millisecond)
		bargeAt <- time.Now()
		_ = c.SendText(`{"type":"barge_in"}`)
	})
	e := newEnv(t, `
VoxEngine.addEventListener(AppEvents.Started, function () {
  var base = VoxEngine.customData();
  var src = new WebSocket(base + '/src');
  src.sendMediaTo(new WebSocket(base + '/a'), {tag: 'a', encoding: 'ULAW'});
  src.sendMediaTo(new WebSocket(base + '/b'), {tag: 'b', encoding: 'ULAW'});
  src.onopen = function () { src.send('go'); };
  src.onmessage = function (e) {
    if (JSON.parse(e.text).type === 'barge_in') { src.clearMediaBuffer({tag: 'a'}); Logger.write('cleared'); }
  };
});`, nil)
	e.start(t, ws.URL(""))
	e.logs.waitText(t, 5*time.Second, "cleared")
	at := <-bargeAt
	count := func(msgs []gwMessage) (audible, after int) {
		for _, m := range msgs {
			if m.Event != "media" {
				continue
			}
			p, _ := base64.StdEncoding.DecodeString(m.Media.Payload)
			if bytes.Count(p, []byte{0xFF}) == len(p) {
				continue
			}
			audible++
			if m.At.After(at.Add(60 * time.Millisecond)) {
				after++
			}
		}
		return audible, after
	}
	// Tag b goes on for 10 frames past the barge-in: time enough for a
	// frame of tag a, had it not been cleared, to come.
	waitGW(t, ws.conn(t, "/b"), 5*time.Second, "10 audible frames of tag b after the barge-in", func(msgs []gwMessage) bool {
		_, after := count(msgs)
		return after >= 10
	})
	if audible, after := count(gwMessages(t, ws.conn(t, "/a"))); audible < 20 || after > 0 {
		t.Errorf("tag a: %d audible frames, %d of them more than 60 ms after the barge-in", audible, after)
	}
}

// TestMediaBufferBound sends 12 s of audio at once: 10 s are buffered and
// the excess is dropped with a warning.
func TestMediaBufferBound(t *testing.T) {
	t.Parallel()
	ws := newWSApp(t, func(c *wsapp.Conn) {
		r := remote{c}
		r.waitGo(t)
		r.start(t, "t", "ULAW", 8000, nil)
		r.sendChunks(t, "t", clip(12*8000), 8000)
		r.stop(t, "t")
	})
	e := newEnv(t, mediaScript, nil)
	cfg, _ := json.Marshal(map[string]string{"url": ws.URL("/m"), "tag": "t"})
	e.start(t, string(cfg))
	w := e.logs.wait(t, 5*time.Second, "overflow warning", func(r record) bool {
		return r["level"] == "WARN" && strings.Contains(r.str("msg"), "remote audio dropped")
	})
	if w.str("limit") != "10s" {
		t.Errorf("warning %v", w)
	}
	stop := e.logs.wait(t, 5*time.Second, "stop", func(r record) bool { return r["msg"] == "remote media stopped" })
	dropped, _ := stop["dropped"].(uint64)
	// 2 s over the bound, less what played while the 12 s arrived.
	if dropped > 16000 || dropped < 15000 {
		t.Errorf("dropped %v bytes, want about 16000 (2 s)", stop["dropped"])
	}
}
