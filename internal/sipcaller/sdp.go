package sipcaller

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"

	"github.com/callstream/callstream/internal/codec"
	gwsip "github.com/callstream/callstream/internal/sip"
)

// Payload types the caller offers for the codecs without a static one.
const (
	dtmfPayloadType = 101 // telephone-event/8000
	cnPayloadType   = 13  // CN/8000, static (RFC 3551)
	opusPayloadType = 111 // opus/48000/2, the usual dynamic choice
)

// maxSDPSize bounds an answer or offer the caller parses.
const maxSDPSize = 16 << 10

// sdpCodec is one payload type of an m= line.
type sdpCodec struct {
	pt       uint8
	name     string // encoding name as written
	clock    int
	channels int // 0 or 1: mono
}

// format returns the codec package's Format of c, if it knows it.
func (c sdpCodec) format() (codec.Format, bool) {
	k, ok := codec.Lookup(c.name, c.clock, c.channels)
	if !ok {
		return codec.Format{}, false
	}
	return k.Format, true
}

// offerSDP is the caller's side of the session description.
type offerSDP struct {
	ip        netip.Addr
	port      uint16
	codecs    []sdpCodec // audio codecs in order of preference
	dtmf      uint8      // 0 = not offered
	cn        uint8      // 0 = not offered
	sessionID uint64
	version   uint64
}

// marshal renders the offer with the given direction attribute.
func (o *offerSDP) marshal(direction string) ([]byte, error) {
	addrType := "IP4"
	if o.ip.Is6() && !o.ip.Is4In6() {
		addrType = "IP6"
	}
	ip := o.ip.Unmap().String()
	md := &sdp.MediaDescription{
		MediaName: sdp.MediaName{
			Media:  "audio",
			Port:   sdp.RangedPort{Value: int(o.port)},
			Protos: []string{"RTP", "AVP"},
		},
	}
	for _, c := range o.codecs {
		ch := uint16(0)
		if c.channels > 1 {
			ch = uint16(c.channels)
		}
		md.WithCodec(c.pt, c.name, uint32(c.clock), ch, "")
	}
	if o.cn != 0 {
		md.WithCodec(o.cn, "CN", 8000, 0, "")
	}
	if o.dtmf != 0 {
		md.WithCodec(o.dtmf, "telephone-event", 8000, 0, "0-16")
	}
	md.WithValueAttribute("ptime", "20")
	md.WithPropertyAttribute(direction)
	sd := &sdp.SessionDescription{
		Origin: sdp.Origin{
			Username: "-", SessionID: o.sessionID, SessionVersion: o.version,
			NetworkType: "IN", AddressType: addrType, UnicastAddress: ip,
		},
		SessionName: "sipcaller",
		ConnectionInformation: &sdp.ConnectionInformation{
			NetworkType: "IN", AddressType: addrType, Address: &sdp.Address{Address: ip},
		},
		TimeDescriptions:  []sdp.TimeDescription{{}},
		MediaDescriptions: []*sdp.MediaDescription{md},
	}
	b, err := sd.Marshal()
	if err != nil {
		return nil, fmt.Errorf("sipcaller: marshal sdp: %w", err)
	}
	return b, nil
}

// remoteSDP is the gateway's session description (its answer, or its
// offer for a late-offer call), read by the caller itself so that what the
// caller hears is independent of the gateway's own parser.
type remoteSDP struct {
	rtp       netip.AddrPort
	codecs    []sdpCodec // audio codecs in the order listed (not DTMF, not CN)
	dtmf      uint8      // telephone-event payload type, 0 = none
	cn        uint8      // CN payload type, 0 = none
	direction string
}

// staticCodecs are the RFC 3551 payload types an m= line may use without
// an rtpmap.
var staticCodecs = map[uint8]sdpCodec{
	0:  {pt: 0, name: codec.NamePCMU, clock: 8000},
	8:  {pt: 8, name: codec.NamePCMA, clock: 8000},
	9:  {pt: 9, name: codec.NameG722, clock: 8000},
	13: {pt: 13, name: "CN", clock: 8000},
}

