package sip

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"

	"github.com/callstream/callstream/internal/codec"
)

// Codec is an audio codec of an SDP offer or answer, as the gateway speaks
// it on RTP. It is told by encoding name, clock rate and channels (an
// rtpmap line), never by its payload type number.
type Codec struct {
	Name        string // SDP encoding name as the codec registry spells it: "PCMU", "PCMA", "G722", "opus"
	PayloadType uint8  // the RTP payload type the offer or answer gave it (static 0, 8, 9 or dynamic 96-127)
	ClockRate   int    // the RTP clock rate: 8000 (G722 too, RFC 3551), 48000 for opus
	Channels    int    // channels on the rtpmap line: 1, 2 for opus (RFC 7587)
	// Fmtp is the a=fmtp parameters the remote side gave the payload type
	// (e.g. "useinbandfec=1" for opus), "" when none: what it wants to
	// receive. The gateway writes its own parameters in its SDP.
	Fmtp string
}

// Format returns the audio format the codec carries: codec.Lookup of its
// name, clock rate and channels (codec.Opus for opus). A Codec that is not
// in the registry (the zero Codec) gives the zero Format.
func (c Codec) Format() codec.Format {
	if e, ok := codec.Lookup(c.Name, c.ClockRate, c.Channels); ok {
		return e.Format
	}
	return codec.Format{}
}

// String names the codec as an rtpmap line does, with its payload type:
// "PCMA/8000 pt 96".
func (c Codec) String() string {
	s := c.Name + "/" + strconv.Itoa(c.ClockRate)
	if c.Channels > 1 {
		s += "/" + strconv.Itoa(c.Channels)
	}
	return s + " pt " + strconv.Itoa(int(c.PayloadType))
}

// sameEncoding reports whether c and o are the same codec (name, clock and
// channels), whatever payload types they have.
func (c Codec) sameEncoding(o Codec) bool {
	return strings.EqualFold(c.Name, o.Name) && c.ClockRate == o.ClockRate && max(c.Channels, 1) == max(o.Channels, 1)
}

// wideband reports whether the codec carries audio above 8 kHz (G722, opus).
func (c Codec) wideband() bool { return c.Format().Rate > 8000 }

// SDP directions (RFC 3264).
const (
	DirSendRecv = "sendrecv"
	DirSendOnly = "sendonly"
	DirRecvOnly = "recvonly"
	DirInactive = "inactive"
)

// Offer is the caller's SDP offer, reduced to what the gateway can use.
// An SDP answer is read into the same shape.
type Offer struct {
	RTPAddr netip.AddrPort // c= address and m=audio port
	// Codecs are the audio codecs the gateway accepts (PCMU, PCMA, G722,
	// and opus in a build that has it), in the caller's order of preference.
	Codecs []Codec
	// DTMFType is the payload type of telephone-event/8000 (RFC 4733); 0
	// when not offered.
	DTMFType uint8
	// DTMF lists every telephone-event format offered, the first one of each
	// clock rate, in offer order (telephone-event/48000 goes with opus).
	DTMF []Codec
	// CNType is the payload type of CN/8000 (comfort noise, RFC 3389:
	// static 13 or dynamic); -1 when not offered.
	CNType    int
	Direction string // sendrecv (default) | sendonly | recvonly | inactive
}

// Has reports whether the offer lists codec c (same encoding and payload
// type).
func (o Offer) Has(c Codec) bool {
	for _, oc := range o.Codecs {
		if oc.sameEncoding(c) && oc.PayloadType == c.PayloadType {
			return true
		}
	}
	return false
}

// MaxSDPSize bounds an SDP body the gateway parses (an offer or an answer);
// a larger one is refused before it is read. Real offers of a few audio
// codecs take well under 2 KiB.
const MaxSDPSize = 16 << 10

// maxFormats bounds the payload types of the audio stream that are looked at.
const maxFormats = 64

// maxFmtpLen bounds the a=fmtp parameters kept for a codec; longer ones are
// dropped (real ones take a few dozen bytes).
const maxFmtpLen = 256

// maxNameLen bounds an encoding name quoted in an error.
const maxNameLen = 32

// cnStaticType is the static payload type of CN/8000 (RFC 3551).
const cnStaticType = 13

// Encoding names of the non-audio formats the gateway reads.
const (
	nameTelephoneEvent = "telephone-event"
	nameCN             = "CN"
)

