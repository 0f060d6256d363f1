package gateway_test

import (
	"testing"
	"time"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/gateway"
	"github.com/callstream/callstream/internal/gatewaytest"
	"github.com/callstream/callstream/internal/limit"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipcaller"
)

// scrape reads the gateway's /metrics.
func scrape(t *testing.T, env *gatewaytest.Env) servetest.Metrics {
	t.Helper()
	m, err := servetest.Scrape("http://" + env.GW.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Every limit and every outcome shows at zero on an idle gateway, so
// dashboards have their series before the first refusal.
func TestMetricsZeroInitialised(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{})
	m := scrape(t, env)
	for _, r := range limit.All() {
		key := servetest.SeriesKey("callstream_refusals_total", "limit="+string(r))
		if v, ok := m[key]; !ok || v != 0 {
			t.Errorf("%s = %v (present %v), want 0", key, v, ok)
		}
	}
	for _, o := range []string{gateway.OutcomeRemoteHangup, gateway.OutcomeGatewayHangup, gateway.OutcomeRejected,
		gateway.OutcomeCancelled, gateway.OutcomeFailed} {
		if _, ok := m[servetest.SeriesKey("callstream_calls_ended_total", "outcome="+o)]; !ok {
			t.Errorf("no calls_ended_total{outcome=%q}", o)
		}
	}
	for _, name := range []string{"callstream_inbound_frames_total", "callstream_stream_frame_latency_seconds_count",
		"callstream_ws_connect_seconds_count", "callstream_app_fetch_seconds_count", "callstream_calls_active",
		"callstream_rtp_ports_in_use", "callstream_draining",
		"callstream_rtp_late_packets_total", "callstream_rtp_lost_frames_total", "callstream_rtp_concealed_frames_total",
		"callstream_rtp_duplicate_packets_total", "callstream_rtp_reanchors_total", "callstream_outbound_silence_frames_total",
		"callstream_rtp_jitter_seconds_count", "callstream_jitter_buffer_delay_seconds_count"} {
		if _, ok := m[name]; !ok {
			t.Errorf("no %s", name)
		}
	}
}

// Metrics move while a call streams: frames in and media sent grow between
// two scrapes, calls and streams are active, the latency, queue-depth,
// connect and fetch histograms have observations; after the hangup the
// counters keep their values and the call counts as remote_hangup.
func TestMetricsMoveWhileCallRuns(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{})
	env.App.Doc("/app", streamDoc)
	c := env.Dial(sipcaller.Config{})
	conn := env.Accept()
	go func() { _ = c.SendAudio(env.Context(20*time.Second), assets.Speech()) }()
	if err := conn.WaitFor(env.Context(5*time.Second), 20); err != nil {
		t.Fatal(err)
	}
	first := scrape(t, env)
	var second servetest.Metrics
	waitFor(t, 5*time.Second, func() bool {
		second = scrape(t, env)
		return second.Get("callstream_inbound_frames_total") >= first.Get("callstream_inbound_frames_total")+10 &&
			second.Get("callstream_stream_media_sent_total") >= first.Get("callstream_stream_media_sent_total")+10 &&
			second.Get("callstream_stream_frame_latency_seconds_count") > 0 &&
			second.Get("callstream_stream_queue_frames_count") > 0
	}, "frames, media and samples counted while the call runs")
	// Every slot the app got is the caller's audio or a concealed one
	// (before the caller's first packet came through the jitter buffer).
	if slots := first.Get("callstream_inbound_frames_total") + first.Get("callstream_rtp_concealed_frames_total"); slots < 10 {
		t.Fatalf("inbound slots %v at the first scrape, with 20 messages at the app", slots)
	}
	for name, want := range map[string]float64{
		"callstream_calls_active":             1,
		"callstream_calls_total":              1,
		"callstream_ws_connect_seconds_count": 1,
		"callstream_app_fetch_seconds_count":  1,
		"callstream_app_fetch_errors_total":   0,
	} {
		if got := second.Get(name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if got := second.Get("callstream_streams_active", "dialect=carrierx"); got != 1 {
		t.Errorf("streams_active{carrierx} = %v, want 1", got)
	}
	if got := second.Get("callstream_outbound_frames_total"); got != 0 {
		t.Errorf("outbound frames %v with nothing played", got)
	}

	if err := c.Hangup(env.Context(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	gatewaytest.WaitClosed(t, conn, 5*time.Second)
	var after servetest.Metrics
	waitFor(t, 5*time.Second, func() bool {
		after = scrape(t, env)
		return after.Get("callstream_calls_active") == 0 && after.Get("callstream_streams_active", "dialect=carrierx") == 0
	}, "the call and its stream released")
	if after.Get("callstream_inbound_frames_total") < second.Get("callstream_inbound_frames_total") ||
		after.Get("callstream_stream_media_sent_total") < second.Get("callstream_stream_media_sent_total") {
		t.Fatalf("counters went down at the call's end: frames %v -> %v, media %v -> %v",
			second.Get("callstream_inbound_frames_total"), after.Get("callstream_inbound_frames_total"),
			second.Get("callstream_stream_media_sent_total"), after.Get("callstream_stream_media_sent_total"))
	}
	if got := after.Get("callstream_calls_ended_total", "outcome="+gateway.OutcomeRemoteHangup); got != 1 {
		t.Fatalf("calls_ended_total{remote_hangup} = %v, want 1", got)
	}
	if got := after.Get("callstream_stream_media_sent_total"); got != float64(conn.MediaCount()) {
		t.Fatalf("media sent %v, the app got %d", got, conn.MediaCount())
	}
}
