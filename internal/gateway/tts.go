package gateway

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/callstream/callstream/internal/tts"
)

// ttsMetrics counts the work of the gateway's speech synthesizer
// (tts.Metrics): callstream_tts_syntheses_total and
// callstream_tts_cache_hits_total.
type ttsMetrics struct {
	syntheses, hits prometheus.Counter
}

func newTTSMetrics() *ttsMetrics {
	return &ttsMetrics{
		syntheses: prometheus.NewCounter(prometheus.CounterOpts{Name: "callstream_tts_syntheses_total",
			Help: "Runs of the text-to-speech program (Say, a scenario's say and TTS players)."}),
		hits: prometheus.NewCounter(prometheus.CounterOpts{Name: "callstream_tts_cache_hits_total",
			Help: "Speech served without a run of its own: from the cache, or shared with a run under way."}),
	}
}

// TTSSynthesized counts one run of the synthesizer.
func (m *ttsMetrics) TTSSynthesized() { m.syntheses.Inc() }

// TTSCacheHit counts one speech served without a run of its own.
func (m *ttsMetrics) TTSCacheHit() { m.hits.Inc() }

// newSynth builds the gateway's one speech synthesizer, shared by FlexML
// and scenarios, and says once at start-up when its program is missing.
func newSynth(cfg Config, log *slog.Logger, m *ttsMetrics) *tts.Synth {
	cache := cfg.TTSCacheBytes
	s := tts.New(tts.Config{Command: cfg.TTSCommand, CacheBytes: cache, Logger: log, Metrics: m})
	if err := s.Available(); err != nil {
		log.Warn("Say is skipped: "+s.Command()+" not found; install the espeak-ng package", "err", err)
	}
	return s
}
