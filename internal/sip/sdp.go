package sip

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// Codec is an audio codec the gateway speaks on RTP.
type Codec struct {
	Name        string // "PCMU" or "PCMA"
	PayloadType uint8  // 0 for PCMU, 8 for PCMA unless the offer maps them elsewhere
	ClockRate   int    // always 8000 for G.711
}

// SDP directions (RFC 3264).
const (
	DirSendRecv = "sendrecv"
	DirSendOnly = "sendonly"
	DirRecvOnly = "recvonly"
	DirInactive = "inactive"
)

// Offer is the caller's SDP offer, reduced to what the gateway can use.
type Offer struct {
	RTPAddr   netip.AddrPort // c= address and m=audio port
	Codecs    []Codec        // PCMU and PCMA only, in the caller's order of preference
	DTMFType  uint8          // telephone-event payload type offered (0 = not offered)
	Direction string         // sendrecv (default) | sendonly | recvonly | inactive
}

// Has reports whether the offer lists codec c (same name and payload type).
func (o Offer) Has(c Codec) bool {
	for _, oc := range o.Codecs {
		if strings.EqualFold(oc.Name, c.Name) && oc.PayloadType == c.PayloadType {
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

// ParseOffer reduces an SDP body to an Offer. It uses the first audio
// stream with a non-zero port and an RTP/AVP profile. It returns an error
// wrapping ErrNoAudio when there is no such stream (or no body: a late
// offer, which the gateway answers with an offer of its own) and
// ErrNoCommonCodec when that stream offers neither PCMU nor PCMA. Codecs are
// told by encoding name and clock rate (a=rtpmap), so a dynamic payload type
// like "96 PCMA/8000" is A-law; static types 0 and 8 need no rtpmap.
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
	}

	rtpmap := make(map[uint8]string, 4) // payload type -> "NAME/rate"
	for _, a := range md.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		ptText, enc, ok := strings.Cut(strings.TrimSpace(a.Value), " ")
		if !ok {
			continue
		}
		pt, err := strconv.ParseUint(ptText, 10, 7)
		if err != nil {
			continue
		}
		rtpmap[uint8(pt)] = strings.TrimSpace(enc)
	}
	formats := md.MediaName.Formats
	if len(formats) > maxFormats {
		formats = formats[:maxFormats]
	}
	for _, f := range formats {
		pt64, err := strconv.ParseUint(f, 10, 7)
		if err != nil {
			continue
		}
		pt := uint8(pt64)
		name, rate := "", 8000
		if enc, ok := rtpmap[pt]; ok {
			n, r, _ := strings.Cut(enc, "/")
			name = n
			if r != "" {
				r, _, _ = strings.Cut(r, "/")
				if v, err := strconv.Atoi(r); err == nil {
					rate = v
				}
			}
		} else {
			switch pt {
			case 0:
				name = "PCMU"
			case 8:
				name = "PCMA"
			}
		}
		switch {
		case rate != 8000:
		case strings.EqualFold(name, "PCMU"):
			off.Codecs = append(off.Codecs, Codec{Name: "PCMU", PayloadType: pt, ClockRate: 8000})
		case strings.EqualFold(name, "PCMA"):
			off.Codecs = append(off.Codecs, Codec{Name: "PCMA", PayloadType: pt, ClockRate: 8000})
		case strings.EqualFold(name, "telephone-event") && off.DTMFType == 0:
			off.DTMFType = pt
		}
	}
	if len(off.Codecs) == 0 {
		return off, fmt.Errorf("offer lists %v: %w", md.MediaName.Formats, ErrNoCommonCodec)
	}
	return off, nil
}

// ParseAnswer reduces the SDP answer to an offer the gateway made, listing
// offered, to what the gateway sends: the first codec of the answer that the
// offer listed, matched by encoding name and clock rate (the answer may map
// it to another payload type, e.g. "96 PCMA/8000"; the answer's number is
// the one to send with), then the answer's other codecs the offer listed.
// It returns an error wrapping ErrNoAudio when the answer holds no usable
// audio stream (no body, a rejected stream) and ErrNoCommonCodec when it
// picks no codec of the offer.
func ParseAnswer(body []byte, offered []Codec) (Offer, error) {
	ans, err := ParseOffer(body)
	if err != nil {
		return ans, err
	}
	picked := ans.Codecs[:0:0]
	for _, c := range ans.Codecs {
		for _, o := range offered {
			if strings.EqualFold(c.Name, o.Name) && c.ClockRate == o.ClockRate {
				picked = append(picked, c)
				break
			}
		}
	}
	if len(picked) == 0 {
		return ans, fmt.Errorf("answer picks %s, none of the codecs offered: %w", codecNames(ans.Codecs), ErrNoCommonCodec)
	}
	ans.Codecs = picked
	return ans, nil
}

// codecNames lists codecs as "NAME/PT" for errors.
func codecNames(cs []Codec) string {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = fmt.Sprintf("%s/%d", c.Name, c.PayloadType)
	}
	return "[" + strings.Join(names, " ") + "]"
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

// answerSDP holds what the gateway put in its SDP answer; re-INVITEs reuse
// it with a higher session version.
type answerSDP struct {
	ip        netip.Addr
	port      uint16
	codec     Codec
	alt       []Codec // further codecs listed after codec (an offer)
	dtmfType  uint8
	sessionID uint64
	version   uint64
	direction string
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
	md.WithCodec(a.codec.PayloadType, a.codec.Name, uint32(a.codec.ClockRate), 0, "")
	for _, c := range a.alt {
		md.WithCodec(c.PayloadType, c.Name, uint32(c.ClockRate), 0, "")
	}
	if a.dtmfType != 0 {
		md.WithCodec(a.dtmfType, "telephone-event", 8000, 0, "0-16")
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
