package sip

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/emiago/sipgo/sip"
)

// takeRemoteLocked makes o the caller's latest session description, which
// came at: its RTP address (kept for an RFC 2543 hold, c=0.0.0.0, which
// reads as inactive), its direction and whether it holds the call. It
// reports whether the address moved.
func (c *Invite) takeRemoteLocked(o Offer, at time.Time) (moved bool) {
	if o.RTPAddr.Addr().IsUnspecified() {
		if c.remote.IsValid() {
			o.RTPAddr = c.remote
		}
		o.Direction = DirInactive
	}
	moved = c.remote.IsValid() && o.RTPAddr != c.remote
	switch {
	case !isHold(o.Direction):
		c.heldSince = time.Time{}
	case c.heldSince.IsZero():
		c.heldSince = at
	}
	c.offer = o
	c.offerAt = at
	c.remote = o.RTPAddr
	if c.answer != nil {
		c.answer.direction = answerDirection(o.Direction)
	}
	return moved
}

// reinvite answers a re-INVITE with the current answer (same codec and
// port, next session version, direction mirrored per RFC 3264) and records
// the caller's new address. A re-INVITE without SDP gets the current SDP as
// an offer, and the answer in its ACK is taken.
func (c *Invite) reinvite(req *sip.Request, tx sip.ServerTransaction) {
	body, hdrs, wait, err := c.updateSession(req, tx)
	if err != nil {
		c.refuseInDialog(req, tx, err)
		c.srv.awaitAck(tx)
		return
	}
	res := c.response(req, sip.StatusOK, "OK", body)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		c.log.Info("re-INVITE response failed", "error", err)
		return
	}
	seq := req.CSeq().SeqNo
	err = c.awaitAck(seq, res, tx)
	if err == ErrAckTimeout {
		c.log.Warn("no ACK for re-INVITE 200 OK")
	}
	if wait != nil {
		_ = c.answerTaken(wait) // taken (and logged) by the ACK's goroutine
	}
	tx.Terminate()
}

// refuseInDialog answers an in-dialog request updateSession refused.
func (c *Invite) refuseInDialog(req *sip.Request, tx sip.ServerTransaction, err error) {
	var re *refusal
	code, reason := sip.StatusInternalServerError, "Server Internal Error"
	var hdrs []sip.Header
	if errors.As(err, &re) {
		code, reason, hdrs = re.code, re.reason, re.hdrs
	}
	c.log.Info(requestName(req)+" refused", "status", code, "error", err)
	c.srv.respond(req, tx, code, reason, hdrs...)
}

// noteRemote logs a moved RTP address and tells the OnRemoteChange function.
func (c *Invite) noteRemote(moved bool, remote netip.AddrPort, notify func(netip.AddrPort)) {
	if !moved {
		return
	}
	c.log.Info("remote RTP address changed", "remote_rtp", remote.String())
	if notify != nil {
		notify(remote)
	}
}

// refusal is an in-dialog request's error with the status (and headers) to
// answer it with.
type refusal struct {
	code   int
	reason string
	err    error
	hdrs   []sip.Header
}

func (r *refusal) Error() string { return fmt.Sprintf("%d %s: %v", r.code, r.reason, r.err) }

func (r *refusal) Unwrap() error { return r.err }

// updateSession applies a re-INVITE's or UPDATE's offer and session
// refresh, and returns the SDP to answer with (for a re-INVITE without SDP,
// an offer; for an UPDATE without SDP, none) and the session-timer headers
// of the 2xx. A re-INVITE stops being pending when it returns: the caller
// cannot send another before it sees the response.
func (c *Invite) updateSession(req *sip.Request, tx sip.ServerTransaction) ([]byte, []sip.Header, *offerWait, error) {
	isInvite := req.Method == sip.INVITE
	hasBody := len(req.Body()) > 0
	c.mu.Lock()
	if isInvite || hasBody {
		c.awaitAnsweredLocked()
	}
	switch {
	case c.cause != EndNone:
		c.mu.Unlock()
		return nil, nil, nil, &refusal{code: sip.StatusCallTransactionDoesNotExists, reason: "Call/Transaction Does Not Exist", err: ErrCallEnded}
	case (isInvite || hasBody) && (c.answer == nil || c.reinviting || c.outstandingLocked()):
		// An offer of ours waits for its answer, or another offer is being
		// handled (RFC 3261 14.2, RFC 3311 5.2).
		c.mu.Unlock()
		return nil, nil, nil, &refusal{code: sip.StatusRequestPending, reason: "Request Pending", err: ErrAlreadyResponded}
	}
	if isInvite || hasBody {
		c.reinviting = true
		defer func() {
			c.mu.Lock()
			c.reinviting = false
			c.mu.Unlock()
		}()
	}
	if isInvite {
		c.implicitAckLocked()
	}
	c.mu.Unlock()
	c.pokeAck()

	if err := c.dlg.ReadRequest(req, tx); err != nil {
		return nil, nil, nil, fmt.Errorf("%s CSeq: %w", req.Method, err)
	}
	var offer *Offer
	if hasBody {
		o, err := ParseOffer(req.Body())
		if err != nil {
			return nil, nil, nil, &refusal{code: sip.StatusNotAcceptableHere, reason: "Not Acceptable Here", err: err}
		}
		offer = &o
	}
	ask, err := parseSessionAsk(req)
	if err != nil {
		return nil, nil, nil, &refusal{code: sip.StatusBadRequest, reason: "Bad Request", err: err}
	}

	c.mu.Lock()
	if offer != nil && !offer.Has(c.answer.codec) {
		// The codec of a call does not change mid-call: a new offer must
		// keep it, on the same payload type.
		err := fmt.Errorf("new offer %s drops the call's codec %s: %w", codecNames(offer.Codecs), c.answer.codec, ErrNoCommonCodec)
		c.mu.Unlock()
		return nil, nil, nil, &refusal{code: sip.StatusNotAcceptableHere, reason: "Not Acceptable Here", err: err}
	}
	if err := c.refreshSessionLocked(ask); err != nil {
		c.mu.Unlock()
		return nil, nil, nil, err
	}
	var moved bool
	if offer != nil {
		moved = c.takeRemoteLocked(*offer, time.Now())
		c.answer.keepOffered(*offer, c.media)
	}
	var body []byte
	var wait *offerWait
	if isInvite || hasBody {
		c.answer.version++
		body, err = c.answer.marshal(c.srv.cfg.UserAgent)
	}
	if isInvite {
		c.pendingSeq = req.CSeq().SeqNo
		if !hasBody {
			wait = newOfferWait(c.pendingSeq, false)
			c.offerWait = wait
		}
	}
	hdrs := c.sessionHeadersLocked()
	remote, notify, direction := c.remote, c.onRemote, c.offer.Direction
	c.mu.Unlock()
	if err != nil {
		return nil, nil, nil, err
	}
	c.noteRemote(moved, remote, notify)
	if isInvite || hasBody {
		c.log.Info(requestName(req)+" accepted", "direction", direction, "sdp", hasBody)
	} else {
		c.log.Debug("session refreshed", "method", string(req.Method))
	}
	return body, hdrs, wait, nil
}

// requestName names an in-dialog request for logs: "re-INVITE", "UPDATE".
func requestName(req *sip.Request) string {
	if req.Method == sip.INVITE {
		return "re-INVITE"
	}
	return string(req.Method)
}
