// Package codec owns the gateway's audio codecs and sample-rate conversion:
// G.711 µ-law and A-law, 16-bit linear PCM, and the polyphase resampler. It
// works on samples and bytes in memory, does no I/O and starts no
// goroutines.
package codec
