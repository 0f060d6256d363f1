package codec

import (
	"strconv"
	"strings"
	"time"
)

// FrameDuration is the audio one frame carries: the gateway's packet time.
const FrameDuration = 20 * time.Millisecond

// framesPerSecond is how many frames of FrameDuration make one second.
const framesPerSecond = int(time.Second / FrameDuration)

// SDP encoding names of the codecs this package knows, as registered with
// IANA (RFC 3551, RFC 7587). Lookup compares them ignoring case.
const (
	NamePCMU = "PCMU"
	NamePCMA = "PCMA"
	NameG722 = "G722"
	NameOpus = "opus"
	NameL16  = "L16"
)

// Format says what a frame's bytes are: the codec by its SDP encoding name
// and clock rate, the sample rate of the audio inside, and the SDP channel
// count. Formats are values: compare them with == or, ignoring the decode
// rate of a codec that can decode at several, with SameEncoding.
type Format struct {
	Name     string // SDP encoding name as registered: "PCMU", "PCMA", "G722", "opus", "L16"
	Clock    int    // SDP clock rate, the RTP timestamp rate (G722: 8000, RFC 3551; opus: 48000)
	Rate     int    // sample rate of the audio (G722: 16000; opus: 48000 or a lower decode rate; L16: 8000/16000/48000)
	Channels int    // SDP channels (opus: 2 on the SDP line, decoded and encoded mono)
	// BigEndian marks L16 in network byte order, as RTP carries it (RFC 3551);
	// false is little-endian, as the WebSocket dialects carry it. Only L16
	// sets it.
	BigEndian bool
}

// The formats of the codecs the gateway speaks to callers. L16 is built by
// L16 (WebSocket, little-endian) and L16BE (RTP, big-endian).
var (
	// PCMU is G.711 µ-law at 8 kHz: one byte per sample, static payload type 0.
	PCMU = Format{Name: NamePCMU, Clock: 8000, Rate: 8000, Channels: 1}
	// PCMA is G.711 A-law at 8 kHz: one byte per sample, static payload type 8.
	PCMA = Format{Name: NamePCMA, Clock: 8000, Rate: 8000, Channels: 1}
	// G722 is G.722 at 64 kbit/s: 16 kHz audio, one byte per two samples,
	// written G722/8000 on the SDP line (RFC 3551), static payload type 9.
	G722 = Format{Name: NameG722, Clock: 8000, Rate: 16000, Channels: 1}
	// Opus is Opus as RTP carries it (RFC 7587): opus/48000/2 on the SDP line,
	// audio decoded at 48 kHz mono unless WithRate asks for less.
	Opus = Format{Name: NameOpus, Clock: 48000, Rate: 48000, Channels: 2}
)

// L16 returns 16-bit linear PCM at rate, mono, little-endian: the PCM of the
// WebSocket dialects ("audio/l16;rate=16000", Voximplant's PCM16) and of the
// gateway's own linear frames.
func L16(rate int) Format {
	return Format{Name: NameL16, Clock: rate, Rate: rate, Channels: 1}
}

// L16BE returns 16-bit linear PCM at rate, mono, in network byte order: L16
// as RTP carries it (RFC 3551).
func L16BE(rate int) Format {
	return Format{Name: NameL16, Clock: rate, Rate: rate, Channels: 1, BigEndian: true}
}

// opusRates are the rates libopus encodes from and decodes to.
var opusRates = [...]int{8000, 12000, 16000, 24000, 48000}

// WithRate returns f with its audio at rate: for Opus, which decodes to and
// encodes from 8, 12, 16, 24 or 48 kHz, the rate its PCM side runs at. The
// wire bytes are the same whatever the rate (SameEncoding still holds).
// Other codecs have one rate; NewDecoder and NewEncoder refuse a Format
// whose rate is not its codec's.
func (f Format) WithRate(rate int) Format {
	f.Rate = rate
	return f
}

// FrameSamples returns the number of samples of one 20 ms frame at Rate:
// PCMU 160, G722 320, L16/16000 320, opus 960.
func (f Format) FrameSamples() int { return f.Rate / framesPerSecond }

// FrameTicks returns how far one 20 ms frame advances the RTP timestamp: a
// frame's duration at Clock (G722 160, opus 960).
func (f Format) FrameTicks() int { return f.Clock / framesPerSecond }

// MaxFrameBytes returns the largest payload of one 20 ms frame in f:
// G.711 and G.722 160, L16 two bytes per sample, opus 1275 (the largest
// single Opus frame, RFC 6716 §3.4; the gateway's own encoder makes far
// smaller ones). 0 for a Format this package does not know.
func (f Format) MaxFrameBytes() int {
	switch {
	case strings.EqualFold(f.Name, NamePCMU), strings.EqualFold(f.Name, NamePCMA):
		return f.FrameSamples()
	case strings.EqualFold(f.Name, NameG722):
		return f.FrameSamples() / 2
	case strings.EqualFold(f.Name, NameL16):
		return 2 * f.FrameSamples()
	case strings.EqualFold(f.Name, NameOpus):
		return maxOpusFrame
	}
	return 0
}

// maxOpusFrame is the largest Opus frame (RFC 6716 §3.4).
const maxOpusFrame = 1275

// SameEncoding reports whether frames of f and g carry the same bytes:
// the same codec (names compared ignoring case), clock, channels and byte
// order. The decode rate of Opus does not count: its packets are the same.
// Where it holds, bytes pass from one to the other unchanged.
func (f Format) SameEncoding(g Format) bool {
	return strings.EqualFold(f.Name, g.Name) && f.Clock == g.Clock &&
		f.channels() == g.channels() && f.BigEndian == g.BigEndian
}

// channels returns Channels with the SDP default (1) for 0.
func (f Format) channels() int {
	if f.Channels == 0 {
		return 1
	}
	return f.Channels
}

// String returns the SDP rtpmap form of f, with the audio rate in
// parentheses where it differs from the clock and the byte order of
// big-endian L16: "PCMU/8000", "G722/8000(16000)", "opus/48000/2",
// "opus/48000/2(16000)", "L16/16000", "L16/16000(BE)".
func (f Format) String() string {
	var b strings.Builder
	b.Grow(24)
	b.WriteString(f.Name)
	b.WriteByte('/')
	b.WriteString(strconv.Itoa(f.Clock))
	if c := f.channels(); c != 1 {
		b.WriteByte('/')
		b.WriteString(strconv.Itoa(c))
	}
	if f.Rate != f.Clock {
		b.WriteByte('(')
		b.WriteString(strconv.Itoa(f.Rate))
		b.WriteByte(')')
	}
	if f.BigEndian {
		b.WriteString("(BE)")
	}
	return b.String()
}

// opusSilence is a complete Opus packet that decodes to 20 ms of silence: a
// single CELT-only fullband 20 ms mono frame (TOC 0xF8) whose range-coded
// body signals silence.
var opusSilence = [...]byte{0xF8, 0xFF, 0xFE}
