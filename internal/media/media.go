// Package media holds the gateway's sample-level audio code: G.711 µ-law and
// A-law conversion, PCM16 helpers, mixing, WAV reading and writing, and
// resampling between 8 kHz and 16 kHz. It does no I/O beyond io.Reader and
// io.Writer and starts no goroutines.
package media

import "time"

// Telephony frame geometry: 8 kHz mono audio carried in 20 ms frames.
const (
	// SampleRate is the telephony sample rate in Hz.
	SampleRate = 8000
	// FrameDuration is the length of one media frame.
	FrameDuration = 20 * time.Millisecond
	// FrameSamples is the number of samples in one frame at SampleRate.
	FrameSamples = 160
)
