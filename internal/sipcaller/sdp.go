package sipcaller

import (
	"fmt"
	"net/netip"

	"github.com/pion/sdp/v3"
)

// dtmfPayloadType is the payload type offered for telephone-event.
const dtmfPayloadType = 101

// offerSDP is the caller's side of the session description.
type offerSDP struct {
	ip        netip.Addr
	port      uint16
	codecs    []string         // "PCMU", "PCMA" in order of preference
	pt        map[string]uint8 // payload types other than the static ones, by codec
	dtmf      uint8            // 0 = not offered
	sessionID uint64
	version   uint64
}

// staticPT maps the G.711 laws to their static payload types.
func staticPT(codec string) uint8 {
	if codec == "PCMA" {
		return 8
	}
	return 0
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
		pt, ok := o.pt[c]
		if !ok {
			pt = staticPT(c)
		}
		md.WithCodec(pt, c, 8000, 0, "")
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