// parseSDP reads the first RTP/AVP audio stream of body.
func parseSDP(body []byte) (remoteSDP, error) {
	if len(body) == 0 {
		return remoteSDP{}, fmt.Errorf("sipcaller: sdp: empty body: %w", gwsip.ErrNoAudio)
	}
	if len(body) > maxSDPSize {
		return remoteSDP{}, fmt.Errorf("sipcaller: sdp of %d bytes, more than %d: %w", len(body), maxSDPSize, gwsip.ErrNoAudio)
	}
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(string(body)); err != nil {
		return remoteSDP{}, fmt.Errorf("sipcaller: sdp: %w: %w", gwsip.ErrNoAudio, err)
	}
	var md *sdp.MediaDescription
	for _, m := range sd.MediaDescriptions {
		if m.MediaName.Media == "audio" && m.MediaName.Port.Value > 0 && m.MediaName.Port.Value <= 65535 {
			md = m
			break
		}
	}
	if md == nil {
		return remoteSDP{}, fmt.Errorf("sipcaller: sdp has no audio stream: %w", gwsip.ErrNoAudio)
	}
	ci := md.ConnectionInformation
	if ci == nil {
		ci = sd.ConnectionInformation
	}
	if ci == nil || ci.Address == nil {
		return remoteSDP{}, fmt.Errorf("sipcaller: sdp has no connection address: %w", gwsip.ErrNoAudio)
	}
	ip, err := netip.ParseAddr(ci.Address.Address)
	if err != nil {
		return remoteSDP{}, fmt.Errorf("sipcaller: sdp connection address %q: %w: %w", ci.Address.Address, gwsip.ErrNoAudio, err)
	}
	r := remoteSDP{rtp: netip.AddrPortFrom(ip.Unmap(), uint16(md.MediaName.Port.Value)), direction: gwsip.DirSendRecv}
	rtpmap := make(map[uint8]sdpCodec, 4)
	for _, a := range md.Attributes {
		switch a.Key {
		case gwsip.DirSendRecv, gwsip.DirSendOnly, gwsip.DirRecvOnly, gwsip.DirInactive:
			r.direction = a.Key
		case "rtpmap":
			if c, ok := parseRTPMap(a.Value); ok {
				rtpmap[c.pt] = c
			}
		}
	}
	for _, f := range md.MediaName.Formats {
		pt, err := strconv.ParseUint(f, 10, 7)
		if err != nil {
			continue
		}
		c, ok := rtpmap[uint8(pt)]
		if !ok {
			if c, ok = staticCodecs[uint8(pt)]; !ok {
				continue
			}
		}
		switch {
		case strings.EqualFold(c.name, "telephone-event"):
			r.dtmf = c.pt
		case strings.EqualFold(c.name, "CN"):
			r.cn = c.pt
		default:
			r.codecs = append(r.codecs, c)
		}
	}
	return r, nil
}

// parseRTPMap reads "96 opus/48000/2".
func parseRTPMap(v string) (sdpCodec, bool) {
	ptText, enc, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok {
		return sdpCodec{}, false
	}
	pt, err := strconv.ParseUint(ptText, 10, 7)
	if err != nil {
		return sdpCodec{}, false
	}
	parts := strings.Split(strings.TrimSpace(enc), "/")
	c := sdpCodec{pt: uint8(pt), name: parts[0], clock: 8000}
	if len(parts) > 1 {
		if c.clock, err = strconv.Atoi(parts[1]); err != nil {
			return sdpCodec{}, false
		}
	}
	if len(parts) > 2 {
		if c.channels, err = strconv.Atoi(parts[2]); err != nil {
			return sdpCodec{}, false
		}
	}
	return c, true
}
