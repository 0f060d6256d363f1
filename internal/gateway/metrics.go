package gateway

import (
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/callstream/callstream/internal/call"
	"github.com/callstream/callstream/internal/limit"
	"github.com/callstream/callstream/internal/stream"
)

// Outcomes of a call, the label of callstream_calls_ended_total.
const (
	OutcomeRemoteHangup  = "remote_hangup"  // answered; the caller (the callee of an outgoing call) hung up
	OutcomeGatewayHangup = "gateway_hangup" // answered; the gateway hung up (document end, app, timeout, shutdown)
	OutcomeRejected      = "rejected"       // not answered; the gateway sent a final refusal (Reject, app failure, 503)
	OutcomeCancelled     = "cancelled"      // not answered; the caller cancelled (or an outgoing call was given up)
	OutcomeFailed        = "failed"         // the dialog failed (no ACK, transport) or an outgoing call was refused
)

// outcomes lists every outcome, so each shows at zero.
var outcomes = []string{OutcomeRemoteHangup, OutcomeGatewayHangup, OutcomeRejected, OutcomeCancelled, OutcomeFailed}

// dialects are the stream dialects shown at zero before their first stream.
var dialects = []string{"carrierx", "twilio", "voximplant"}

// Metrics are the gateway's Prometheus metrics. Counters of media (frames,
// RTP, stream messages) are read from the running calls and sockets at
// scrape time, plus the totals of those that ended, so they move while a
// call runs; nothing is counted per frame here. Its methods are safe for
// concurrent use and never block.
type Metrics struct {
	calls        prometheus.Counter
	callsEnded   *prometheus.CounterVec
	streams      *prometheus.CounterVec
	streamErrors prometheus.Counter
	wsConnect    prometheus.Histogram
	wsErrors     prometheus.Counter
	appFetch     prometheus.Histogram
	appErrors    prometheus.Counter
	latency      prometheus.Histogram
	queueDepth   prometheus.Histogram
	refusals     *prometheus.CounterVec
	rtpJitter    prometheus.Histogram // per call, at its end
	jitterDelay  prometheus.Histogram // per call, at its end
	live         *liveMedia           // calls_active, streams_active and the media counters
}

// NewMetrics makes unregistered metrics.
func NewMetrics() *Metrics {
	m := &Metrics{
		calls: prometheus.NewCounter(prometheus.CounterOpts{Name: "callstream_calls_total",
			Help: "Calls received or placed."}),
		callsEnded: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "callstream_calls_ended_total",
			Help: "Calls ended, by outcome: remote_hangup, gateway_hangup (answered), rejected, cancelled (not answered), failed."}, []string{"outcome"}),
		streams: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "callstream_streams_total",
			Help: "Streams started, by dialect."}, []string{"dialect"}),
		streamErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "callstream_stream_errors_total",
			Help: "Streams ended by an error (connect failed, app stopped reading, ...)."}),
		wsConnect: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "callstream_ws_connect_seconds",
			Help:    "Time to open a stream's WebSocket to the app (TCP, TLS and upgrade).",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}),
		wsErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "callstream_ws_connect_errors_total",
			Help: "Stream WebSockets that could not be opened."}),
		appFetch: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "callstream_app_fetch_seconds",
			Help:    "Time to fetch a FlexML document from the app.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}),
		appErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "callstream_app_fetch_errors_total",
			Help: "FlexML document fetches that failed (network, timeout, HTTP status, size)."}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "callstream_stream_frame_latency_seconds",
			Help:    "Latency the gateway adds to the caller's audio: a sampled frame's arrival from RTP to its write to the app's WebSocket (one frame in 16).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .02, .04, .08, .16, .32, .64, 1.28, 2.56}}),
		queueDepth: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "callstream_stream_queue_frames",
			Help:    "Media frames queued towards an app when its socket's writer wakes (one wake-up in 16).",
			Buckets: []float64{0, 1, 2, 4, 8, 16, 32, 64, 128, 256}}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "callstream_refusals_total",
			Help: "Things a limit refused or cut short, by limit."}, []string{"limit"}),
		rtpJitter: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "callstream_rtp_jitter_seconds",
			Help:    "Interarrival jitter of callers' RTP (RFC 3550 estimate), one observation per answered call at its end.",
			Buckets: []float64{.001, .0025, .005, .01, .02, .04, .08, .16, .32}}),
		jitterDelay: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "callstream_jitter_buffer_delay_seconds",
			Help:    "Delay of the inbound jitter buffer (the longest an on-time packet waits), one observation per answered call at its end.",
			Buckets: []float64{.02, .04, .06, .08, .1, .12, .16, .2, .3, .5, 1}}),
		live: newLiveMedia(),
	}
	for _, o := range outcomes {
		m.callsEnded.WithLabelValues(o)
	}
	for _, d := range dialects {
		m.streams.WithLabelValues(d)
		m.live.dialect(d)
	}
	for _, r := range limit.All() {
		m.refusals.WithLabelValues(string(r))
	}
	return m
}

