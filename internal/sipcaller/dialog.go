package sipcaller

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/callstream/callstream/internal/codec"
	gwsip "github.com/callstream/callstream/internal/sip"
)

// ErrNoSessionTimer means Update was asked to refresh a session timer the
// gateway did not grant.
var ErrNoSessionTimer = errors.New("sipcaller: no session timer")

// sessionHeaders are the INVITE headers asking for cfg's session timer.
func sessionHeaders(cfg Config) []sip.Header {
	if cfg.SessionExpires <= 0 {
		return nil
	}
	v := strconv.FormatInt(int64(cfg.SessionExpires/time.Second), 10)
	if cfg.Refresher != "" {
		v += ";refresher=" + cfg.Refresher
	}
	return []sip.Header{sip.NewHeader("Session-Expires", v), sip.NewHeader("Supported", "timer"),
		sip.NewHeader("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE")}
}

// grantedSession reads the session timer a 2xx granted: its interval and
// refresher (0 and "" when it granted none).
func grantedSession(res *sip.Response) (time.Duration, string) {
	h := res.GetHeader("Session-Expires")
	if h == nil {
		return 0, ""
	}
	secs, params, _ := strings.Cut(h.Value(), ";")
	n, err := strconv.Atoi(strings.TrimSpace(secs))
	if err != nil || n <= 0 {
		return 0, ""
	}
	refresher := ""
	for p := range strings.SplitSeq(params, ";") {
		if k, v, _ := strings.Cut(strings.TrimSpace(p), "="); strings.EqualFold(k, "refresher") {
			refresher = strings.ToLower(strings.TrimSpace(v))
		}
	}
	return time.Duration(n) * time.Second, refresher
}

// lateAnswer picks, from the gateway's offer in the 2xx to an INVITE
// without SDP, the codec to use (the first of the caller's own list, ans's
// codecs, that the gateway offers) and turns ans into the answer the ACK
// carries: that codec on cfg.AnswerPayloadType when set (a dynamic number
// for a static codec; the call then sends with it too, as most phones do),
// else on the gateway's number; telephone-event and CN when asked for and
// offered. It returns the codec with the payload type to send and its
// Format.
func lateAnswer(cfg Config, offer remoteSDP, ans *offerSDP) (sdpCodec, codec.Format, error) {
	for _, w := range ans.codecs {
		wf, ok := w.format()
		if !ok {
			continue
		}
		for _, c := range offer.codecs {
			if f, ok := c.format(); !ok || f != wf {
				continue
			}
			if cfg.AnswerPayloadType != 0 {
				c.pt = cfg.AnswerPayloadType
			}
			ans.codecs = []sdpCodec{c}
			ans.dtmf, ans.cn = 0, 0
			if cfg.DTMF {
				ans.dtmf = offer.dtmf
			}
			if cfg.CN {
				ans.cn = offer.cn
			}
			return c, wf, nil
		}
	}
	return sdpCodec{}, codec.Format{}, fmt.Errorf("sipcaller: the gateway's offer %v has none of %v: %w", offer.codecs, ans.codecs, gwsip.ErrNoCommonCodec)
}

// ack acknowledges the 2xx to the INVITE; for a late offer the ACK
// carries the call's answer.
func (c *Call) ack(ctx context.Context) error {
	if c.answerBody == nil {
		return c.dlg.Ack(ctx)
	}
	target := c.dlg.InviteRequest.Recipient
	if ct := c.dlg.InviteResponse.Contact(); ct != nil {
		target = ct.Address
	}
	ack := sip.NewRequest(sip.ACK, *target.Clone())
	ack.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	ack.SetBody(c.answerBody)
	return c.dlg.WriteAck(ctx, ack)
}

// SessionTimer returns the session timer the gateway granted: its interval
// and refresher ("uac": this caller refreshes, "uas": the gateway does);
// 0 and "" when none.
func (c *Call) SessionTimer() (time.Duration, string) { return c.sessionExpires, c.refresher }

