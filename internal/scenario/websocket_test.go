package scenario

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/callstream/callstream/internal/wsapp"
)

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
