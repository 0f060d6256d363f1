package codec

import "strings"

// Codec is one entry of the registry: a Format as SDP names it, its static
// RTP payload type if it has one, and whether this binary can encode and
// decode it. Entries are shared and read-only.
type Codec struct {
	Format
	// StaticPT is the static RTP payload type of RFC 3551 (PCMU 0, PCMA 8,
	// G722 9), or -1 for a codec that only has dynamic ones. It says what to
	// write on an m= line; an offer is read by its rtpmap name and clock,
	// never by its payload type.
	StaticPT int
	// Available reports whether this binary encodes and decodes the codec
	// (Opus needs a build with the opus tag). An unavailable codec is found
	// by Lookup, so it can be named in a refusal, but is not Preferred.
	Available bool
}

// registry holds every codec this package knows, in the gateway's order of
// preference (narrowband first) for those that Preferred returns. It is
// built once and never changed.
var registry = [...]Codec{
	{Format: PCMU, StaticPT: 0, Available: true},
	{Format: PCMA, StaticPT: 8, Available: true},
	{Format: G722, StaticPT: 9, Available: true},
	{Format: Opus, StaticPT: -1, Available: OpusAvailable},
	{Format: L16BE(8000), StaticPT: -1, Available: true},
	{Format: L16BE(16000), StaticPT: -1, Available: true},
	{Format: L16BE(48000), StaticPT: -1, Available: true},
}

// preferredCount is how many entries at the head of registry the gateway
// offers and accepts: the telephone codecs, not raw L16 over RTP.
const preferredCount = 4

// Lookup finds a codec by its SDP encoding name (any case), clock rate and
// channel count (0 means 1, the SDP default), as an rtpmap line gives them:
// Lookup("pcma", 8000, 0) for "a=rtpmap:96 PCMA/8000" — the payload type
// plays no part. G722 is found at clock 8000 (RFC 3551), opus at 48000 with
// 2 channels (RFC 7587), L16 (big-endian, as RTP carries it) at 8000, 16000
// and 48000 mono. The entry may be unavailable in this binary; check
// Available before accepting it.
func Lookup(name string, clock, channels int) (*Codec, bool) {
	if channels == 0 {
		channels = 1
	}
	for i := range registry {
		c := &registry[i]
		if strings.EqualFold(c.Name, name) && c.Clock == clock && c.channels() == channels {
			return c, true
		}
	}
	return nil, false
}

// Preferred returns the codecs the gateway offers and accepts, in its own
// order of preference: PCMU, PCMA, G722, then opus when this binary has it.
// Putting wideband first (--prefer-wideband) is the SIP layer's choice. The
// slice is new on every call; the entries are shared and read-only.
func Preferred() []*Codec {
	out := make([]*Codec, 0, preferredCount)
	for i := range registry[:preferredCount] {
		if registry[i].Available {
			out = append(out, &registry[i])
		}
	}
	return out
}
