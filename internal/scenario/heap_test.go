package scenario

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/limit"
	"github.com/callstream/callstream/internal/limit/limittest"
)

// heapScript runs the expression of its session's custom data (when it
// has one) in a callback; a session without keeps running and answers
// HTTP requests on its access URL.
const heapScript = `
VoxEngine.addEventListener(AppEvents.HttpRequest, function (e) { Logger.write('alive ' + e.path); });
VoxEngine.addEventListener(AppEvents.Started, function () {
  var expr = VoxEngine.customData();
  if (expr === '') { Logger.write('idle'); return; }
  Logger.write('running');
  (0, eval)(expr);
  Logger.write('survived');
});`

// heapEnv is a runtime running heapScript with a refusal counter. Its
// callbacks may run 10 s, so that on a busy machine the heap limit, not
// the time limit, ends them.
func heapEnv(t *testing.T) (*env, *limittest.Counts) {
	t.Helper()
	e := newEnv(t, heapScript, func(c *Config) { c.Limits.CallbackTime = 10 * time.Second })
	c := &limittest.Counts{}
	e.rt.UseGateway(Shared{Refusals: c})
	return e, c
}

// waitHeapLimit waits for the heap-limit line of session id and returns
// its error text.
func (e *env) waitHeapLimit(t *testing.T, id string) string {
	t.Helper()
	r := e.logs.wait(t, 20*time.Second, "heap limit of "+id, func(r record) bool {
		return r["msg"] == "scenario heap limit exceeded: the session ends" && r["session_id"] == id
	})
	if r["level"] != "ERROR" || r.str("limit") != "64 MiB" {
		t.Errorf("heap limit record %v", r)
	}
	return r.str("err")
}

// A callback that grows the heap step by step is interrupted once it has
// grown past the limit: its session ends, counted, and another session
// lives on.
func TestHeapLimitGrowth(t *testing.T) {
	e, count := heapEnv(t)
	idle := e.start(t, "")
	e.logs.waitText(t, 5*time.Second, "idle")
	bomb := e.start(t, "var a = []; while (true) a.push(new Array(1e5).fill(1));")
	msg := e.waitHeapLimit(t, bomb.ID)
	if !strings.Contains(msg, "heap grew by") {
		t.Errorf("err %q, want the growth named", msg)
	}
	e.waitEnded(t, bomb.ID, 10*time.Second)
	if got := count.Get(limit.ScenarioHeap); got != 1 {
		t.Errorf("scenario_heap counted %d times, want 1", got)
	}
	for _, text := range e.logs.texts(bomb.ID) {
		if text == "survived" {
			t.Fatal("the callback went on after the heap limit")
		}
	}
	// The other session still runs its script.
	resp, err := http.Get(idle.AccessURL + "/ping")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	e.logs.waitText(t, 5*time.Second, "alive *")
}

