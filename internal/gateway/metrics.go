package gateway

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/callstream/callstream/internal/call"
	"github.com/callstream/callstream/internal/limit"
	"github.com/callstream/callstream/internal/stream"
)

// Metrics are the gateway's Prometheus counters.
type Metrics struct {
	calls         prometheus.Counter
	callsEnded    *prometheus.CounterVec
	framesIn      prometheus.Counter
	framesOut     prometheus.Counter
	rtpLost       prometheus.Counter
	streams       *prometheus.CounterVec
	streamsActive prometheus.Gauge
	streamErrors  prometheus.Counter
	mediaSent     prometheus.Counter
	mediaDropped  prometheus.Counter
	playoutDrops  prometheus.Counter
	refusals      *prometheus.CounterVec
}

// NewMetrics makes unregistered metrics.
func NewMetrics() *Metrics {
	return &Metrics{
		calls:         prometheus.NewCounter(prometheus.CounterOpts{Name: "callstream_calls_total", Help: "Calls received."}),
		callsEnded:    prometheus.NewCounterVec(prometheus.CounterOpts{Name: "callstream_calls_ended_total", Help: "Calls ended, by whether they were answered."}, []string{"answered"}),
		framesIn:      prometheus.NewCounter(prometheus.CounterOpts{Name: "callstream_inbound_frames_total", Help: "Inbound 20 ms frames handed to streams."}),
		framesOut:     prometheus.NewCounter(prometheus.CounterOpts{Name: "callstream_outbound_frames_total", Help: "RTP frames played to callers."}),
		rtpLost:       prometheus.NewCounter(prometheus.CounterOpts{Name: "callstream_rtp_lost_frames_total", Help: "Inbound RTP frames declared lost."}),
		streams:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "callstream_streams_total", Help: "Streams started, by dialect."}, []string{"dialect"}),
		streamsActive: prometheus.NewGauge(prometheus.GaugeOpts{Name: "callstream_streams_active", Help: "Streams running now."}),
		streamErrors:  prometheus.NewCounter(prometheus.CounterOpts{Name: "callstream_stream_errors_total", Help: "Streams ended by an error (connect failed, app stopped reading, ...)."}),
		mediaSent:     prometheus.NewCounter(prometheus.CounterOpts{Name: "callstream_stream_media_sent_total", Help: "Media messages written to apps."}),
		mediaDropped:  prometheus.NewCounter(prometheus.CounterOpts{Name: "callstream_stream_media_dropped_total", Help: "Media frames dropped because an app was slow."}),
		playoutDrops:  prometheus.NewCounter(prometheus.CounterOpts{Name: "callstream_playout_dropped_bytes_total", Help: "App audio bytes dropped: playout buffer full."}),
		refusals:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "callstream_refusals_total", Help: "Things a limit refused or cut short, by limit."}, []string{"limit"}),
	}
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.calls, m.callsEnded, m.framesIn, m.framesOut, m.rtpLost, m.streams,
		m.streamsActive, m.streamErrors, m.mediaSent, m.mediaDropped, m.playoutDrops, m.refusals}
}

func (m *Metrics) callStarted() { m.calls.Inc() }

func (m *Metrics) callEnded(st call.Stats) {
	answered := "false"
	if !st.AnsweredAt.IsZero() {
		answered = "true"
	}
	m.callsEnded.WithLabelValues(answered).Inc()
	m.framesIn.Add(float64(st.FramesIn))
	m.framesOut.Add(float64(st.FramesOut))
	m.rtpLost.Add(float64(st.RTP.Lost))
}

// StreamStarted counts a stream that started.
func (m *Metrics) StreamStarted(dialect string) {
	m.streams.WithLabelValues(dialect).Inc()
	m.streamsActive.Inc()
}

// StreamEnded counts a stream that ended.
func (m *Metrics) StreamEnded(st stream.SocketStats, err error) {
	m.streamsActive.Dec()
	if err != nil {
		m.streamErrors.Inc()
	}
	m.mediaSent.Add(float64(st.MediaSent))
	m.mediaDropped.Add(float64(st.MediaDropped))
	m.playoutDrops.Add(float64(st.PlayoutDrops))
}

// Refused counts one refusal by a limit.
func (m *Metrics) Refused(r limit.Refusal) { m.refusals.WithLabelValues(string(r)).Inc() }
