// Package codec owns the gateway's audio codecs and sample-rate conversion.
//
// A Format names what a frame's bytes are by SDP encoding name, clock rate
// and channels (PCMU, PCMA, G722, opus, L16), never by RTP payload type;
// Lookup finds one as an rtpmap line gives it and Preferred lists what the
// gateway offers. NewDecoder and NewEncoder make the stateful codecs of one
// stream: G.711 µ-law and A-law, 16-bit linear PCM in either byte order,
// G.722 at 64 kbit/s (pure Go, bit-exact with the ITU-T algorithm), and Opus
// (libopus through cgo, in a build with the opus tag; without it the codec
// is registered but unavailable). The polyphase Resampler converts between
// 8, 16 and 48 kHz.
//
// Frames flow through Writer stages chained as decorators; Convert builds
// the chain from one Format to another in one place: the bytes themselves
// when the formats are the same, else one decode, a resample if the rates
// differ, and one encode. No stage allocates per frame once warm.
//
// The package works on samples and bytes in memory, does no I/O and starts
// no goroutines.
package codec
