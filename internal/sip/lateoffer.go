package sip

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Media is the audio both sides agreed on when the call was answered.
type Media struct {
	Codec    Codec          // what RTP carries, with the payload type to send it with; Codec.Format() is its audio
	DTMFType uint8          // telephone-event payload type (0: none)
	Remote   netip.AddrPort // where the caller takes RTP
	// OfferedType is the payload type the gateway's own offer gave Codec
	// (a late offer): the caller may send with it even when its answer
	// renumbered the codec (RFC 3264 section 6.1). Otherwise it equals
	// Codec.PayloadType.
	OfferedType uint8
	// CNType is the payload type of CN/8000 (comfort noise, RFC 3389) both
	// sides listed, -1 when none: the caller offered it beside a codec on
	// the 8000 clock (PCMU, PCMA, G722).
	CNType int
	// DTMFClock is the clock rate of the telephone-event on DTMFType (RFC
	// 4733 durations count at it): the codec's (48000 for opus when the
	// caller offered telephone-event/48000), else 8000; 0 without DTMF.
	DTMFClock int
}

// Accept answers the call with the gateway's choice of media and returns
// what was agreed. With an offer in the INVITE that is the caller's first
// codec the gateway takes (with Config.PreferWideband its first wideband
// one, G722 or opus, when it offers any; Offer.Choose), the telephone-event
// that goes with it (Offer.DTMFFor) and CN/8000 when offered (Offer.CNFor).
// For a late offer (LateOffer: the INVITE had no SDP) the 200 OK offers the
// gateway's codecs (PCMU, PCMA, G722, opus when built in; wideband first with
// PreferWideband), telephone-event and CN, and the caller's ACK answers; an
// ACK without a usable answer ends the call with BYE (RFC 3261 13.3.1.4) and
// Accept returns an error wrapping ErrNoAnswer. Like Answer it waits for the
// ACK.
func (c *Invite) Accept(local netip.AddrPort) (Media, error) {
	if c.LateOffer {
		return c.answerCall(local, Codec{}, dtmfOfferType)
	}
	chosen, err := c.Offer.Choose(c.srv.cfg.PreferWideband)
	if err != nil {
		return Media{}, err
	}
	dtmf, _ := c.Offer.DTMFFor(chosen)
	return c.answerCall(local, chosen, dtmf)
}

// offerLocked fills a with the gateway's offer for an INVITE without SDP:
// the gateway's codecs (gatewayCodecs), codec's first when it is not zero,
// telephone-event/8000 on dtmfType when it is not 0 (a dynamic type;
// another number becomes dtmfOfferType) with telephone-event/48000 beside
// opus, and CN/8000.
func (c *Invite) offerLocked(a *answerSDP, first Codec, dtmfType uint8) error {
	codecs := gatewayCodecs(c.srv.cfg.PreferWideband)
	if first.Name != "" {
		i := slices.IndexFunc(codecs, func(oc Codec) bool {
			return strings.EqualFold(oc.Name, first.Name) && (first.ClockRate == 0 || first.ClockRate == oc.ClockRate)
		})
		if i < 0 {
			return fmt.Errorf("sip: offer %s/%d: %w", first.Name, first.ClockRate, ErrNoCommonCodec)
		}
		codecs = append(append([]Codec{codecs[i]}, codecs[:i]...), codecs[i+1:]...)
	}
	if dtmfType != 0 && (dtmfType < 96 || dtmfType > 127 || dtmfType == opusOfferType) {
		dtmfType = dtmfOfferType
	}
	a.setOffer(codecs, dtmfType)
	return nil
}

// offerWait is a 2xx carrying the gateway's offer, waiting for the answer
// in its ACK. The ACK's goroutine applies the answer (in the order the
// caller's requests make: the caller sends its next offer only after that
// ACK) and closes done. Guarded by the Invite's mu.
type offerWait struct {
	seq     uint32        // CSeq of the INVITE the 2xx answered
	initial bool          // the initial INVITE's: the answer picks the call's codec
	acked   bool          // its ACK came
	err     error         // why the ACK's answer was not taken
	done    chan struct{} // closed when the ACK came
}

func newOfferWait(seq uint32, initial bool) *offerWait {
	return &offerWait{seq: seq, initial: initial, done: make(chan struct{})}
}

// ackRaceGrace is how long a new offer waits for the ACK that answers the
// gateway's outstanding offer before it gets 491: the caller sends it only
// after that ACK, but requests are handled concurrently.
const ackRaceGrace = 500 * time.Millisecond

// outstandingLocked reports whether an offer of the gateway's waits for the
// ACK that answers it: a new offer must wait (491).
func (c *Invite) outstandingLocked() bool { return c.offerWait != nil && !c.offerWait.acked }

// awaitAnsweredLocked gives the ACK that answers an outstanding offer of
// the gateway's a moment to arrive (c.mu is released meanwhile).
func (c *Invite) awaitAnsweredLocked() {
	w := c.offerWait
	if w == nil || w.acked {
		return
	}
	c.mu.Unlock()
	t := time.NewTimer(ackRaceGrace)
	select {
	case <-w.done:
	case <-t.C:
	case <-c.done:
	}
	t.Stop()
	c.mu.Lock()
}

// answerInAckLocked applies the answer an ACK carried to the offer w waits
// for. For the initial INVITE's offer that is the codec the answer picked
// (with its payload type), its telephone-event and CN types, the caller's
// RTP address and direction; for a re-INVITE's the address and direction
// (the codec stays). It reports the address when it moved.
func (c *Invite) answerInAckLocked(w *offerWait, body []byte) (moved bool) {
	w.acked = true
	close(w.done)
	if c.offerWait == w {
		c.offerWait = nil
	}
	offered := []Codec{c.answer.codec}
	if w.initial {
		offered = c.answer.offered()
	}
	ans, err := ParseAnswer(body, offered)
	if err != nil {
		w.err = err
		return false
	}
	if !w.initial {
		return c.takeRemoteLocked(ans, time.Now())
	}
	m := c.answer.takeAnswer(ans)
	c.takeRemoteLocked(ans, time.Now())
	m.Remote = c.remote
	c.media = m
	return false
}

// answerTaken stops waiting on w and says how its ACK's answer went: an
// error when no ACK came (the 2xx was acknowledged only implicitly, by a
// BYE, or not at all) or its answer was unusable.
func (c *Invite) answerTaken(w *offerWait) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.offerWait == w {
		c.offerWait = nil
	}
	if !w.acked {
		return fmt.Errorf("no ACK came: %w", ErrNoAudio)
	}
	return w.err
}
