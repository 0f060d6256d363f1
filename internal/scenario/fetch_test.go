package scenario

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/fetch"
	"github.com/callstream/callstream/internal/limit"
	"github.com/callstream/callstream/internal/limit/limittest"
)

// A scenario's Net requests, URL players and WebSockets go through the
// client the gateway hands it: refused addresses fail with the rule named
// and are counted and logged with the session; allowed ones work, and two
// players of one URL share one download.
func TestScenarioFetchPolicy(t *testing.T) {
	var hits atomic.Int32
	audio := newHTTPServer(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.Header().Set("Cache-Control", "max-age=60")
		_, _ = w.Write(assets.PromptWAV())
	}))
	var counted limittest.Counts
	client := fetch.New(fetch.Config{Refusals: &counted})
	t.Cleanup(client.Close)
	e := newEnv(t, `
VoxEngine.addEventListener(AppEvents.Started, async function () {
  var cfg = JSON.parse(VoxEngine.customData());
  var res = await Net.httpRequestAsync('http://169.254.169.254/latest/meta-data/?token=QSECRET');
  Logger.write('net ' + res.code + ' ' + res.error);
  var own = await Net.httpRequestAsync(cfg.own + '/scenarios');
  Logger.write('own ' + own.code + ' ' + own.error);
  var bad = VoxEngine.createURLPlayer('http://169.254.169.254/a.wav');
  bad.addEventListener(PlayerEvents.PlaybackFinished, function (e) { Logger.write('player ' + e.error); });
  var ws = new WebSocket('ws://169.254.169.254/socket?token=QSECRET');
  ws.onclose = function (e) { Logger.write('ws closed ' + e.code); };
  var ready = 0;
  [1, 2].forEach(function (i) {
    var p = VoxEngine.createURLPlayer(cfg.audio + '/prompt.wav');
    p.addEventListener(PlayerEvents.PlaybackReady, function (e) {
      Logger.write('ready ' + i + ' ' + e.duration);
      p.stop();
      if (++ready === 2) Logger.write('both ready');
    });
  });
});`, func(cfg *Config) { cfg.Fetch = client })
	own := "http://" + e.srv.Listener.Addr().String()
	if err := client.Policy().AddOwn(e.srv.Listener.Addr().String()); err != nil {
		t.Fatal(err)
	}
	info := e.start(t, `{"own":"`+own+`","audio":"`+audio+`"}`)
	net := e.logs.waitText(t, 5*time.Second, "net *")
	if !strings.HasPrefix(net, "net -1 ") || !strings.Contains(net, "link-local and cloud-metadata addresses are refused") {
		t.Errorf("Net request: %q", net)
	}
	if got := e.logs.waitText(t, 5*time.Second, "own *"); !strings.Contains(got, "the gateway's own listeners are refused") {
		t.Errorf("Net request to the gateway: %q", got)
	}
	if got := e.logs.waitText(t, 5*time.Second, "player *"); !strings.Contains(got, "link-local") {
		t.Errorf("player: %q", got)
	}
	e.logs.waitText(t, 5*time.Second, "ws closed *")
	e.logs.waitText(t, 5*time.Second, "both ready")
	if n := counted.Get(limit.URLPolicy); n != 4 {
		t.Errorf("%d refusals counted, want 4", n)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("two players of one URL made %d requests, want 1", n)
	}
	lines := 0
	for _, r := range e.logs.all() {
		if r["msg"] == "fetch refused by the URL policy" {
			lines++
			if r["session_id"] != info.ID {
				t.Errorf("refusal logged without the session: %v", r)
			}
		}
	}
	if lines != 4 {
		t.Errorf("%d refusal lines, want 4:\n%s", lines, e.logs.dump())
	}
	if strings.Contains(e.logs.dump(), "QSECRET") {
		t.Error("a query string reached the log")
	}
}