// rtpmapEntry is what an a=rtpmap line says of a payload type.
type rtpmapEntry struct {
	name     string
	clock    int
	channels int // 0: not given (one)
}

// staticFormats are the static payload types (RFC 3551) an offer may list
// without an rtpmap line, among those the gateway reads.
var staticFormats = map[uint8]rtpmapEntry{
	0:            {name: codec.NamePCMU, clock: 8000},
	8:            {name: codec.NamePCMA, clock: 8000},
	9:            {name: codec.NameG722, clock: 8000},
	cnStaticType: {name: nameCN, clock: 8000},
}

// parseRtpmap reads "NAME/clock[/channels]".
func parseRtpmap(enc string) (rtpmapEntry, bool) {
	name, rest, ok := strings.Cut(strings.TrimSpace(enc), "/")
	if !ok || name == "" {
		return rtpmapEntry{}, false
	}
	clockText, chText, hasCh := strings.Cut(rest, "/")
	clock, err := strconv.Atoi(clockText)
	if err != nil || clock <= 0 || clock > 1_000_000 {
		return rtpmapEntry{}, false
	}
	e := rtpmapEntry{name: name, clock: clock}
	if hasCh {
		ch, err := strconv.Atoi(chText)
		if err != nil || ch <= 0 || ch > 255 {
			return rtpmapEntry{}, false
		}
		e.channels = ch
	}
	return e, true
}

// String writes the entry as its rtpmap line does.
func (e rtpmapEntry) String() string {
	s := e.name
	if len(s) > maxNameLen {
		s = s[:maxNameLen] + "…"
	}
	s += "/" + strconv.Itoa(e.clock)
	if e.channels > 0 {
		s += "/" + strconv.Itoa(e.channels)
	}
	return s
}

// gatewayTakes reports whether the gateway takes codec e on RTP: one of
// codec.Preferred, which lists only codecs built into this binary.
func gatewayTakes(e *codec.Codec) bool {
	for _, p := range codec.Preferred() {
		if p == e {
			return true
		}
	}
	return false
}

