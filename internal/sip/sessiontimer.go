package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/callstream/callstream/internal/limit"
)

// Session timers (RFC 4028): a caller that asks for one with
// Session-Expires gets it; whoever the dialog names the refresher sends a
// re-INVITE or UPDATE within the interval, and when none comes the gateway
// ends the call with BYE. A call that asks for none runs without one (the
// maximum call duration still bounds it).

// Refresher parameter values: the dialog's UAC (the caller) or UAS (the gateway).
const (
	refresherUAC = "uac"
	refresherUAS = "uas"
)

// sessionGiveUpMargin caps how long before the session expires the side
// that does not refresh gives up (RFC 4028 section 10: the minimum of 32 s
// and a third of the interval).
const sessionGiveUpMargin = 32 * time.Second

// maxSessionExpires caps the Session-Expires a request may ask for (a
// larger value is read as this): a day, beyond any call's maximum duration.
const maxSessionExpires = 24 * time.Hour

// statusIntervalTooSmall is 422 Session Interval Too Small (RFC 4028).
const statusIntervalTooSmall = 422

// refreshTimeout bounds a session refresh the gateway sends.
const refreshTimeout = 32 * time.Second

// sessionTimer is a dialog's session timer: the interval agreed, who
// refreshes it, and the timer that fires for the gateway's next refresh or
// for the session's expiry. Guarded by the Invite's mu.
type sessionTimer struct {
	interval  time.Duration // 0: no session timer
	refresher string        // refresherUAC or refresherUAS
	require   bool          // the caller supports timer: 2xx carry Require: timer
	useUpdate bool          // the caller allows UPDATE: the gateway refreshes with it, else with re-INVITE
	last      time.Time     // the last refresh (or the answer)
	timer     *time.Timer   // nil until the call is answered
	gen       uint64        // counts schedules: a firing of an older one does nothing
}

// sessionAsk is what a request asks of the session timer.
type sessionAsk struct {
	asked     bool          // the request has Session-Expires
	expires   time.Duration // its interval
	refresher string        // its refresher parameter; "": none given
	supported bool          // Supported: timer
	allows    bool          // Allow lists UPDATE
}

// parseSessionAsk reads the session-timer headers of req (long and
// compact forms). A malformed Session-Expires is an error naming it.
func parseSessionAsk(req *sip.Request) (sessionAsk, error) {
	var ask sessionAsk
	for _, name := range []string{"Supported", "k"} {
		for _, h := range req.GetHeaders(name) {
			if hasToken(h.Value(), "timer") {
				ask.supported = true
			}
		}
	}
	for _, h := range req.GetHeaders("Allow") {
		if hasToken(h.Value(), "UPDATE") {
			ask.allows = true
		}
	}
	h := req.GetHeader("Session-Expires")
	if h == nil {
		h = req.GetHeader("x")
	}
	if h == nil {
		return ask, nil
	}
	var err error
	ask.asked = true
	ask.expires, ask.refresher, err = parseSessionExpires(h.Value())
	if err != nil {
		return ask, err
	}
	return ask, nil
}

// parseSessionExpires reads a Session-Expires value: delta-seconds, then
// parameters of which refresher=uac|uas counts.
func parseSessionExpires(v string) (time.Duration, string, error) {
	secs, params, _ := strings.Cut(v, ";")
	secs = strings.TrimSpace(secs)
	n, err := strconv.ParseUint(secs, 10, 64)
	if err != nil || len(secs) > 12 {
		return 0, "", fmt.Errorf("Session-Expires %q: not a number of seconds", limitText(v, 40))
	}
	d := maxSessionExpires
	if n < uint64(maxSessionExpires/time.Second) {
		d = time.Duration(n) * time.Second
	}
	refresher := ""
	for p := range strings.SplitSeq(params, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(p), "=")
		if !strings.EqualFold(strings.TrimSpace(name), "refresher") {
			continue
		}
		switch value = strings.ToLower(strings.TrimSpace(value)); value {
		case refresherUAC, refresherUAS:
			refresher = value
		default:
			return 0, "", fmt.Errorf("Session-Expires refresher %q: want uac or uas", limitText(value, 20))
		}
	}
	return d, refresher, nil
}

