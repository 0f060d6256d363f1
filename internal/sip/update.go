package sip

import (
	"github.com/emiago/sipgo/sip"
)

// onUpdate handles UPDATE (RFC 3311) inside a dialog: a session refresh
// (RFC 4028) or, with SDP, a new offer handled like a re-INVITE's.
func (s *Server) onUpdate(req *sip.Request, tx sip.ServerTransaction) {
	inv := s.lookup(req)
	if inv == nil {
		if o := s.lookupOutgoing(req); o != nil {
			if len(req.Body()) == 0 {
				s.respond(req, tx, sip.StatusOK, "OK")
				return
			}
			o.reinvite(req, tx) // answered alike, without waiting for an ACK
			return
		}
		s.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	inv.update(req, tx)
}

// update answers an UPDATE: 200 with the session-timer headers, and an SDP
// answer when it carried an offer.
func (c *Invite) update(req *sip.Request, tx sip.ServerTransaction) {
	body, hdrs, _, err := c.updateSession(req, tx)
	if err != nil {
		c.refuseInDialog(req, tx, err)
		return
	}
	res := c.response(req, sip.StatusOK, "OK", body)
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		c.log.Info("UPDATE response failed", "error", err)
	}
}