// One built-in call that would allocate more than the limit at once ends
// the session before goja allocates anything.
func TestHeapGuardsRefuseOneCall(t *testing.T) {
	e, count := heapEnv(t)
	for i, expr := range []string{
		`'x'.repeat(2e9)`,
		`'x'.repeat(Math.pow(2, 52))`,
		`'x'.padStart(1e9)`,
		`'x'.padEnd(Infinity, 'ab')`,
		`'\u00e9'.padEnd(5e7)`,
		`''.concat.apply('', new Array(1000).fill('x'.repeat(1e5)))`,
		`new Array(1e9).join('')`,
		`new Array(1000).fill('x'.repeat(1e5)).join('')`,
		`new Array(1e9).toLocaleString()`,
		`String(new Array(1e9))`,
		`new Array(1e9).fill(0)`,
		`[...new Array(1e9)]`,
		`Array.from({length: 1e9})`,
		`new Set(new Array(1e9))`,
		`[].concat(new Array(1e9))`,
		`new Array(1e9).toReversed()`,
		`var a = [0]; for (var i = 0; i < 8; i++) a = new Array(30).fill(a); a.flat(Infinity)`,
		`var c = [1]; c.push(c); c.flat(Infinity)`,
		`Math.max.apply(null, {length: 1e9})`,
		`Reflect.apply(Math.max, null, {length: 1e9})`,
		`Reflect.construct(Array, {length: 1e9})`,
		`JSON.stringify(new Array(1e8))`,
		`JSON.stringify({a: new Array(1e6).fill('x'.repeat(100))})`,
		`JSON.parse('[' + '0,'.repeat(2e7) + '0]')`,
		`'x'.repeat(1000).replace(/x/g, 'y'.repeat(1e5))`,
		`'ab'.repeat(1e6).replaceAll('a', 'z'.repeat(1000))`,
		`'x'.repeat(6e7).split('')`,
		`'x'.repeat(6e7).match(/x/g)`,
		`[...'x'.repeat(6e7)]`,
		`String.raw({raw: {length: 1e9}})`,
		`new ArrayBuffer(1e9)`,
		`new Uint8Array(1e9)`,
		`new Float64Array(1e8)`,
		`new Uint8Array(new Array(1e8))`,
		`new (new Uint8Array(1).constructor)(1e9)`,
		`Uint8Array.from({length: 1e9})`,
		`[...new Uint8Array(6e7)]`,
	} {
		info := e.start(t, expr)
		msg := e.waitHeapLimit(t, info.ID)
		if !strings.Contains(msg, "at once") && !strings.Contains(msg, "heap grew by") {
			t.Errorf("%s: err %q", expr, msg)
		}
		t.Logf("%s: %s", expr, msg)
		e.waitEnded(t, info.ID, 10*time.Second)
		if got := count.Get(limit.ScenarioHeap); got != i+1 {
			t.Fatalf("%s: scenario_heap counted %d times, want %d", expr, got, i+1)
		}
	}
}

// The guarded built-ins still behave as the language says, errors
// included, and BigInt is gone.
func TestHeapGuardsKeepSemantics(t *testing.T) {
	checks := []string{
		`'ab'.repeat(3) === 'ababab'`,
		`String.prototype.repeat.call(5, 2) === '55'`,
		`(function () { try { 'x'.repeat(-1); } catch (e) { return e instanceof RangeError; } })()`,
		`(function () { try { String.prototype.repeat.call(null, 1); } catch (e) { return e instanceof TypeError; } })()`,
		`'x'.padStart(3, 'ab') === 'abx' && 'x'.padEnd(3) === 'x  '`,
		`'ab'.concat('c', 1) === 'abc1'`,
		`'a,b,c'.split(',').length === 3 && 'abc'.split('').length === 3 && 'a,b'.split(',', 1).length === 1`,
		`'abcb'.match(/b/g).length === 2 && 'abc'.match(/b/)[0] === 'b'`,
		`'aXbX'.replace(/X/g, '-') === 'a-b-' && 'aa'.replaceAll('a', 'b') === 'bb' && 'ab'.replace('a', function () { return 'z'; }) === 'zb'`,
		"'abc'.replace(/b/, '[$`$&$\\']') === 'a[abc]c'",
		`[...'h\u00e9llo'].length === 5`,
		"String.raw`a\\n${1}` === 'a\\\\n1'",
		`[1, 2, 3].join('-') === '1-2-3' && [1, , 3].join() === '1,,3' && [1, 2].toString() === '1,2'`,
		`Array.prototype.join.name === 'join' && Array.prototype.join.length === 1`,
		`[1, 2].toLocaleString() === '1,2'`,
		`new Array(3).fill(7).join() === '7,7,7' && [1, 2, 3].fill(0, 1).join() === '1,0,0' && [1, 2, 3].fill(9, -1).join() === '1,2,9'`,
		`[...[1, 2]].length === 2 && Array.from({length: 2}, function (_, i) { return i; }).join() === '0,1'`,
		`Array.prototype[Symbol.iterator] === Array.prototype.values`,
		`Array.from(new Set([1, 1, 2])).length === 2 && Array.from([...[1, 2].keys()]).join() === '0,1'`,
		`[1, 2].concat([3], 4).length === 4 && [[1, [2]], [3]].flat(Infinity).join() === '1,2,3' && [[1, [2]]].flat().length === 2`,
		`[3, 1, 2].toSorted().join() === '1,2,3' && [1, 2].toReversed().join() === '2,1' && [1, 2].with(0, 5).join() === '5,2' && [1, 2].toSpliced(0, 1, 7, 8).join() === '7,8,2'`,
		`Math.max.apply(null, [1, 5, 2]) === 5 && Reflect.apply(Math.min, null, [3, 1]) === 1 && Reflect.construct(Date, [0]).getTime() === 0`,
		`JSON.stringify({a: [1, 'x', null, undefined], b: {toJSON: function () { return 2; }}}) === '{"a":[1,"x",null,null],"b":2}'`,
		`JSON.stringify([1, [2]], null, 2) === '[\n  1,\n  [\n    2\n  ]\n]' && JSON.stringify({a: 1}, function (k, v) { return v; }) === '{"a":1}'`,
		`(function () { var o = {}; o.o = o; try { JSON.stringify(o); } catch (e) { return e instanceof TypeError; } })()`,
		`JSON.parse('{"a":1}').a === 1 && JSON.parse('[1]', function (k, v) { return v; })[0] === 1`,
		`new Uint8Array(4).length === 4 && new Uint8Array([1, 2])[1] === 2 && new ArrayBuffer(8).byteLength === 8`,
		`new Uint8Array(new ArrayBuffer(8), 2, 4).length === 4 && new Float64Array(2) instanceof Float64Array`,
		`new Uint8Array(2).constructor === Uint8Array && Uint8Array.from([1, 2])[1] === 2 && Uint8Array.BYTES_PER_ELEMENT === 1`,
		`[...new Uint8Array([7, 8])].join() === '7,8' && new Uint16Array(3).slice(1).length === 2`,
		`(function () { try { Uint8Array(2); } catch (e) { return e instanceof TypeError; } })()`,
		`typeof BigInt === 'undefined' && typeof BigInt64Array === 'undefined' && typeof DataView.prototype.getBigInt64 === 'undefined'`,
	}
	script := `VoxEngine.addEventListener(AppEvents.Started, function () {
  var checks = ` + jsonString(t, checks) + `;
  var failed = [];
  checks.forEach(function (c) {
    var ok;
    try { ok = (0, eval)(c); } catch (e) { ok = 'threw ' + e; }
    if (ok !== true) failed.push(c + ' -> ' + ok);
  });
  Logger.write('failed: ' + failed.join(' | '));
  VoxEngine.terminate();
});`
	e := newEnv(t, script, nil)
	info := e.start(t, "")
	if got := e.logs.waitText(t, 10*time.Second, "failed: *"); got != "failed: " {
		t.Fatalf("checks that do not hold:\n%s", strings.ReplaceAll(got, " | ", "\n"))
	}
	e.waitEnded(t, info.ID, 5*time.Second)
}

