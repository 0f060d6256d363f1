package scenario

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/call"
	"github.com/callstream/callstream/internal/fetch"
	"github.com/callstream/callstream/internal/rtpio"
	"github.com/callstream/callstream/internal/sip"
)

// The API calls FuzzScenarioArgs drives: a target and how many arguments
// it takes. The targets are the units the prologue makes.
var fuzzCalls = []struct {
	fn   string
	args int
}{
	{"VoxEngine.customData", 1}, {"VoxEngine.createWebSocket", 2}, {"VoxEngine.callSIP", 2}, {"VoxEngine.callPSTN", 3},
	{"VoxEngine.sendMediaBetween", 2}, {"VoxEngine.stopMediaBetween", 2}, {"VoxEngine.createURLPlayer", 2},
	{"VoxEngine.createTTSPlayer", 2}, {"VoxEngine.createRecorder", 0}, {"VoxEngine.addEventListener", 2},
	{"VoxEngine.removeEventListener", 2}, {"VoxEngine.allowWebSocketConnections", 0}, {"VoxEngine.easyProcess", 3},
	{"new WebSocket", 2},
	{"call.answer", 2}, {"call.ring", 0}, {"call.startEarlyMedia", 0}, {"call.hangup", 1}, {"call.reject", 2},
	{"call.say", 2}, {"call.startPlayback", 2}, {"call.stopPlayback", 0}, {"call.sendMediaTo", 2}, {"call.stopMediaTo", 2},
	{"call.handleTones", 2}, {"call.sendDigits", 1}, {"call.customData", 1}, {"call.headers", 0}, {"call.addEventListener", 2},
	{"ws.send", 1}, {"ws.close", 2}, {"ws.sendMediaTo", 2}, {"ws.stopMediaTo", 2}, {"ws.clearMediaBuffer", 1},
	{"ws.addEventListener", 2},
	{"player.sendMediaTo", 2}, {"player.stopMediaTo", 2}, {"player.stop", 0}, {"player.pause", 0}, {"player.resume", 0},
	{"rec.stop", 0},
	{"Net.httpRequestAsync", 2}, {"Net.httpRequest", 3},
	{"setTimeout", 3}, {"setInterval", 2}, {"clearTimeout", 1}, {"clearInterval", 1},
	{"Logger.write", 2}, {"require", 1},
}

// fuzzValues are the JavaScript values arguments are made of; %s is
// another value.
var fuzzValues = []string{
	"undefined", "null", "NaN", "Infinity", "-1", "0", "-0", "1e308", "2**53", "1e21", "true",
	"''", "'x'", "'ws://127.0.0.1:1/fuzz'", "'sip:fuzz@127.0.0.1:1'", "'http://127.0.0.1:1/a.wav'", "'\\u00e9\\ud800'",
	"'x'.repeat(300)", "Symbol('s')", "function () {}", "{length: 1e9}",
	"[]", "[%s, %s]", "{}",
	"{encoding: %s, tag: %s, customParameters: %s}",
	"{headers: %s, method: %s, postData: %s, timeout: %s, params: %s}",
	"{callerid: %s, displayName: %s, extraHeaders: %s, language: %s, voice: %s, loop: %s}",
	"{get encoding() { throw new Error('getter'); }, get headers() { throw 1; }, get tag() { throw 2; }}",
	"{toString: function () { throw new Error('toString'); }, valueOf: function () { throw 3; }}",
	"new Proxy({}, {get: function () { throw 4; }, ownKeys: function () { throw 5; }, has: function () { throw 6; }, getOwnPropertyDescriptor: function () { throw 7; }})",
	"call", "ws", "player", "rec", "WebSocketAudioEncoding.PCM16", "WebSocketAudioEncoding.ULAW", "'OPUS'",
}