// collectors returns every metric to register.
func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.calls, m.callsEnded, m.streams, m.streamErrors, m.wsConnect, m.wsErrors,
		m.appFetch, m.appErrors, m.latency, m.queueDepth, m.refusals, m.rtpJitter, m.jitterDelay, m.live}
}

// Handler returns the /metrics handler of a registry of its own holding
// these metrics, the Go runtime's and the process's (go_*, process_*), and
// extra collectors.
func (m *Metrics) Handler(extra ...prometheus.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(m.collectors()...)
	reg.MustRegister(extra...)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// callStarted counts a call the gateway took on; its media counters are
// read while it runs.
func (m *Metrics) callStarted(c *call.Call) {
	m.calls.Inc()
	m.live.addCall(c)
}

// callEnded counts a released call by outcome and folds its final media
// counters into the totals.
func (m *Metrics) callEnded(c *call.Call, st call.Stats) {
	m.callsEnded.WithLabelValues(outcome(st, c.DialErr())).Inc()
	if st.Jitter.Packets > 0 {
		m.rtpJitter.Observe(st.Jitter.Jitter.Seconds())
		m.jitterDelay.Observe(st.Jitter.Delay.Seconds())
	}
	m.live.removeCall(c)
}

// StreamStarted counts a stream that started on sock.
func (m *Metrics) StreamStarted(dialect string, sock *stream.Socket) {
	m.streams.WithLabelValues(dialect).Inc()
	m.live.addSocket(sock, dialect)
}

// StreamConnected observes how long a stream's WebSocket took to open.
func (m *Metrics) StreamConnected(_ string, d time.Duration) { m.wsConnect.Observe(d.Seconds()) }

// StreamEnded counts a stream whose socket ended and folds its final
// counters into the totals.
func (m *Metrics) StreamEnded(_ string, sock *stream.Socket, err error) {
	if err != nil {
		m.streamErrors.Inc()
		if errors.Is(err, stream.ErrDial) {
			m.wsErrors.Inc()
		}
	}
	m.live.removeSocket(sock)
}

// AppFetched observes one document fetch from the app.
func (m *Metrics) AppFetched(d time.Duration, err error) {
	m.appFetch.Observe(d.Seconds())
	if err != nil {
		m.appErrors.Inc()
	}
}

// FrameLatency observes a sampled frame's way from RTP to the app.
func (m *Metrics) FrameLatency(d time.Duration) { m.latency.Observe(d.Seconds()) }

// QueueDepth observes the frames queued at a sampled writer wake-up.
func (m *Metrics) QueueDepth(frames int) { m.queueDepth.Observe(float64(frames)) }

// Refused counts one refusal by a limit.
func (m *Metrics) Refused(r limit.Refusal) { m.refusals.WithLabelValues(string(r)).Inc() }

// nodeInfo is callstream_node_info{node="..."}, always 1: the node id of
// this gateway, for dashboards and queries that join on it.
func nodeInfo(id string) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "callstream_node_info",
		Help:        "Always 1; the label node is this gateway's node id (--node-id), which its CallSids carry.",
		ConstLabels: prometheus.Labels{"node": id}})
	g.Set(1)
	return g
}