// ParseOffer reduces an SDP body to an Offer. It uses the first audio
// stream with a non-zero port and an RTP/AVP profile. It returns an error
// wrapping ErrNoAudio when there is no such stream (or no body: a late
// offer, which the gateway answers with an offer of its own) and
// ErrNoCommonCodec when that stream offers no codec the gateway accepts.
// Codecs are told by encoding name (any case), clock rate and channels
// (a=rtpmap) through codec.Lookup, so a dynamic payload type like
// "96 PCMA/8000" is A-law and "111 opus/48000/2" is opus; static types 0, 8
// and 9 need no rtpmap, and an rtpmap for them is honoured. Codecs the
// registry does not know or this binary lacks (opus without the opus build
// tag) are skipped and named in the error.
func ParseOffer(body []byte) (Offer, error) {
	if len(body) == 0 {
		return Offer{}, fmt.Errorf("empty body: %w", ErrNoAudio)
	}
	if len(body) > MaxSDPSize {
		return Offer{}, fmt.Errorf("sdp of %d bytes, more than %d: %w", len(body), MaxSDPSize, ErrNoAudio)
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(string(body)); err != nil {
		return Offer{}, fmt.Errorf("parse sdp: %w: %w", ErrNoAudio, err)
	}
	var md *sdp.MediaDescription
	for _, m := range sd.MediaDescriptions {
		if m.MediaName.Media == "audio" && m.MediaName.Port.Value != 0 && plainRTP(m.MediaName.Protos) {
			md = m
			break
		}
	}
	if md == nil {
		return Offer{}, fmt.Errorf("no active RTP/AVP audio stream: %w", ErrNoAudio)
	}
	ci := md.ConnectionInformation
	if ci == nil {
		ci = sd.ConnectionInformation
	}
	if ci == nil || ci.Address == nil {
		return Offer{}, fmt.Errorf("no connection address: %w", ErrNoAudio)
	}
	ip, err := netip.ParseAddr(ci.Address.Address)
	if err != nil {
		return Offer{}, fmt.Errorf("connection address %q: %w: %w", ci.Address.Address, ErrNoAudio, err)
	}
	port := md.MediaName.Port.Value
	if port < 0 || port > 65535 {
		return Offer{}, fmt.Errorf("audio port %d: %w", port, ErrNoAudio)
	}
	off := Offer{
		RTPAddr:   netip.AddrPortFrom(ip.Unmap(), uint16(port)),
		Direction: direction(sd.Attributes, md.Attributes),
		CNType:    -1,
	}

	rtpmap := make(map[uint8]rtpmapEntry, 4)
	fmtp := make(map[uint8]string, 2)
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" && a.Key != "fmtp" {
			continue
		}
		ptText, value, ok := strings.Cut(strings.TrimSpace(a.Value), " ")
		if !ok {
			continue
		}
		pt, err := strconv.ParseUint(ptText, 10, 7)
		if err != nil {
			continue
		}
		if a.Key == "fmtp" {
			if v := strings.TrimSpace(value); len(v) <= maxFmtpLen {
				fmtp[uint8(pt)] = v
			}
			continue
		}
		if e, ok := parseRtpmap(value); ok {
			rtpmap[uint8(pt)] = e
		}
	}
	formats := md.MediaName.Formats
	if len(formats) > maxFormats {
		formats = formats[:maxFormats]
	}
	var skipped []string
	for _, f := range formats {
		pt64, err := strconv.ParseUint(f, 10, 7)
		if err != nil {
			continue
		}
		pt := uint8(pt64)
		e, ok := rtpmap[pt]
		if !ok {
			e, ok = staticFormats[pt]
		}
		if !ok {
			skipped = append(skipped, "pt "+f)
			continue
		}
		switch {
		case strings.EqualFold(e.name, nameTelephoneEvent):
			if !slices.ContainsFunc(off.DTMF, func(d Codec) bool { return d.ClockRate == e.clock }) {
				off.DTMF = append(off.DTMF, Codec{Name: nameTelephoneEvent, PayloadType: pt, ClockRate: e.clock, Channels: 1, Fmtp: fmtp[pt]})
				if e.clock == 8000 {
					off.DTMFType = pt
				}
			}
		case strings.EqualFold(e.name, nameCN):
			if e.clock == 8000 && off.CNType < 0 {
				off.CNType = int(pt)
			}
		default:
			c, ok := codec.Lookup(e.name, e.clock, e.channels)
			switch {
			case !ok:
				skipped = append(skipped, e.String())
			case !gatewayTakes(c):
				skipped = append(skipped, e.String()+" (not in this build)")
			default:
				off.Codecs = append(off.Codecs, Codec{Name: c.Name, PayloadType: pt, ClockRate: c.Clock, Channels: c.Channels, Fmtp: fmtp[pt]})
			}
		}
	}
	if len(off.Codecs) == 0 {
		return off, fmt.Errorf("audio stream offers no codec the gateway takes (skipped %s): %w", strings.Join(skipped, ", "), ErrNoCommonCodec)
	}
	return off, nil
}

// ParseAnswer reduces the SDP answer to an offer the gateway made, listing
// offered, to what the gateway sends: the first codec of the answer that the
// offer listed, matched by encoding name, clock rate and channels (the
// answer may map it to another payload type, e.g. "96 PCMA/8000"; the
// answer's number is the one to send with), then the answer's other codecs
// the offer listed. It returns an error wrapping ErrNoAudio when the answer
// holds no usable audio stream (no body, a rejected stream) and
// ErrNoCommonCodec when it picks no codec of the offer.
func ParseAnswer(body []byte, offered []Codec) (Offer, error) {
	ans, err := ParseOffer(body)
	if err != nil {
		return ans, err
	}
	picked := ans.Codecs[:0:0]
	for _, c := range ans.Codecs {
		if slices.ContainsFunc(offered, c.sameEncoding) {
			picked = append(picked, c)
		}
	}
	if len(picked) == 0 {
		return ans, fmt.Errorf("answer picks %s, none of the codecs offered: %w", codecNames(ans.Codecs), ErrNoCommonCodec)
	}
	ans.Codecs = picked
	return ans, nil
}

// codecNames lists codecs as "[PCMA/8000 pt 96 ...]" for errors and logs.
func codecNames(cs []Codec) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.String()
	}
	return "[" + strings.Join(names, ", ") + "]"
}

// isHold reports whether an offer in direction d means the caller sends
// nothing: the call is on hold (an RFC 2543 hold, c=0.0.0.0, is read as
// inactive).
func isHold(d string) bool { return d == DirInactive || d == DirRecvOnly }

// plainRTP accepts RTP/AVP and RTP/AVPF; secure profiles are not supported.
func plainRTP(protos []string) bool {
	p := strings.ToUpper(strings.Join(protos, "/"))
	return p == "RTP/AVP" || p == "RTP/AVPF"
}

