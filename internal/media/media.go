// Package media holds the gateway's audio containers and the helpers around
// them that are not codecs: WAV reading and writing, conversion of a file's
// audio to a call's format once at load (Convert, Audio.Encode), and mixing. Codecs and resampling live in
// package codec. It does no I/O beyond io.Reader and io.Writer and starts no
// goroutines.
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