// hasToken reports whether the comma-separated list v holds token (any case).
func hasToken(v, token string) bool {
	for t := range strings.SplitSeq(v, ",") {
		if strings.EqualFold(strings.TrimSpace(t), token) {
			return true
		}
	}
	return false
}

// limitText cuts s to n bytes for an error message.
func limitText(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// minSE returns the shortest session interval the server accepts: at
// least a second, Config.Limits.SessionMinSE (90 s when zero) unless that is off.
func (s *Server) minSE() time.Duration {
	d := s.cfg.Limits.SessionMinSE
	if d == 0 {
		d = limit.Defaults().SessionMinSE
	}
	return max(d, time.Second)
}

// sessionWarner returns the warner that logs refused session timers: at
// most one line a second, whatever a flood of INVITEs asks.
func (s *Server) sessionWarner() *limit.Warner {
	if w := s.sessionWarn.Load(); w != nil {
		return w
	}
	s.sessionWarn.CompareAndSwap(nil, limit.NewWarner(s.log, slog.LevelWarn, time.Second))
	return s.sessionWarn.Load()
}

// negotiateSession decides the session timer for a request asking ask:
// none when it asks for none; a *refusal (422 with Min-SE) when the
// interval is below minSE. The refresher is the one the request names, else
// the caller when it supports timers, else the gateway.
func negotiateSession(ask sessionAsk, minSE time.Duration) (sessionTimer, error) {
	if !ask.asked {
		return sessionTimer{require: ask.supported}, nil
	}
	if ask.expires < minSE {
		secs := int64((minSE + time.Second - 1) / time.Second)
		return sessionTimer{}, &refusal{
			code:   statusIntervalTooSmall,
			reason: "Session Interval Too Small",
			err:    fmt.Errorf("session interval %s below Min-SE %ds", ask.expires, secs),
			hdrs:   []sip.Header{sip.NewHeader("Min-SE", strconv.FormatInt(secs, 10))},
		}
	}
	st := sessionTimer{interval: ask.expires, refresher: ask.refresher, require: ask.supported, useUpdate: ask.allows}
	if st.refresher == "" {
		st.refresher = refresherUAS
		if ask.supported {
			st.refresher = refresherUAC
		}
	}
	return st, nil
}

// giveUpAfter is how long after a refresh the side that does not refresh
// ends the session: the interval less the minimum of 32 s and a third of it.
func giveUpAfter(interval time.Duration) time.Duration {
	return interval - min(sessionGiveUpMargin, interval/3)
}

// admitSession negotiates the session timer the INVITE asks for. An
// interval below Min-SE gets 422 with Min-SE, a malformed Session-Expires
// 400; then the call is over and admitSession reports false.
func (c *Invite) admitSession() bool {
	ask, err := parseSessionAsk(c.dlg.InviteRequest)
	var st sessionTimer
	if err == nil {
		st, err = negotiateSession(ask, c.srv.minSE())
	} else {
		err = &refusal{code: sip.StatusBadRequest, reason: "Bad Request", err: err}
	}
	if err == nil {
		c.mu.Lock()
		c.session = st
		c.mu.Unlock()
		return true
	}
	var re *refusal
	if !errors.As(err, &re) {
		re = &refusal{code: sip.StatusInternalServerError, reason: "Server Internal Error", err: err}
	}
	if re.code == statusIntervalTooSmall {
		limit.Count(c.srv.cfg.Refusals, limit.SessionMinSE)
		c.srv.sessionWarner().Log("rejecting INVITE: session interval too small", "sip_call_id", c.CallID,
			"source", c.Source.String(), "status", re.code, "session_expires", ask.expires.String(), "min_se", c.srv.minSE().String())
	} else {
		c.srv.sessionWarner().Log("rejecting INVITE: bad session timer", "sip_call_id", c.CallID,
			"source", c.Source.String(), "status", re.code, "error", re.err)
	}
	c.mu.Lock()
	c.state = stateRejected
	c.mu.Unlock()
	res := c.response(c.dlg.InviteRequest, re.code, re.reason, nil)
	for _, h := range re.hdrs {
		res.AppendHeader(h)
	}
	if re.code == sip.StatusBadRequest {
		res.AppendHeader(sip.NewHeader("Warning", fmt.Sprintf(`399 %s "%s"`, warnAgent(c.srv.cfg.UserAgent), quoteText(re.err.Error()))))
	}
	c.dlg.InviteResponse = res
	if err := c.tx.Respond(res); err != nil {
		c.log.Debug("session timer refusal failed", "error", err)
	}
	c.end(EndRejected)
	return false
}

// sessionHeadersLocked returns the session-timer headers of a 2xx:
// Session-Expires with the refresher, and Require: timer for a caller that
// supports it.
func (c *Invite) sessionHeadersLocked() []sip.Header {
	st := &c.session
	if st.interval == 0 {
		return nil
	}
	hdrs := []sip.Header{sip.NewHeader("Session-Expires",
		fmt.Sprintf("%d;refresher=%s", int64(st.interval/time.Second), st.refresher))}
	if st.require {
		hdrs = append(hdrs, sip.NewHeader("Require", "timer"))
	}
	return hdrs
}

// refreshSessionLocked takes a re-INVITE's or UPDATE's session refresh:
// a new interval and refresher when it asks for them (422 when the interval
// is too small), else the same; the session timer restarts. A request
// without Session-Expires still refreshes a running timer and does not
// switch it off, so a caller cannot take away the gateway's bound.
func (c *Invite) refreshSessionLocked(ask sessionAsk) error {
	if ask.asked {
		st, err := negotiateSession(ask, c.srv.minSE())
		if err != nil {
			limit.Count(c.srv.cfg.Refusals, limit.SessionMinSE)
			return err
		}
		if ask.refresher == "" && c.session.interval != 0 {
			st.refresher = c.session.refresher
		}
		st.useUpdate = c.session.useUpdate || ask.allows
		st.timer, st.gen = c.session.timer, c.session.gen
		c.session = st
	}
	if c.session.interval != 0 && c.state == stateAnswered {
		c.startSessionLocked()
	}
	return nil
}

// startSessionLocked (re)starts the session timer from now: the gateway's
// next refresh at half the interval when it refreshes, else the expiry.
func (c *Invite) startSessionLocked() {
	st := &c.session
	if st.interval == 0 || c.cause != EndNone {
		return
	}
	st.last = time.Now()
	if st.refresher == refresherUAS {
		c.scheduleSessionLocked(st.interval/2, true)
	} else {
		c.scheduleSessionLocked(giveUpAfter(st.interval), false)
	}
}

// scheduleSessionLocked arms the session timer to fire after d: for the
// gateway's refresh when refresh is set, else for the expiry.
func (c *Invite) scheduleSessionLocked(d time.Duration, refresh bool) {
	st := &c.session
	st.gen++
	gen := st.gen
	if st.timer != nil {
		st.timer.Stop()
	}
	st.timer = time.AfterFunc(max(d, 0), func() { c.sessionFired(gen, refresh) })
}

// stopSessionLocked stops the session timer for good.
func (c *Invite) stopSessionLocked() {
	c.session.gen++
	if c.session.timer != nil {
		c.session.timer.Stop()
	}
}

// sessionFired runs when the session timer fires: the gateway refreshes
// the session, or the session expired and the call ends with BYE.
func (c *Invite) sessionFired(gen uint64, refresh bool) {
	if err := c.begin(); err != nil {
		return
	}
	defer c.ops.Done()
	c.mu.Lock()
	if gen != c.session.gen || c.cause != EndNone || c.byeSent {
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	if !refresh {
		c.expireSession()
		return
	}
	err := c.sendRefresh()
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.session.gen || c.cause != EndNone {
		return // the caller refreshed meanwhile, or the call ended
	}
	if err == nil {
		c.startSessionLocked()
		return
	}
	// Not refreshed: the session expires when its interval runs out,
	// unless the caller refreshes first.
	c.log.Info("session refresh failed", "error", err)
	c.scheduleSessionLocked(time.Until(c.session.last.Add(c.session.interval)), false)
}

// expireSession ends a session no refresh kept alive: it is counted,
// logged, ended, and the caller gets BYE.
func (c *Invite) expireSession() {
	c.mu.Lock()
	if c.cause != EndNone || c.byeSent {
		c.mu.Unlock()
		return
	}
	c.byeSent = true
	interval, refresher, last := c.session.interval, c.session.refresher, c.session.last
	c.mu.Unlock()
	limit.Count(c.srv.cfg.Refusals, limit.SessionExpired)
	c.log.Warn("session timer expired: hanging up", "session_expires", interval.String(), "refresher", refresher,
		"since_refresh", time.Since(last).Round(time.Millisecond).String())
	c.end(EndSessionExpired)
	ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
	err := c.sendBye(ctx)
	cancel()
	c.tx.Terminate()
	if err != nil {
		c.log.Info("BYE after session expiry failed", "error", err)
	}
}

// sendRefresh refreshes the session as its refresher: an UPDATE without
// SDP when the caller allows UPDATE, else a re-INVITE offering the current
// SDP unchanged (then ACKed, its answer taken).
func (c *Invite) sendRefresh() error {
	method := sip.UPDATE
	c.mu.Lock()
	st := c.session
	var body []byte
	var err error
	if !st.useUpdate {
		if c.reinviting || c.outstandingLocked() {
			c.mu.Unlock()
			return errors.New("another offer is in progress")
		}
		method = sip.INVITE
		c.reinviting = true
		body, err = c.answer.marshal(c.srv.cfg.UserAgent)
	}
	c.mu.Unlock()
	if method == sip.INVITE {
		defer func() {
			c.mu.Lock()
			c.reinviting = false
			c.mu.Unlock()
		}()
	}
	if err != nil {
		return err
	}
	req := c.newInDialogRequest(method)
	req.AppendHeader(sip.NewHeader("Session-Expires", fmt.Sprintf("%d;refresher=%s", int64(st.interval/time.Second), refresherUAS)))
	req.AppendHeader(sip.NewHeader("Supported", "timer"))
	req.AppendHeader(sip.NewHeader("Allow", allowHeader))
	if body != nil {
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(body)
	}
	// A caller that does not answer is given up on when the session would
	// expire anyway.
	wait := min(refreshTimeout, time.Until(st.last.Add(st.interval)))
	ctx, cancel := context.WithTimeout(c.ctx, wait)
	defer cancel()
	res, err := c.dlg.Do(ctx, req)
	if err != nil {
		return fmt.Errorf("session refresh %s: %w", method, err)
	}
	if !res.IsSuccess() {
		return fmt.Errorf("session refresh %s answered %d %s", method, res.StatusCode, res.Reason)
	}
	if method != sip.INVITE {
		c.log.Debug("session refreshed", "method", string(method))
		return nil
	}
	ack := sip.NewRequest(sip.ACK, req.Recipient)
	if err := c.dlg.WriteRequest(ack); err != nil {
		return fmt.Errorf("session refresh ACK: %w", err)
	}
	c.mu.Lock()
	ans, perr := ParseAnswer(res.Body(), []Codec{c.answer.codec})
	var moved bool
	if perr == nil {
		moved = c.takeRemoteLocked(ans, time.Now())
	}
	remote, notify := c.remote, c.onRemote
	c.mu.Unlock()
	if perr != nil {
		c.log.Info("session refresh answer unusable; the session stays as it was", "error", perr)
	}
	c.noteRemote(moved, remote, notify)
	c.log.Debug("session refreshed", "method", string(method))
	return nil
}

// newInDialogRequest starts a request of method m inside the call's
// dialog: sent to the caller's Contact over the INVITE's transport, with
// the gateway's User-Agent.
func (c *Invite) newInDialogRequest(m sip.RequestMethod) *sip.Request {
	inv := c.dlg.InviteRequest
	target := inv.Recipient
	if ct := inv.Contact(); ct != nil {
		target = ct.Address
	}
	req := sip.NewRequest(m, target)
	req.SetTransport(inv.Transport())
	req.AppendHeader(sip.NewHeader("User-Agent", c.srv.cfg.UserAgent))
	return req
}