// direction returns the media-level direction, else the session-level one,
// else sendrecv.
func direction(session, media []sdp.Attribute) string {
	for _, attrs := range [][]sdp.Attribute{media, session} {
		for _, a := range attrs {
			switch a.Key {
			case DirSendRecv, DirSendOnly, DirRecvOnly, DirInactive:
				return a.Key
			}
		}
	}
	return DirSendRecv
}

// answerDirection is the direction an answer takes for an offered direction
// (RFC 3264 section 6.1).
func answerDirection(offered string) string {
	switch offered {
	case DirSendOnly:
		return DirRecvOnly
	case DirRecvOnly:
		return DirSendOnly
	case DirInactive:
		return DirInactive
	default:
		return DirSendRecv
	}
}

// answerSDP holds what the gateway put in its SDP answer (or offer);
// re-INVITEs reuse it with a higher session version.
type answerSDP struct {
	ip        netip.Addr
	port      uint16
	codec     Codec
	alt       []Codec // further codecs listed after codec (an offer)
	events    []Codec // telephone-event formats: one in an answer, one per clock rate in an offer
	cnType    uint8   // CN/8000 payload type listed; 0: none (CN is never type 0)
	sessionID uint64
	version   uint64
	direction string
}

// localFmtp is the a=fmtp the gateway writes for a codec of its own SDP:
// what it wants to receive. For opus (RFC 7587): audio up to 16 kHz (the
// call carries opus audio at 16 kHz), captured at 16 kHz, and in-band FEC
// welcome; the others take no parameters.
func localFmtp(c Codec) string {
	if strings.EqualFold(c.Name, codec.NameOpus) {
		return opusFmtp
	}
	return ""
}

// opusFmtp is the gateway's a=fmtp for opus (RFC 7587 section 6.1).
const opusFmtp = "maxplaybackrate=16000;sprop-maxcapturerate=16000;useinbandfec=1"

// dtmfFmtp is the a=fmtp of telephone-event: the DTMF events 0-15 and flash.
const dtmfFmtp = "0-16"

// withCodec lists c on md: its payload type on the m= line, its rtpmap
// (channels only when more than one) and the gateway's fmtp.
func withCodec(md *sdp.MediaDescription, c Codec, fmtp string) {
	ch := uint16(0)
	if c.Channels > 1 {
		ch = uint16(c.Channels)
	}
	md.WithCodec(c.PayloadType, c.Name, uint32(c.ClockRate), ch, fmtp)
}

// marshal renders the answer as SDP text.
func (a *answerSDP) marshal(userAgent string) ([]byte, error) {
	userAgent = strings.Join(strings.Fields(userAgent), "-")
	if userAgent == "" {
		userAgent = "-"
	}
	addrType := "IP4"
	if a.ip.Is6() && !a.ip.Is4In6() {
		addrType = "IP6"
	}
	ip := a.ip.Unmap().String()
	md := &sdp.MediaDescription{
		MediaName: sdp.MediaName{
			Media:  "audio",
			Port:   sdp.RangedPort{Value: int(a.port)},
			Protos: []string{"RTP", "AVP"},
		},
	}
	withCodec(md, a.codec, localFmtp(a.codec))
	for _, c := range a.alt {
		withCodec(md, c, localFmtp(c))
	}
	for _, e := range a.events {
		withCodec(md, e, dtmfFmtp)
	}
	if a.cnType != 0 {
		withCodec(md, Codec{Name: nameCN, PayloadType: a.cnType, ClockRate: 8000}, "")
	}
	md.WithValueAttribute("ptime", "20")
	md.WithPropertyAttribute(a.direction)
	sd := &sdp.SessionDescription{
		Origin: sdp.Origin{
			Username:       userAgent,
			SessionID:      a.sessionID,
			SessionVersion: a.version,
			NetworkType:    "IN",
			AddressType:    addrType,
			UnicastAddress: ip,
		},
		SessionName: sdp.SessionName(userAgent),
		ConnectionInformation: &sdp.ConnectionInformation{
			NetworkType: "IN",
			AddressType: addrType,
			Address:     &sdp.Address{Address: ip},
		},
		TimeDescriptions:  []sdp.TimeDescription{{}},
		MediaDescriptions: []*sdp.MediaDescription{md},
	}
	b, err := sd.Marshal()
	if err != nil {
		return nil, fmt.Errorf("marshal sdp: %w", err)
	}
	return b, nil
}
