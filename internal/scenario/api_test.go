package scenario

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestAPITableUnique checks that the table names each member once.
func TestAPITableUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range apiTable {
		if seen[m.Path] {
			t.Errorf("%s listed twice", m.Path)
		}
		seen[m.Path] = true
		if m.Kind == apiFunction && !m.Implemented && m.Hint == "" {
			t.Errorf("%s is refused without a hint", m.Path)
		}
	}
}

// TestAPITableResolves walks the table in a fresh session: every global
// member resolves at load to what the table says (a function, the enum's
// value, an any-path name), and every refused function throws, when
// called, an error naming it, while the session goes on.
func TestAPITableResolves(t *testing.T) {
	type entry struct {
		Path    string `json:"path"`
		Kind    string `json:"kind"`
		Value   any    `json:"value"`
		Refused bool   `json:"refused"`
	}
	var list []entry
	for _, m := range apiTable {
		if m.global() {
			list = append(list, entry{m.Path, m.Kind.String(), m.Value, m.Kind == apiFunction && !m.Implemented})
		}
	}
	js, err := json.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, `
var table = `+string(js)+`;
var bad = [], refusals = [];
table.forEach(function (m) {
  var v = globalThis;
  m.path.split('.').forEach(function (k) { v = v === undefined ? undefined : v[k]; });
  switch (m.kind) {
  case 'function':
    if (typeof v !== 'function') bad.push(m.path + ' is ' + typeof v);
    break;
  case 'value':
    if (v !== m.value) bad.push(m.path + ' = ' + v);
    break;
  case 'any-path':
    if (String(v) !== m.path || String(v.Google.en_US) !== m.path + '.Google.en_US' || ('' + v.X[3]) !== m.path + '.X.3') bad.push(m.path + ' = ' + String(v));
    break;
  }
});
VoxEngine.addEventListener(AppEvents.Started, function () {
  table.forEach(function (m) {
    if (!m.refused) return;
    var v = globalThis;
    m.path.split('.').forEach(function (k) { v = v[k]; });
    try { v(); refusals.push(m.path + ' did not throw'); } catch (err) {
      if (err.message.indexOf(m.path + ' is not supported') !== 0) refusals.push(m.path + ': ' + err.message);
    }
  });
  Logger.write('bad=' + bad.join(';'));
  Logger.write('refusals=' + refusals.join(';'));
  VoxEngine.terminate();
});`, nil)
	info := e.start(t, "")
	if got := e.logs.waitText(t, 5*time.Second, "bad=*"); got != "bad=" {
		t.Errorf("members that do not resolve: %s", got)
	}
	if got := e.logs.waitText(t, 5*time.Second, "refusals=*"); got != "refusals=" {
		t.Errorf("refusals: %s", got)
	}
	e.waitEnded(t, info.ID, 5*time.Second)
	n := 0
	for _, m := range apiTable {
		if m.global() && m.Kind == apiFunction && !m.Implemented {
			n++
		}
	}
	refused := 0
	for _, r := range e.logs.all() {
		if r["level"] == "ERROR" && strings.Contains(r.str("msg"), "not supported by callstream") {
			refused++
		}
	}
	if n == 0 || refused != n {
		t.Errorf("%d refusals logged, want %d", refused, n)
	}
}

// TestCreateASRRefused checks that VoxEngine.createASR, uncaught, fails
// with an error naming it and pointing to the WebSocket module; the session
// goes on (a later timer fires).
func TestCreateASRRefused(t *testing.T) {
	e := newEnv(t, `
VoxEngine.addEventListener(AppEvents.Started, function () {
  setTimeout(function () { Logger.write('later'); VoxEngine.terminate(); }, 100);
  var asr = VoxEngine.createASR({profile: ASRProfileList.Google.en_US, singleUtterance: true});
  asr.addEventListener(ASREvents.Result, function () {});
  Logger.write('not reached');
});`, nil)
	info := e.start(t, "")
	r := e.logs.wait(t, 5*time.Second, "uncaught createASR", func(r record) bool {
		return r["level"] == "ERROR" && r["kind"] == "exception"
	})
	if !strings.Contains(r.str("err"), "Error: VoxEngine.createASR is not supported by callstream: stream the audio") ||
		r.str("at") != "scenario.js:4:32" || !strings.Contains(r.str("msg"), "the session goes on") {
		t.Errorf("record %v", r)
	}
	e.logs.waitText(t, 5*time.Second, "later")
	e.waitEnded(t, info.ID, 5*time.Second)
	for _, s := range e.logs.texts(info.ID) {
		if s == "not reached" {
			t.Error("the handler went on after the throw")
		}
	}
}

// TestUnhandledRejection checks that a promise rejected without a handler
// is logged with the place of the code that rejected it and of the Error,
// that one handled in the same callback is not, and that the session goes on.
func TestUnhandledRejection(t *testing.T) {
	e := newEnv(t, `
async function fails() {
  await null;
  throw new Error('async failure');
}
VoxEngine.addEventListener(AppEvents.Started, function () {
  Promise.reject('plain reason');
  var handled = Promise.reject(new Error('handled'));
  handled.catch(function () {});
  fails();
  setTimeout(function () { Logger.write('went on'); VoxEngine.terminate(); }, 100);
});`, nil)
	info := e.start(t, "")
	e.logs.waitText(t, 5*time.Second, "went on")
	e.waitEnded(t, info.ID, 5*time.Second)
	var got []record
	for _, r := range e.logs.all() {
		if r["level"] == "ERROR" && strings.Contains(r.str("msg"), "promise rejected without a handler") {
			got = append(got, r)
		}
	}
	if len(got) != 2 {
		t.Fatalf("%d rejections logged, want 2: %v", len(got), got)
	}
	if got[0].str("err") != "plain reason" || got[0].str("at") != "scenario.js:7:17" {
		t.Errorf("plain rejection %v", got[0])
	}
	if got[1].str("err") != "Error: async failure" || got[1].str("origin") != "scenario.js:4:9" {
		t.Errorf("async rejection %v", got[1])
	}
}

// TestTerminateDeliversHTTP checks that terminate() right after
// Net.httpRequestAsync and Net.httpRequest lets both requests reach a
// server that answers after 300 ms, and that their callbacks do not run.
func TestTerminateDeliversHTTP(t *testing.T) {
	var delivered, cancelled atomic.Int32
	srv := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(300 * time.Millisecond):
			delivered.Add(1)
			_, _ = w.Write([]byte("ok"))
		case <-r.Context().Done():
			cancelled.Add(1)
		}
	}))
	e := newEnv(t, `
VoxEngine.addEventListener(AppEvents.Started, function () {
  Net.httpRequestAsync(VoxEngine.customData() + '/async', {method: 'POST', postData: 'last'}).then(function () {
    Logger.write('promise ran');
  });
  Net.httpRequest(VoxEngine.customData() + '/callback', function () { Logger.write('callback ran'); });
  VoxEngine.terminate();
});`, nil)
	info := e.start(t, srv)
	e.waitEnded(t, info.ID, 5*time.Second)
	if d, c := delivered.Load(), cancelled.Load(); d != 2 || c != 0 {
		t.Errorf("%d requests answered, %d cancelled; want 2 and 0", d, c)
	}
	if texts := e.logs.texts(info.ID); len(texts) != 0 {
		t.Errorf("callbacks ran after terminate: %q", texts)
	}
}
