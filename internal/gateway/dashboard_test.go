package gateway_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/callstream/callstream/internal/gatewaytest"
)

// dashboardFile is the Grafana dashboard shipped for the gateway.
const dashboardFile = "../../deploy/grafana/callstream.json"

// metricName matches the metric names a PromQL expression queries.
var metricName = regexp.MustCompile(`\b(?:callstream|process|go)_[a-z0-9_]+`)

// exprs returns every PromQL expression in a decoded dashboard: the
// panels' targets and the template variables' queries.
func exprs(v any) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && (k == "expr" || k == "definition") {
				out = append(out, s)
				continue
			}
			out = append(out, exprs(x)...)
		}
	case []any:
		for _, x := range v {
			out = append(out, exprs(x)...)
		}
	}
	return out
}

// The dashboard is valid JSON with a Prometheus data source variable, and
// every metric it queries is exported by a running gateway, so the two
// cannot drift apart; it shows each family the gateway is watched by.
func TestDashboardQueriesExistingMetrics(t *testing.T) {
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var dash map[string]any
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if dash["uid"] != "callstream" || dash["title"] == "" {
		t.Fatalf("uid %v title %v", dash["uid"], dash["title"])
	}
	vars, _ := dash["templating"].(map[string]any)["list"].([]any)
	hasDS := false
	for _, v := range vars {
		if m := v.(map[string]any); m["type"] == "datasource" && m["query"] == "prometheus" && m["name"] == "datasource" {
			hasDS = true
		}
	}
	if !hasDS {
		t.Fatal("no Prometheus data source variable named datasource")
	}
	for _, p := range dash["panels"].([]any) {
		p := p.(map[string]any)
		if p["type"] == "row" {
			continue
		}
		if ds, _ := p["datasource"].(map[string]any); ds["uid"] != "${datasource}" {
			t.Errorf("panel %q: datasource %v, want the variable", p["title"], p["datasource"])
		}
		if ts, _ := p["targets"].([]any); len(ts) == 0 {
			t.Errorf("panel %q has no query", p["title"])
		}
	}

	queried := map[string]bool{}
	for _, e := range exprs(dash) {
		for _, name := range metricName.FindAllString(e, -1) {
			queried[name] = true
		}
	}
	env := gatewaytest.Start(t, gatewaytest.Options{})
	exported := map[string]bool{}
	for series := range scrape(t, env) {
		name, _, _ := strings.Cut(series, "{")
		exported[name] = true
	}
	for name := range queried {
		if !exported[name] {
			t.Errorf("the dashboard queries %s, which the gateway does not export", name)
		}
	}
	for _, want := range []string{"callstream_calls_active", "callstream_calls_ended_total", "callstream_streams_active",
		"callstream_inbound_frames_total", "callstream_outbound_frames_total", "callstream_stream_media_dropped_total",
		"callstream_outbound_late_frames_total", "callstream_stream_frame_latency_seconds_bucket",
		"callstream_stream_queue_frames_bucket", "callstream_ws_connect_seconds_bucket", "callstream_ws_connect_errors_total",
		"callstream_app_fetch_seconds_bucket", "callstream_app_fetch_errors_total", "callstream_refusals_total",
		"process_resident_memory_bytes", "process_open_fds", "go_goroutines"} {
		if !queried[want] {
			t.Errorf("the dashboard does not show %s", want)
		}
	}
	if t.Failed() {
		names := make([]string, 0, len(queried))
		for n := range queried {
			names = append(names, n)
		}
		slices.Sort(names)
		t.Logf("queried: %v", names)
	}
}