// Update refreshes the call's session with an UPDATE without SDP carrying
// the granted Session-Expires; a non-2xx answer returns *StatusError.
func (c *Call) Update(ctx context.Context) error {
	if c.sessionExpires == 0 {
		return ErrNoSessionTimer
	}
	select {
	case <-c.ended:
		return ErrCallEnded
	default:
	}
	target := c.dlg.InviteRequest.Recipient
	if ct := c.dlg.InviteResponse.Contact(); ct != nil {
		target = ct.Address
	}
	req := sip.NewRequest(sip.UPDATE, *target.Clone())
	req.AppendHeader(sip.NewHeader("Session-Expires", fmt.Sprintf("%d;refresher=%s", int64(c.sessionExpires/time.Second), c.refresher)))
	req.AppendHeader(sip.NewHeader("Supported", "timer"))
	res, err := c.dlg.Do(ctx, req)
	if err != nil {
		return fmt.Errorf("sipcaller: UPDATE: %w", err)
	}
	if !res.IsSuccess() {
		return newStatusError(res)
	}
	c.refreshes.Add(1)
	return nil
}

// Refreshes returns the session refreshes the call sent and the ones the
// gateway sent it (re-INVITE or UPDATE).
func (c *Call) Refreshes() (sent, received int) {
	return int(c.refreshes.Load()), int(c.gatewayRefreshes.Load())
}

// refreshLoop refreshes the session with UPDATE every third of the
// granted interval (well within it, whatever the load) until the call ends.
func (c *Call) refreshLoop() {
	defer c.bg.Done()
	t := time.NewTicker(c.sessionExpires / 3)
	defer t.Stop()
	for {
		select {
		case <-c.ended:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.sessionExpires/3)
		err := c.Update(ctx)
		cancel()
		if err != nil && !errors.Is(err, ErrCallEnded) {
			c.log.Info("session refresh failed", "error", err)
		}
	}
}

// Vanish makes the caller disappear without a word, like one whose network
// or device went away: no BYE, the RTP socket closed, and what the gateway
// sends in the call's dialog later (BYE, session refreshes) goes
// unanswered. Close still releases what is left.
func (c *Call) Vanish() {
	c.vanished.Store(true)
	c.markEnded()
	_ = c.conn.Close()
	c.recv.Wait()
	c.bg.Wait()
}

// lookup finds the call an in-dialog request from the gateway belongs to.
func (c *Client) lookup(req *sip.Request) *Call {
	id, err := sip.DialogIDFromRequestUAC(req)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[id]
}

// onInvite answers the gateway's re-INVITE (a session refresh) with the
// call's SDP; an INVITE outside a call is not taken.
func (c *Client) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	call := c.lookup(req)
	if call == nil {
		respond(tx, req, sip.StatusNotImplemented, "Not Implemented")
		return
	}
	if call.vanished.Load() {
		return
	}
	call.mu.Lock()
	body, err := call.offer.marshal(gwsip.DirSendRecv)
	call.mu.Unlock()
	if err != nil {
		respond(tx, req, sip.StatusInternalServerError, "Server Internal Error")
		return
	}
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", body)
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	res.AppendHeader(sip.HeaderClone(&c.dua.ContactHDR))
	if h := req.GetHeader("Session-Expires"); h != nil {
		res.AppendHeader(sip.NewHeader("Session-Expires", h.Value()))
	}
	call.gatewayRefreshes.Add(1)
	if err := tx.Respond(res); err != nil {
		call.log.Debug("re-INVITE response failed", "error", err)
	}
}

// onUpdate answers the gateway's UPDATE (a session refresh).
func (c *Client) onUpdate(req *sip.Request, tx sip.ServerTransaction) {
	call := c.lookup(req)
	if call == nil {
		respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	if call.vanished.Load() {
		return
	}
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	if h := req.GetHeader("Session-Expires"); h != nil {
		res.AppendHeader(sip.NewHeader("Session-Expires", h.Value()))
	}
	call.gatewayRefreshes.Add(1)
	if err := tx.Respond(res); err != nil {
		call.log.Debug("UPDATE response failed", "error", err)
	}
}