func jsonString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A script with a BigInt literal does not compile: one BigInt operator
// can allocate gigabytes, which no guard can see.
func TestBigIntRefused(t *testing.T) {
	_, err := New(Config{File: "big.js", Source: "var a = 1;\nvar x = 1n << 40n;\n"})
	if !errors.Is(err, ErrScript) || !strings.Contains(err.Error(), "big.js:2:9: BigInt is not available") {
		t.Fatalf("err = %v", err)
	}
	// Switched off with the heap limit.
	rt, err := New(Config{Source: "var x = 1n;", Bounds: limit.Limits{ScenarioHeap: -1}, RecordDir: t.TempDir()})
	if err != nil {
		t.Fatalf("heap limit off: %v", err)
	}
	_ = rt.Close()
}

// A Go panic under a callback ends the session instead of the process.
func TestGoPanicEndsSession(t *testing.T) {
	e := newEnv(t, `VoxEngine.addEventListener(AppEvents.Started, function () { Logger.write('started'); });`, nil)
	info := e.start(t, "")
	e.logs.waitText(t, 5*time.Second, "started")
	s := e.rt.session(strings.TrimPrefix(info.AccessURL, "http://"+e.srv.Listener.Addr().String()+"/request/"))
	if s == nil {
		t.Fatal("no session")
	}
	done := make(chan bool, 1)
	s.post(func() { done <- s.guard(func() error { panic("boom") }) })
	if <-done {
		t.Fatal("guard reported success")
	}
	e.logs.wait(t, 5*time.Second, "the panic's log line", func(r record) bool {
		return strings.HasPrefix(r.str("msg"), "scenario runtime bug") && r.str("panic") == "boom"
	})
	e.waitEnded(t, info.ID, 5*time.Second)
}
