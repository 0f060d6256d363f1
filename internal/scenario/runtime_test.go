package scenario

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestEnums checks every member and string value of every enum.
func TestEnums(t *testing.T) {
	e := newEnv(t, `
VoxEngine.addEventListener(AppEvents.Started, function () {
  var out = {};
  ['AppEvents', 'CallEvents', 'WebSocketEvents', 'WebSocketReadyState', 'WebSocketCloseCode',
   'WebsocketCloseCode', 'WebSocketAudioEncoding', 'PlayerEvents', 'RecorderEvents', 'Modules'].forEach(function (n) {
    out[n] = globalThis[n];
    out[n + '.frozen'] = Object.isFrozen(this[n]);
  }, this);
  Logger.write(JSON.stringify(out));
  VoxEngine.terminate();
});`, nil)
	info := e.start(t, "")
	text := e.logs.waitText(t, 5*time.Second, "{*")
	var got map[string]any
	if err := json.Unmarshal([]byte(text), &got); err != nil {
		t.Fatal(err)
	}
	closeCodes := map[string]any{
		"CLOSE_NORMAL": 1000.0, "CLOSE_GOING_AWAY": 1001.0, "CLOSE_PROTOCOL_ERROR": 1002.0, "CLOSE_UNSUPPORTED": 1003.0,
		"CLOSED_NO_STATUS": 1005.0, "CLOSE_ABNORMAL": 1006.0, "CLOSE_UNSUPPORTED_PAYLOAD": 1007.0,
		"CLOSE_POLICY_VIOLATION": 1008.0, "CLOSE_TOO_LARGE": 1009.0, "CLOSE_MANDATORY_EXTENSION": 1010.0,
		"CLOSE_SERVER_ERROR": 1011.0, "CLOSE_SERVICE_RESTART": 1012.0, "CLOSE_TRY_AGAIN_LATER": 1013.0,
		"CLOSE_BAD_GATEWAY": 1014.0, "CLOSE_TLS_FAIL": 1015.0,
	}
	want := map[string]map[string]any{
		"AppEvents": {
			"CallAlerting": "Application.CallAlerting", "Started": "Application.Started",
			"Terminating": "Application.Terminating", "Terminated": "Application.Terminated",
			"HttpRequest": "Application.HttpRequest", "WebSocket": "AppEvents.NewWebSocketConnection",
			"NewWebSocketFailed": "Application.OnNewWebSocketFailed",
		},
		"WebSocketEvents": {
			"OPEN": "WebSocket.Open", "CLOSE": "WebSocket.Close", "MESSAGE": "WebSocket.Message",
			"ERROR": "WebSocket.Error", "CREATED": "WebSocket.Created",
			"MEDIA_STARTED": "WebSocket.MediaEventStarted", "MEDIA_ENDED": "WebSocket.MediaEventEnded",
		},
		"WebSocketReadyState": {"CONNECTING": "connecting", "OPEN": "open", "CLOSING": "closing", "CLOSED": "closed"},
		"WebSocketCloseCode":  closeCodes,
		"WebsocketCloseCode":  closeCodes,
		"WebSocketAudioEncoding": {
			"ULAW": "ULAW", "ALAW": "ALAW", "PCM8": "PCM8", "PCM16_8KHZ": "PCM8", "PCM16": "PCM16",
			"PCM16_16KHZ": "PCM16", "OPUS": "OPUS",
		},
		"PlayerEvents": {"Started": "Player.Started", "PlaybackReady": "Player.PlaybackReady", "PlaybackFinished": "Player.PlaybackFinished", "Stopped": "Player.Stopped",
			"PlaybackBuffering": "Player.PlaybackBuffering", "PlaybackMarkerReached": "Player.PlaybackMarkerReached"},
		"RecorderEvents": {"Started": "Recorder.Started", "Stopped": "Recorder.Stopped", "RecorderError": "Recorder.Error"},
	}
	for name, members := range want {
		gotMembers, _ := got[name].(map[string]any)
		if !reflect.DeepEqual(gotMembers, members) {
			t.Errorf("%s = %v\nwant %v", name, gotMembers, members)
		}
		if got[name+".frozen"] != true {
			t.Errorf("%s is not frozen", name)
		}
	}
	// CallEvents: the ones the runtime fires, with the 'Call.' prefix.
	ce, _ := got["CallEvents"].(map[string]any)
	for _, m := range []string{"Connected", "Disconnected", "Failed", "ToneReceived", "PlaybackFinished", "PlaybackStarted", "AudioStarted"} {
		if ce[m] != "Call."+m {
			t.Errorf("CallEvents.%s = %v, want Call.%s", m, ce[m], m)
		}
	}
	if mods, _ := got["Modules"].(map[string]any); mods["WebSocket"] == nil {
		t.Errorf("Modules.WebSocket missing: %v", mods)
	}
	e.waitEnded(t, info.ID, 5*time.Second)
}

