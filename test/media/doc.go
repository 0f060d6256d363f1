// Package media holds integration tests of the media core against a real
// `callstream serve` process: codecs passed through byte for byte, wideband
// callers streamed at 16 kHz, tracks aligned slot for slot. Callers are the
// project's SIP/RTP caller on real UDP sockets; apps are real WebSocket and
// HTTP servers.
package media
