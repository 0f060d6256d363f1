package sip

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"

	"github.com/emiago/sipgo/sip"
)

// ErrEarlyLateOffer means early media was asked for on a call whose INVITE
// carried no SDP offer: the gateway has nothing to answer in a 183 (and
// without reliable provisional responses it cannot offer in one).
var ErrEarlyLateOffer = errors.New("sip: early media needs an SDP offer in the INVITE (this one had none)")

// EarlyMedia sends 183 Session Progress carrying the SDP answer Accept
// would send (the same codec, telephone-event and CN choice, on local's
// port) and returns what it agreed; the caller may take RTP from then on.
// The call stays unanswered: Reject still refuses it, and the later Accept
// or Answer sends that same SDP, byte for byte (same o= session and
// version), in its 200 OK, as RFC 3261 section 13.2.1 asks of an answer
// first sent unreliably. Calling it again repeats nothing and returns the
// agreed media. A late offer (an INVITE without SDP) returns
// ErrEarlyLateOffer, a call already answered or refused
// ErrAlreadyResponded.
func (c *Invite) EarlyMedia(local netip.AddrPort) (Media, error) {
	if err := c.begin(); err != nil {
		return Media{}, err
	}
	defer c.ops.Done()
	if c.LateOffer {
		return Media{}, ErrEarlyLateOffer
	}
	if local.Port() == 0 {
		return Media{}, fmt.Errorf("sip: early media: local RTP port is 0")
	}
	chosen, err := c.Offer.Choose(c.srv.cfg.PreferWideband)
	if err != nil {
		return Media{}, fmt.Errorf("sip: early media: %w", err)
	}
	dtmf, _ := c.Offer.DTMFFor(chosen)
	c.mu.Lock()
	if err := c.checkNewLocked(); err != nil {
		c.mu.Unlock()
		return Media{}, err
	}
	if c.early {
		m := c.media
		c.mu.Unlock()
		return m, nil
	}
	ours := &answerSDP{ip: c.srv.publicIP, port: local.Port(), sessionID: rand.Uint64() >> 1, version: 1}
	if err := c.answerLocked(ours, chosen, dtmf); err != nil {
		c.mu.Unlock()
		return Media{}, err
	}
	body, err := ours.marshal(c.srv.cfg.UserAgent)
	if err != nil {
		c.mu.Unlock()
		return Media{}, fmt.Errorf("sip: early media: %w", err)
	}
	c.answer, c.early = ours, true
	m := c.media
	c.mu.Unlock()
	res := c.response(c.dlg.InviteRequest, sip.StatusSessionInProgress, "Session Progress", body)
	if err := c.tx.Respond(res); err != nil {
		return Media{}, fmt.Errorf("sip: send 183: %w", err)
	}
	c.log.Info("early media offered", "codec", m.Codec.Format().String(), "payload_type", m.Codec.PayloadType,
		"local_port", local.Port(), "remote_rtp", m.Remote.String())
	return m, nil
}

// earlyAnswerLocked returns the answer the 183 sent, which the 200 OK
// repeats, and whether there is one; local must be the port it gave.
func (c *Invite) earlyAnswerLocked(local netip.AddrPort) (*answerSDP, bool, error) {
	if !c.early {
		return nil, false, nil
	}
	if local.Port() != c.answer.port {
		return nil, true, fmt.Errorf("sip: answer on RTP port %d after early media on port %d", local.Port(), c.answer.port)
	}
	return c.answer, true, nil
}
