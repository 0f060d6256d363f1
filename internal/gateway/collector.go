package gateway

import (
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/callstream/callstream/internal/call"
	"github.com/callstream/callstream/internal/sip"
	"github.com/callstream/callstream/internal/stream"
)

// outcome names how a call ended, from its dialog's typed end cause (and,
// for an outgoing call that was never answered, why its dial failed).
func outcome(st call.Stats, dialErr error) string {
	answered := !st.AnsweredAt.IsZero()
	switch {
	case answered && st.EndCause == sip.EndRemoteBye:
		return OutcomeRemoteHangup
	case answered && st.EndCause == sip.EndError:
		return OutcomeFailed
	case answered:
		return OutcomeGatewayHangup
	case st.EndCause == sip.EndCancel || st.EndCause == sip.EndRemoteBye:
		return OutcomeCancelled
	case st.EndCause == sip.EndRejected:
		return OutcomeRejected
	case errors.Is(dialErr, sip.ErrDialCancelled):
		return OutcomeCancelled
	}
	return OutcomeFailed
}

// mediaTotals are the media counters of calls and sockets.
type mediaTotals struct {
	framesIn, concealed, framesOut, silenceOut, lateFrames uint64 // calls
	rtpLost, rtpLate, rtpDuplicates, rtpReanchors          uint64 // calls' jitter buffers
	mediaSent, mediaDropped, playoutDrops                  uint64 // sockets
}

func (t *mediaTotals) addCall(n call.Counters) {
	t.framesIn += n.FramesIn
	t.concealed += n.Concealed
	t.silenceOut += n.SilenceOut
	t.rtpDuplicates += n.Duplicates
	t.rtpReanchors += n.Reanchors
	t.framesOut += n.FramesOut
	t.lateFrames += n.LateFrames
	t.rtpLost += n.RTPLost
	t.rtpLate += n.RTPLate
}

func (t *mediaTotals) addSocket(st stream.SocketStats) {
	t.mediaSent += st.MediaSent
	t.mediaDropped += st.MediaDropped
	t.playoutDrops += st.PlayoutDrops
}

// liveMedia is a prometheus.Collector of the running calls and sockets: at
// scrape time it adds their counters (atomics, read without their locks) to
// the totals of those that ended. A call or socket is folded into the totals
// and forgotten under the same lock a scrape takes, after it has stopped
// counting, so every counter only grows and nothing is counted twice.
type liveMedia struct {
	mu      sync.Mutex
	calls   map[*call.Call]struct{}
	sockets map[*stream.Socket]string // dialect
	active  map[string]int            // streams running, by dialect
	ended   mediaTotals

	callsActive, streamsActive                       *prometheus.Desc
	framesIn, concealed, framesOut, silenceOut, late *prometheus.Desc
	rtpLost, rtpLate, rtpDuplicates, rtpReanchors    *prometheus.Desc
	mediaSent, mediaDropped, playoutDropBytes        *prometheus.Desc
}

func newLiveMedia() *liveMedia {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &liveMedia{
		calls:         map[*call.Call]struct{}{},
		sockets:       map[*stream.Socket]string{},
		active:        map[string]int{},
		callsActive:   d("callstream_calls_active", "Calls in progress."),
		streamsActive: d("callstream_streams_active", "Streams running now, by dialect.", "dialect"),
		framesIn:      d("callstream_inbound_frames_total", "Inbound 20 ms slots of callers' audio taken from the jitter buffer in time."),
		concealed:     d("callstream_rtp_concealed_frames_total", "Inbound 20 ms slots concealed (silence or packet-loss concealment): nothing arrived by their deadline, pauses included."),
		framesOut:     d("callstream_outbound_frames_total", "RTP frames of audio played to callers."),
		silenceOut:    d("callstream_outbound_silence_frames_total", "RTP packets of silence or comfort noise sent to callers while nothing played."),
		late:          d("callstream_outbound_late_frames_total", "Outbound frames played after their 20 ms tick (the app's audio came late)."),
		rtpLost:       d("callstream_rtp_lost_frames_total", "Inbound 20 ms slots inside a talkspurt whose RTP never arrived."),
		rtpLate:       d("callstream_rtp_late_packets_total", "Inbound RTP packets dropped because their slot had already been played."),
		rtpDuplicates: d("callstream_rtp_duplicate_packets_total", "Inbound RTP packets dropped because their audio was already held or played."),
		rtpReanchors:  d("callstream_rtp_reanchors_total", "New jitter buffer timelines: talkspurt starts, source changes, timestamp jumps."),
		mediaSent:     d("callstream_stream_media_sent_total", "Media messages written to apps."),
		mediaDropped:  d("callstream_stream_media_dropped_total", "Media frames dropped because an app was slow."),
		playoutDropBytes: d("callstream_playout_dropped_bytes_total",
			"App audio bytes dropped: more than the playout limit queued."),
	}
}

// dialect makes sure streams_active shows dialect, at zero until used.
func (l *liveMedia) dialect(name string) {
	l.mu.Lock()
	l.active[name] += 0
	l.mu.Unlock()
}

func (l *liveMedia) addCall(c *call.Call) {
	l.mu.Lock()
	l.calls[c] = struct{}{}
	l.mu.Unlock()
}

// removeCall folds c's final counters into the totals; c must have stopped
// counting (closed).
func (l *liveMedia) removeCall(c *call.Call) {
	n := c.Counters()
	l.mu.Lock()
	if _, ok := l.calls[c]; ok {
		delete(l.calls, c)
		l.ended.addCall(n)
	}
	l.mu.Unlock()
}

func (l *liveMedia) addSocket(s *stream.Socket, dialect string) {
	l.mu.Lock()
	l.sockets[s] = dialect
	l.active[dialect]++
	l.mu.Unlock()
}

// removeSocket folds s's final counters into the totals; s must have ended.
func (l *liveMedia) removeSocket(s *stream.Socket) {
	st := s.Stats()
	l.mu.Lock()
	if dialect, ok := l.sockets[s]; ok {
		delete(l.sockets, s)
		l.active[dialect]--
		l.ended.addSocket(st)
	}
	l.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (l *liveMedia) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{l.callsActive, l.streamsActive, l.framesIn, l.concealed, l.framesOut,
		l.silenceOut, l.late, l.rtpLost, l.rtpLate, l.rtpDuplicates, l.rtpReanchors, l.mediaSent, l.mediaDropped,
		l.playoutDropBytes} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (l *liveMedia) Collect(ch chan<- prometheus.Metric) {
	l.mu.Lock()
	t := l.ended
	for c := range l.calls {
		t.addCall(c.Counters())
	}
	for s := range l.sockets {
		t.addSocket(s.Stats())
	}
	calls := len(l.calls)
	active := make(map[string]int, len(l.active))
	for d, n := range l.active {
		active[d] = n
	}
	l.mu.Unlock()

	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge(l.callsActive, float64(calls))
	for d, n := range active {
		gauge(l.streamsActive, float64(n), d)
	}
	counter(l.framesIn, t.framesIn)
	counter(l.concealed, t.concealed)
	counter(l.framesOut, t.framesOut)
	counter(l.silenceOut, t.silenceOut)
	counter(l.rtpDuplicates, t.rtpDuplicates)
	counter(l.rtpReanchors, t.rtpReanchors)
	counter(l.late, t.lateFrames)
	counter(l.rtpLost, t.rtpLost)
	counter(l.rtpLate, t.rtpLate)
	counter(l.mediaSent, t.mediaSent)
	counter(l.mediaDropped, t.mediaDropped)
	counter(l.playoutDropBytes, t.playoutDrops)
}