// fuzzScript turns data into a script: a prologue making a call, a
// socket, a player and a recorder, then up to 32 API calls with
// arguments read from data, each in its own try.
func fuzzScript(data []byte) string {
	next := func() int {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return int(b)
	}
	var value func(depth int) string
	value = func(depth int) string {
		v := fuzzValues[next()%len(fuzzValues)]
		for strings.Contains(v, "%s") {
			inner := "0"
			if depth < 3 {
				inner = value(depth + 1)
			}
			v = strings.Replace(v, "%s", inner, 1)
		}
		return v
	}
	var b strings.Builder
	b.WriteString(`function unit(make) { try { return make(); } catch (e) { return {}; } }
var call = unit(function () { return VoxEngine.callSIP('sip:fuzz@127.0.0.1:1'); });
var ws = unit(function () { return VoxEngine.createWebSocket('ws://127.0.0.1:1/fuzz'); });
var player = unit(function () { return VoxEngine.createURLPlayer('http://127.0.0.1:1/a.wav'); });
var rec = unit(function () { return VoxEngine.createRecorder(); });
`)
	for i := 0; i < 32 && len(data) > 0; i++ {
		c := fuzzCalls[next()%len(fuzzCalls)]
		args := make([]string, c.args)
		for j := range args {
			args[j] = value(0)
		}
		call := c.fn + "(" + strings.Join(args, ", ") + ")"
		fmt.Fprintf(&b, "try { %s; } catch (e) { String(e instanceof Error); }\n", call)
	}
	b.WriteString("VoxEngine.terminate();\n")
	return b.String()
}

// stallDialer never answers: its calls stay PROGRESSING until hung up.
type stallDialer struct{}

func (stallDialer) Dial(ctx context.Context, _ sip.DialConfig) (*sip.Outgoing, error) {
	<-ctx.Done()
	return nil, fmt.Errorf("fuzz dial: %w", sip.ErrDialCancelled)
}