// TestGlobals checks that every global and method of the API exists with
// the right type, that require() of any module is a no-op and that
// customData round-trips.
func TestGlobals(t *testing.T) {
	e := newEnv(t, `
require(Modules.WebSocket);
require(Modules.ASR);
require('something-unknown');
var missing = [];
function check(path, type) {
  var v = path.split('.').reduce(function (o, k) { return o == null ? undefined : o[k]; }, this);
  if (typeof v !== type) missing.push(path + ':' + typeof v);
}
['addEventListener', 'removeEventListener', 'terminate', 'customData', 'createWebSocket',
 'allowWebSocketConnections', 'callSIP', 'sendMediaBetween', 'stopMediaBetween', 'easyProcess',
 'createURLPlayer', 'createTTSPlayer', 'createRecorder'].forEach(function (m) { check('VoxEngine.' + m, 'function'); });
['Logger.write', 'setTimeout', 'setInterval', 'clearTimeout', 'clearInterval', 'Net.httpRequestAsync',
 'require', 'WebSocket'].forEach(function (m) { check(m, 'function'); });
['AppEvents', 'CallEvents', 'WebSocketEvents', 'WebSocketReadyState', 'WebSocketCloseCode',
 'WebSocketAudioEncoding', 'Modules'].forEach(function (m) { check(m, 'object'); });
VoxEngine.addEventListener(AppEvents.Started, function (e) {
  Logger.write('missing=' + missing.join(','));
  Logger.write('data=' + VoxEngine.customData());
  VoxEngine.customData('changed');
  Logger.write('data=' + VoxEngine.customData());
  Logger.write('started ' + (e.name === AppEvents.Started) + ' ' + /^http:\/\//.test(e.accessURL) + ' ' +
    /^https:\/\//.test(e.accessSecureURL) + ' ' + (typeof e.sessionId));
  try { VoxEngine.callSIP('sip:bob@example.com'); } catch (err) { Logger.write('callSIP: ' + err.message); }
  VoxEngine.terminate();
  Logger.write('after terminate');
});`, nil)
	info := e.start(t, "hello data")
	e.logs.waitText(t, 5*time.Second, "after terminate")
	texts := e.logs.texts(info.ID)
	want := []string{"missing=", "data=hello data", "data=changed", "started true true true string"}
	if !reflect.DeepEqual(texts[:4], want) {
		t.Fatalf("got %q, want %q", texts, want)
	}
	if !strings.Contains(texts[4], "callSIP is not supported yet") {
		t.Errorf("callSIP: %q", texts[4])
	}
	if r := e.logs.find(func(r record) bool { return r["level"] == "ERROR" && strings.Contains(r.str("msg"), "callSIP") }); r == nil {
		t.Errorf("callSIP not logged as an error")
	}
	e.waitEnded(t, info.ID, 5*time.Second)
}

