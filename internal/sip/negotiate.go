package sip

import (
	"fmt"
	"slices"

	"github.com/callstream/callstream/internal/codec"
)

// Dynamic payload types of the gateway's own offers (a late offer's 200 OK,
// an outgoing INVITE).
const (
	dtmfOfferType     = 101 // telephone-event/8000
	dtmfWideOfferType = 102 // telephone-event/48000, offered beside opus
	opusOfferType     = 111 // opus/48000/2
)

// Choose returns the codec the gateway answers the offer with: the
// caller's first codec, or with preferWideband its first wideband one (G722
// or opus) when it offers any. It returns an error wrapping
// ErrNoCommonCodec when the offer lists no codec.
func (o Offer) Choose(preferWideband bool) (Codec, error) {
	if len(o.Codecs) == 0 {
		return Codec{}, fmt.Errorf("offer lists no codec of the gateway's: %w", ErrNoCommonCodec)
	}
	if preferWideband {
		for _, c := range o.Codecs {
			if c.wideband() {
				return c, nil
			}
		}
	}
	return o.Codecs[0], nil
}

// DTMFFor returns the telephone-event payload type and clock rate that go
// with codec c: the telephone-event offered at c's clock rate, else the one
// at 8000, else 0 (no DTMF events).
func (o Offer) DTMFFor(c Codec) (payloadType uint8, clockRate int) {
	var fallback Codec
	for _, e := range o.DTMF {
		switch e.ClockRate {
		case c.ClockRate:
			return e.PayloadType, e.ClockRate
		case 8000:
			fallback = e
		}
	}
	if fallback.PayloadType != 0 {
		return fallback.PayloadType, fallback.ClockRate
	}
	return 0, 0
}

// CNFor returns the CN payload type that goes with codec c: the offer's
// CN/8000 when c runs on the 8000 clock (PCMU, PCMA, G722), else -1 (opus
// has its own discontinuous transmission; CN/8000 beside opus/48000 would
// mix clocks in one stream).
func (o Offer) CNFor(c Codec) int {
	if c.ClockRate != 8000 {
		return -1
	}
	return o.CNType
}

// gatewayCodecs returns the codecs the gateway offers, as codec.Preferred
// lists them (PCMU, PCMA, G722, opus when built in) on their static payload
// types (opus on opusOfferType); with preferWideband the wideband ones (G722,
// opus) come first, each group in the registry's order.
func gatewayCodecs(preferWideband bool) []Codec {
	var out []Codec
	for _, c := range codec.Preferred() {
		pt := c.StaticPT
		if pt < 0 {
			if c.Name != codec.NameOpus {
				continue // no dynamic type of ours for it
			}
			pt = opusOfferType
		}
		out = append(out, Codec{Name: c.Name, PayloadType: uint8(pt), ClockRate: c.Clock, Channels: c.Channels})
	}
	if preferWideband {
		slices.SortStableFunc(out, func(a, b Codec) int {
			switch {
			case a.wideband() == b.wideband():
				return 0
			case a.wideband():
				return -1
			default:
				return 1
			}
		})
	}
	return out
}

// gatewayEvents returns the telephone-event formats the gateway offers
// beside codecs: telephone-event/8000 on dtmfType, and
// telephone-event/48000 on dtmfWideOfferType when codecs has a codec on
// the 48000 clock (opus) and dtmfType is not that type. dtmfType 0 offers
// none.
func gatewayEvents(codecs []Codec, dtmfType uint8) []Codec {
	if dtmfType == 0 {
		return nil
	}
	events := []Codec{{Name: nameTelephoneEvent, PayloadType: dtmfType, ClockRate: 8000, Channels: 1}}
	if dtmfType != dtmfWideOfferType && slices.ContainsFunc(codecs, func(c Codec) bool { return c.ClockRate == 48000 }) {
		events = append(events, Codec{Name: nameTelephoneEvent, PayloadType: dtmfWideOfferType, ClockRate: 48000, Channels: 1})
	}
	return events
}

// setOffer makes a the gateway's offer: codecs (the first is preferred),
// telephone-event as gatewayEvents gives it, CN/8000 on its static type, a
// sendrecv stream.
func (a *answerSDP) setOffer(codecs []Codec, dtmfType uint8) {
	a.codec = codecs[0]
	a.alt = append([]Codec(nil), codecs[1:]...)
	a.events = gatewayEvents(codecs, dtmfType)
	a.cnType = cnStaticType
	a.direction = DirSendRecv
}

// offered returns the codecs of a's offer, the first one first.
func (a *answerSDP) offered() []Codec {
	return append([]Codec{a.codec}, a.alt...)
}

// takeAnswer applies an answer to a's offer: ans.Codecs[0] (the answer's
// choice, with the answer's payload type) becomes the stream's codec, with
// the telephone-event and CN the answer kept beside it when a offered them.
// It returns the agreed media, whose OfferedType is the payload type a gave
// the codec.
func (a *answerSDP) takeAnswer(ans Offer) Media {
	c := ans.Codecs[0]
	ours := c.PayloadType
	for _, o := range a.offered() {
		if o.sameEncoding(c) {
			ours = o.PayloadType
			break
		}
	}
	m := Media{Codec: c, Remote: ans.RTPAddr, OfferedType: ours, CNType: -1}
	if len(a.events) > 0 {
		m.DTMFType, m.DTMFClock = ans.DTMFFor(c)
	}
	if a.cnType != 0 {
		m.CNType = ans.CNFor(c)
	}
	a.codec, a.alt = c, nil
	a.setMedia(m)
	return m
}

// setMedia lists the telephone-event and CN of m beside a's codec.
func (a *answerSDP) setMedia(m Media) {
	a.events = nil
	if m.DTMFType != 0 {
		a.events = []Codec{{Name: nameTelephoneEvent, PayloadType: m.DTMFType, ClockRate: m.DTMFClock, Channels: 1}}
	}
	a.cnType = 0
	if m.CNType > 0 {
		a.cnType = uint8(m.CNType)
	}
}

// keepOffered drops from a the telephone-event and CN of m that a new
// offer no longer lists, and lists again those it does (an answer lists
// only what the offer has, RFC 3264 section 6.1). The codec stays.
func (a *answerSDP) keepOffered(o Offer, m Media) {
	if m.DTMFType != 0 && !slices.ContainsFunc(o.DTMF, func(e Codec) bool {
		return e.PayloadType == m.DTMFType && e.ClockRate == m.DTMFClock
	}) {
		m.DTMFType = 0
	}
	if m.CNType >= 0 && o.CNType != m.CNType {
		m.CNType = -1
	}
	a.setMedia(m)
}