// FuzzScenarioArgs drives the VoxEngine API with arbitrary JavaScript
// values (numbers, strings, objects, arrays, null, undefined, NaN, huge
// numbers, getters and proxies that throw, units in the wrong place): no
// Go panic may escape or be recovered, and every session ends.
func FuzzScenarioArgs(f *testing.F) {
	for _, seed := range [][]string{
		{},
		{"call.sendMediaTo", "ws", "{encoding: %s, tag: %s, customParameters: %s}", "NaN", "'x'", "[%s, %s]", "null", "Symbol('s')"},
		{"ws.sendMediaTo", "call", "{encoding: %s, tag: %s, customParameters: %s}", "'OPUS'", "1e308", "'x'.repeat(300)"},
		{"player.sendMediaTo", "rec", "{get encoding() { throw new Error('getter'); }, get headers() { throw 1; }, get tag() { throw 2; }}"},
		{"Net.httpRequestAsync", "'http://127.0.0.1:1/a.wav'", "{headers: %s, method: %s, postData: %s, timeout: %s, params: %s}",
			"[%s, %s]", "'x'", "{toString: function () { throw new Error('toString'); }, valueOf: function () { throw 3; }}", "Symbol('s')", "''", "-1", "{length: 1e9}"},
		{"Net.httpRequest", "'ws://127.0.0.1:1/fuzz'", "function () {}", "new Proxy({}, {get: function () { throw 4; }, ownKeys: function () { throw 5; }, has: function () { throw 6; }, getOwnPropertyDescriptor: function () { throw 7; }})"},
		{"setTimeout", "function () {}", "Infinity", "NaN", "setInterval", "function () {}", "-1", "clearTimeout", "{}"},
		{"VoxEngine.callSIP", "'sip:fuzz@127.0.0.1:1'", "{callerid: %s, displayName: %s, extraHeaders: %s, language: %s, voice: %s, loop: %s}",
			"2**53", "'\\u00e9\\ud800'", "{}", "null", "true", "NaN"},
		{"call.say", "{length: 1e9}", "{callerid: %s, displayName: %s, extraHeaders: %s, language: %s, voice: %s, loop: %s}", "Symbol('s')"},
		{"call.answer", "{headers: %s, method: %s, postData: %s, timeout: %s, params: %s}", "{}", "call.reject", "1e21", "[]", "call.sendDigits", "'x'.repeat(300)"},
		{"new WebSocket", "'x'", "[%s, %s]", "Symbol('s')", "undefined", "ws.close", "1e308", "{}", "ws.send", "call"},
		{"VoxEngine.addEventListener", "undefined", "function () {}", "VoxEngine.removeEventListener", "{}", "null"},
		{"VoxEngine.sendMediaBetween", "call", "player", "VoxEngine.easyProcess", "call", "ws", "rec", "VoxEngine.createTTSPlayer", "''", "{}"},
	} {
		f.Add(fuzzSeed(f, seed...))
	}
	logs := newTestLogs()
	pool, err := rtpio.NewPortPool(46000, 46099)
	if err != nil {
		f.Fatal(err)
	}
	rt, err := New(Config{
		File:     "fuzz.js",
		Source:   "VoxEngine.addEventListener(AppEvents.Started, function () { (0, eval)(VoxEngine.customData()); });",
		Logger:   slog.New(logHandler{l: logs}),
		HTTPAddr: func() string { return "127.0.0.1:1" },
		// Every address refused: Net, players and WebSockets fail at once,
		// without a network.
		Fetch: fetch.New(fetch.Config{Policy: fetch.NewPolicy(fetch.PolicyConfig{
			Deny: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}})}),
		TTSCommand: "callstream-fuzz-no-tts",
		RecordDir:  f.TempDir(),
		Limits:     Limits{NoCallTimeout: 2 * time.Second, ShutdownWait: time.Second},
	})
	if err != nil {
		f.Fatal(err)
	}
	// The calls share a media clock and are closed once ended, as the
	// gateway does with its own.
	var sids atomic.Int64
	var calls sync.WaitGroup
	clock := call.NewClock()
	loopback := netip.MustParseAddr("127.0.0.1")
	rt.UseDialer(func(dc sip.DialConfig) *call.Call {
		cfg := call.Config{Sid: fmt.Sprintf("fuzz-%d", sids.Add(1)), Ports: pool, RTPIP: loopback, Clock: clock}
		c := call.Dial(cfg, stallDialer{}, dc)
		calls.Add(1)
		go func() {
			defer calls.Done()
			<-c.Done()
			_ = c.Close()
		}()
		return c
	})
	f.Cleanup(func() {
		_ = rt.Close()
		calls.Wait()
		clock.Close()
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		script := fuzzScript(data)
		info, err := rt.Start(script)
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(15 * time.Second)
		for running(rt, info.ID) {
			if time.Now().After(deadline) {
				t.Fatalf("the session did not end; script:\n%s", script)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if r := logs.find(func(r record) bool { return strings.HasPrefix(r.str("msg"), "scenario runtime bug") }); r != nil {
			t.Fatalf("a Go panic in the API: %v\nscript:\n%s", r["panic"], script)
		}
	})
}

// fuzzSeed makes fuzz data from the names of calls and values, in the
// order fuzzScript reads them.
func fuzzSeed(t testing.TB, parts ...string) []byte {
	t.Helper()
	var out []byte
next:
	for _, p := range parts {
		for i, c := range fuzzCalls {
			if c.fn == p {
				out = append(out, byte(i))
				continue next
			}
		}
		for i, v := range fuzzValues {
			if v == p {
				out = append(out, byte(i))
				continue next
			}
		}
		t.Fatalf("fuzz seed: %q is neither a call nor a value", p)
	}
	return out
}

// running reports whether the session id runs.
func running(rt *Runtime, id string) bool {
	for _, s := range rt.Sessions() {
		if s.ID == id {
			return true
		}
	}
	return false
}

// The script generator makes what the fuzz target expects.
func TestFuzzScript(t *testing.T) {
	s := fuzzScript(fuzzSeed(t, "call.sendMediaTo", "ws", "{encoding: %s, tag: %s, customParameters: %s}", "null", "'x'", "[%s, %s]", "NaN", "rec"))
	if !strings.Contains(s, "try { call.sendMediaTo(ws, {encoding: null, tag: 'x', customParameters: [NaN, rec]}); }") || !strings.HasSuffix(s, "VoxEngine.terminate();\n") {
		t.Fatalf("script:\n%s", s)
	}
}