// TestTimers checks setTimeout, setInterval, clear*, arguments and order.
func TestTimers(t *testing.T) {
	e := newEnv(t, `
var n = 0;
var iv = setInterval(function () {
  n++;
  Logger.write('tick ' + n);
  if (n === 3) { clearInterval(iv); setTimeout(function () { Logger.write('done'); VoxEngine.terminate(); }, 50); }
}, 100);
var t = setTimeout(function () { Logger.write('never'); }, 30);
clearTimeout(t);
setTimeout(function (a, b) { Logger.write('args ' + a + ' ' + b); }, 10, 'x', 2);
`, nil)
	info := e.start(t, "")
	e.logs.waitText(t, 5*time.Second, "done")
	got := e.logs.texts(info.ID)
	want := []string{"args x 2", "tick 1", "tick 2", "tick 3", "done"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestTimerLimit checks that the 101st live timer throws and is logged.
func TestTimerLimit(t *testing.T) {
	e := newEnv(t, `
for (var i = 0; i < 100; i++) setTimeout(function () {}, 60000);
try { setTimeout(function () {}, 1); } catch (err) { Logger.write('caught ' + err.message); }
setTimeout(function () {}, 1);
Logger.write('not reached');
`, nil)
	info := e.start(t, "")
	got := e.logs.waitText(t, 5*time.Second, "caught *")
	if !strings.Contains(got, "at most 100 timers") {
		t.Errorf("caught %q", got)
	}
	r := e.logs.wait(t, 5*time.Second, "script error", func(r record) bool {
		return r["level"] == "ERROR" && strings.Contains(r.str("msg"), "scenario error")
	})
	if !strings.Contains(r.str("err"), "too many timers") || !strings.HasPrefix(r.str("at"), "scenario.js:4:") {
		t.Errorf("error record %v", r)
	}
	e.waitEnded(t, info.ID, 5*time.Second)
	for _, s := range e.logs.texts(info.ID) {
		if s == "not reached" {
			t.Error("the script went on after an uncaught error")
		}
	}
}

// TestCallbackTimeLimit checks that a callback running longer than the
// limit is interrupted, logged with its place, and ends its session only.
func TestCallbackTimeLimit(t *testing.T) {
	e := newEnv(t, `
VoxEngine.addEventListener(AppEvents.Started, function () {
  if (VoxEngine.customData() === 'spin') {
    setTimeout(function spin() {
      while (true) {}
    }, 10);
  }
  setInterval(function () { Logger.write('alive ' + VoxEngine.customData()); }, 100);
});`, func(c *Config) { c.Limits.CallbackTime = 300 * time.Millisecond })
	other := e.start(t, "calm")
	spin := e.start(t, "spin")
	start := time.Now()
	r := e.logs.wait(t, 5*time.Second, "interrupt", func(r record) bool {
		return r["level"] == "ERROR" && r["session_id"] == spin.ID && r["kind"] == "interrupted"
	})
	if took := time.Since(start); took < 300*time.Millisecond || took > 2*time.Second {
		t.Errorf("interrupted after %s, limit 300ms", took)
	}
	if !strings.Contains(r.str("err"), "ran longer than 300ms") || !strings.HasPrefix(r.str("at"), "scenario.js:") {
		t.Errorf("record %v", r)
	}
	if !strings.Contains(r.str("stack"), "at spin (scenario.js:") {
		t.Errorf("stack %q", r.str("stack"))
	}
	e.waitEnded(t, spin.ID, 5*time.Second)
	// The other session goes on.
	n := len(e.logs.texts(other.ID))
	e.logs.until(t, 5*time.Second, "line from the other session: it stopped", func() bool { return len(e.logs.texts(other.ID)) > n })
}

// TestThrowingScript checks a throw in a callback: logged with
// file:line:col and stack; the session goes on (a later timer fires, its
// socket stays open) until it terminates, which closes its socket; the
// other session is not touched.
func TestThrowingScript(t *testing.T) {
	ws := newWSApp(t, nil)
	e := newEnv(t, `
var ws = new WebSocket(VoxEngine.customData().split('|')[0]);
ws.addEventListener(WebSocketEvents.OPEN, function () {
  Logger.write('open');
  if (VoxEngine.customData().split('|')[1] === 'throw') {
    setTimeout(function () { Logger.write('went on'); VoxEngine.terminate(); }, 200);
    var nothing = null; nothing.boom();
  }
});
`, nil)
	bad := e.start(t, ws.URL("/bad")+"|throw")
	good := e.start(t, ws.URL("/good")+"|")
	r := e.logs.wait(t, 5*time.Second, "script error", func(r record) bool {
		return r["level"] == "ERROR" && r["session_id"] == bad.ID
	})
	if r["kind"] != "exception" || r.str("at") != "scenario.js:7:25" || !strings.Contains(r.str("err"), "TypeError") ||
		!strings.Contains(r.str("stack"), "scenario.js:7:25") || !strings.Contains(r.str("msg"), "the session goes on") {
		t.Errorf("record %v", r)
	}
	select {
	case <-ws.conn(t, "/bad").Closed():
		t.Fatal("the socket closed after the throw")
	default:
	}
	e.logs.waitText(t, 5*time.Second, "went on")
	e.waitEnded(t, bad.ID, 5*time.Second)
	// The bad session's socket was closed by the gateway.
	c := ws.conn(t, "/bad")
	select {
	case <-c.Closed():
	case <-time.After(3 * time.Second):
		t.Fatal("the failed session's socket is still open")
	}
	if code, _ := c.CloseStatus(); code != 1000 {
		t.Errorf("close code %d, want 1000", code)
	}
	// The good one still runs and its socket is open.
	g := ws.conn(t, "/good")
	select {
	case <-g.Closed():
		t.Fatal("the other session's socket was closed")
	case <-time.After(100 * time.Millisecond):
	}
	for _, s := range e.rt.Sessions() {
		if s.ID == good.ID {
			return
		}
	}
	t.Fatal("the other session ended")
}

// TestSyntaxError checks that New reports a syntax error with its place.
func TestSyntaxError(t *testing.T) {
	_, err := New(Config{File: "broken.js", Source: "var a = 1;\nfunction ( {\n"})
	if !errors.Is(err, ErrScript) || err.Error() != "scenario script error: broken.js:2:10: SyntaxError: Unexpected token (" {
		t.Fatalf("err = %v", err)
	}
	// A syntax error in code run later (eval) is a thrown exception.
	e := newEnv(t, `setTimeout(function () { eval('var x = ;'); }, 1);
setTimeout(function () { VoxEngine.terminate(); }, 100);`, nil)
	info := e.start(t, "")
	r := e.logs.wait(t, 5*time.Second, "syntax error", func(r record) bool { return r["level"] == "ERROR" })
	if !strings.Contains(r.str("err"), "SyntaxError") || !strings.HasPrefix(r.str("at"), "scenario.js:1:") {
		t.Errorf("record %v", r)
	}
	e.waitEnded(t, info.ID, 5*time.Second)
}

// TestPostScenarios checks POST /scenarios: the session starts without a
// call, gets script_custom_data, and the reply carries the access URLs.
func TestPostScenarios(t *testing.T) {
	e := newEnv(t, `
VoxEngine.addEventListener(AppEvents.Started, function (e) {
  Logger.write('custom=' + VoxEngine.customData() + ' url=' + e.accessURL + ' secure=' + e.accessSecureURL);
});`, nil)
	for _, tc := range []struct {
		name, ct, body string
	}{
		{"form", "application/x-www-form-urlencoded", url.Values{"script_custom_data": {"form data"}}.Encode()},
		{"json", "application/json", `{"script_custom_data":"json data"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Post(e.srv.URL+"/scenarios", tc.ct, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var reply map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil {
				t.Fatal(err)
			}
			access, _ := reply["media_session_access_url"].(string)
			secure, _ := reply["media_session_access_secure_url"].(string)
			host := e.srv.Listener.Addr().String()
			if resp.StatusCode != 200 || reply["result"] != 1.0 || !strings.HasPrefix(access, "http://"+host+"/request/") ||
				secure != "https"+strings.TrimPrefix(access, "http") || len(strings.TrimPrefix(access, "http://"+host+"/request/")) != 32 {
				t.Fatalf("reply %d %v", resp.StatusCode, reply)
			}
			want := tc.name + " data url=" + access + " secure=" + secure
			e.logs.waitText(t, 5*time.Second, "custom="+want)
		})
	}
}

// TestNoCallTimeout checks that a session without a call ends after the
// limit, with a warning.
func TestNoCallTimeout(t *testing.T) {
	e := newEnv(t, `
VoxEngine.addEventListener(AppEvents.Terminating, function () { Logger.write('terminating'); });
VoxEngine.addEventListener(AppEvents.Terminated, function () { Logger.write('terminated'); });`,
		func(c *Config) { c.Limits.NoCallTimeout = 200 * time.Millisecond })
	start := time.Now()
	info := e.start(t, "")
	e.waitEnded(t, info.ID, 3*time.Second)
	if took := time.Since(start); took < 200*time.Millisecond {
		t.Errorf("ended after %s", took)
	}
	if r := e.logs.find(func(r record) bool { return r["level"] == "WARN" && strings.Contains(r.str("msg"), "no call") }); r == nil {
		t.Error("no warning logged")
	}
	if got := e.logs.texts(info.ID); !reflect.DeepEqual(got, []string{"terminating", "terminated"}) {
		t.Errorf("events %q", got)
	}
}

// TestParallelSessionsIsolated runs many sessions at once: each has its
// own globals, and the error of the one that throws is its own (it goes on).
func TestParallelSessionsIsolated(t *testing.T) {
	e := newEnv(t, `
var counter = 0;
counter++;
VoxEngine.addEventListener(AppEvents.Started, function () {
  var me = VoxEngine.customData();
  setTimeout(function () {
    if (me === 'bad') {
      setTimeout(function () { Logger.write('bad went on'); VoxEngine.terminate(); }, 50);
      throw new Error('bad session');
    }
    Logger.write(me + ' counter=' + counter);
    VoxEngine.terminate();
  }, 50);
});`, nil)
	const n = 30
	var wg sync.WaitGroup
	ids := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := "s" + string(rune('A'+i))
			if i == 7 {
				data = "bad"
			}
			ids[i] = e.start(t, data).ID
		}()
	}
	wg.Wait()
	for i := range n {
		if i == 7 {
			continue
		}
		e.logs.waitText(t, 5*time.Second, "s"+string(rune('A'+i))+" counter=1")
	}
	e.logs.waitText(t, 5*time.Second, "bad went on")
	for _, id := range ids {
		e.waitEnded(t, id, 5*time.Second)
	}
	errs := 0
	for _, r := range e.logs.all() {
		if r["level"] == "ERROR" {
			errs++
			if r["session_id"] != ids[7] {
				t.Errorf("error in another session: %v", r)
			}
		}
	}
	if errs != 1 {
		t.Errorf("%d errors logged, want 1", errs)
	}
}

// TestNetHTTPRequestAsync checks Net.httpRequestAsync with async/await.
func TestNetHTTPRequestAsync(t *testing.T) {
	app := http.NewServeMux()
	app.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Test", "yes")
		w.WriteHeader(201)
		b := make([]byte, 100)
		n, _ := r.Body.Read(b)
		_, _ = w.Write([]byte(r.Method + " " + r.Header.Get("X-In") + " " + string(b[:n])))
	})
	srv := newHTTPServer(t, app)
	e := newEnv(t, `
VoxEngine.addEventListener(AppEvents.Started, async function () {
  var res = await Net.httpRequestAsync(VoxEngine.customData() + '/echo', {method: 'POST', postData: 'body!', headers: ['X-In: hdr']});
  var h = res.headers.filter(function (x) { return x.key === 'X-Test'; })[0];
  Logger.write(res.code + ' ' + res.text + ' ' + (h && h.value));
  var bad = await Net.httpRequestAsync('http://127.0.0.1:1/none');
  Logger.write('bad ' + (bad.code < 0) + ' ' + (typeof bad.error));
  VoxEngine.terminate();
});`, nil)
	e.start(t, srv)
	e.logs.waitText(t, 5*time.Second, "201 POST hdr body! yes")
	e.logs.waitText(t, 5*time.Second, "bad true string")
}

// TestEventListeners checks listener order, removal, and that a callback
// that is not a function throws: logged, and the next listener runs.
func TestEventListeners(t *testing.T) {
	e := newEnv(t, `
function a() { Logger.write('a'); }
function b() { Logger.write('b'); }
VoxEngine.addEventListener(AppEvents.Started, a);
VoxEngine.addEventListener(AppEvents.Started, b);
VoxEngine.addEventListener(AppEvents.Started, a);
VoxEngine.removeEventListener(AppEvents.Started, a);
VoxEngine.addEventListener(AppEvents.HttpRequest, a);
VoxEngine.removeEventListener(AppEvents.HttpRequest);
VoxEngine.addEventListener(AppEvents.Started, function () {
  Logger.write('c');
  VoxEngine.addEventListener(AppEvents.Terminating, 'not a function');
});
VoxEngine.addEventListener(AppEvents.Started, function () { VoxEngine.terminate(); });`, nil)
	info := e.start(t, "")
	e.waitEnded(t, info.ID, 5*time.Second)
	if got := e.logs.texts(info.ID); !reflect.DeepEqual(got, []string{"b", "a", "c"}) {
		t.Errorf("order %q, want b a c", got)
	}
	if r := e.logs.find(func(r record) bool { return r["level"] == "ERROR" && strings.Contains(r.str("err"), "not a function") }); r == nil {
		t.Error("a non-function listener was not logged as an error")
	}
}

// TestHTTPRequestEvent checks AppEvents.HttpRequest on the access URL.
func TestHTTPRequestEvent(t *testing.T) {
	e := newEnv(t, `
VoxEngine.addEventListener(AppEvents.HttpRequest, function (e) {
  var h = e.headers.filter(function (x) { return x.key === 'X-Hello'; })[0];
  Logger.write(e.method + ' ' + e.path + ' ' + e.content + ' ' + h.value);
});`, nil)
	info := e.start(t, "")
	req, _ := http.NewRequest("POST", info.AccessURL+"/stop?x=1", strings.NewReader("payload"))
	req.Header.Set("X-Hello", "world")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	e.logs.waitText(t, 5*time.Second, "POST /request/*")
	got := e.logs.texts(info.ID)
	if len(got) != 1 || !strings.HasSuffix(got[0], "/stop?x=1 payload world") {
		t.Errorf("got %q", got)
	}
	// A wrong token is not found.
	resp, err = http.Get(e.srv.URL + "/request/0123456789abcdef0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("unknown token: status %d", resp.StatusCode)
	}
}
