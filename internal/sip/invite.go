package sip

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// EndCause says why a call's dialog ended.
type EndCause int

// End causes. EndNone means the dialog has not ended.
const (
	EndNone           EndCause = iota
	EndRemoteBye               // the caller sent BYE
	EndCancel                  // the caller sent CANCEL before the call was answered
	EndLocalBye                // the gateway sent BYE
	EndRejected                // the gateway sent a non-2xx final response
	EndError                   // the dialog failed: no ACK, no usable answer, transport error
	EndSessionExpired          // no session refresh came in time (RFC 4028); the gateway sent BYE
)

// String returns the cause's name.
func (e EndCause) String() string {
	switch e {
	case EndNone:
		return "none"
	case EndRemoteBye:
		return "remote-bye"
	case EndCancel:
		return "cancel"
	case EndLocalBye:
		return "local-bye"
	case EndRejected:
		return "rejected"
	case EndError:
		return "error"
	case EndSessionExpired:
		return "session-expired"
	}
	return fmt.Sprintf("EndCause(%d)", int(e))
}

// callState tracks the INVITE's final response.
type callState int

const (
	stateNew       callState = iota // no final response yet
	stateAnswering                  // 200 OK sent, waiting for ACK
	stateAnswered                   // 200 OK acknowledged
	stateRejected                   // non-2xx final response sent
)

// Invite is one incoming call. Its exported fields are set before the
// handler runs and never change; its methods are safe for concurrent use.
type Invite struct {
	CallID      string            // SIP Call-ID
	From        string            // user part of the From URI
	To          string            // user part of the To URI (the Request-URI's if To has none)
	FromDisplay string            // From display name
	FromURI     string            // full From URI
	ToURI       string            // full To URI
	Diversion   string            // user part of the first Diversion URI, "" if none
	Source      netip.AddrPort    // where the INVITE came from
	Offer       Offer             // the initial offer; empty for a late offer
	LateOffer   bool              // the INVITE had no SDP: the 200 OK offers, the ACK answers
	Headers     map[string]string // every header: lower-case name -> first value

	srv *Server                    // borrowed: the server that accepted the call
	log *slog.Logger               // carries sip_call_id
	dlg *sipgo.DialogServerSession // owned by sipgo's dialog layer, lives with the call
	tx  sip.ServerTransaction      // the initial INVITE transaction

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	ackSig chan struct{} // cap 1; poked when ackedSeq grows
	ops    sync.WaitGroup

	mu         sync.Mutex
	state      callState
	cause      EndCause
	finished   bool // handler returned; methods refuse
	byeSent    bool
	reinviting bool
	ackedSeq   uint32 // highest CSeq whose 2xx was acknowledged
	pendingSeq uint32 // CSeq of the latest INVITE answered with 2xx
	answer     *answerSDP
	early      bool // a 183 carried answer; the 200 OK repeats it
	remote     netip.AddrPort
	offer      Offer
	offerAt    time.Time // when offer came
	heldSince  time.Time // when the caller put the call on hold; zero while it is not held
	media      Media     // what the answer agreed
	onRemote   func(netip.AddrPort)
	onEnd      []func()
	onRequest  func(InDialogRequest) // MESSAGE and INFO in the dialog

	// The 2xx that carried the gateway's offer (to an INVITE without SDP)
	// and waits for the answer in its ACK; nil when none waits.
	offerWait *offerWait

	session sessionTimer // RFC 4028 session timer; zero interval: none
}

func newInvite(s *Server, req *sip.Request, tx sip.ServerTransaction, dlg *sipgo.DialogServerSession, offer Offer, log *slog.Logger) *Invite {
	c := &Invite{
		CallID:    callIDOf(req),
		Offer:     offer,
		LateOffer: len(req.Body()) == 0,
		Headers:   make(map[string]string, 16),
		srv:       s,
		log:       log,
		dlg:       dlg,
		tx:        tx,
		done:      make(chan struct{}),
		ackSig:    make(chan struct{}, 1),
		remote:    offer.RTPAddr,
		offer:     offer,
		offerAt:   time.Now(),
	}
	c.ctx, c.cancel = context.WithCancel(s.baseCtx)
	if !c.LateOffer {
		c.takeRemoteLocked(offer, c.offerAt)
	}
	if from := req.From(); from != nil {
		c.From = from.Address.User
		c.FromDisplay = from.DisplayName
		c.FromURI = from.Address.String()
	}
	if to := req.To(); to != nil {
		c.To = to.Address.User
		c.ToURI = to.Address.String()
	}
	if c.To == "" {
		c.To = req.Recipient.User
	}
	if h := req.GetHeader("Diversion"); h != nil {
		c.Diversion = diversionUser(h.Value())
	}
	if src, err := netip.ParseAddrPort(req.Source()); err == nil {
		c.Source = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
	}
	for _, h := range req.Headers() {
		name := strings.ToLower(h.Name())
		if _, ok := c.Headers[name]; !ok {
			c.Headers[name] = h.Value()
		}
	}
	if !tx.OnCancel(func(*sip.Request) { c.end(EndCancel) }) {
		c.end(EndCancel)
	}
	tx.OnTerminate(func(string, error) {
		c.mu.Lock()
		st := c.state
		c.mu.Unlock()
		if st == stateNew || st == stateAnswering {
			c.end(EndError)
		}
	})
	return c
}

// diversionUser extracts the user part of the first URI in a Diversion value.
func diversionUser(v string) string {
	first, _, _ := strings.Cut(v, ",")
	var uri sip.Uri
	params := sip.NewParams()
	if _, err := sip.ParseAddressValue(strings.TrimSpace(first), &uri, &params); err == nil && uri.User != "" {
		return uri.User
	}
	return strings.TrimSpace(first)
}

// Logger returns the call's logger, which carries the sip_call_id attribute.
func (c *Invite) Logger() *slog.Logger { return c.log }

// Done is closed when the dialog has ended.
func (c *Invite) Done() <-chan struct{} { return c.done }

// EndCause says why the dialog ended; EndNone while it is up.
func (c *Invite) EndCause() EndCause {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cause
}

// RemoteRTP returns the caller's current RTP address; a re-INVITE may change it.
func (c *Invite) RemoteRTP() netip.AddrPort {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.remote
}

// RemoteOffer returns the caller's latest offer (the initial one until a
// re-INVITE replaces it), e.g. to see a hold (Direction sendonly/inactive).
func (c *Invite) RemoteOffer() Offer {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.offer
	o.Codecs = slices.Clone(o.Codecs)
	o.DTMF = slices.Clone(o.DTMF)
	return o
}

// RemoteDirection returns the direction of the caller's latest offer
// (sendrecv, sendonly, recvonly or inactive), without copying the offer, and
// when that offer came (the INVITE's or the last re-INVITE's time).
func (c *Invite) RemoteDirection() (string, time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offer.Direction, c.offerAt
}

// HeldSince returns when the caller put the call on hold (its latest
// offer or answer is inactive, recvonly, or has c=0.0.0.0: it sends
// nothing), and the zero time while the call is not held. A hold offered
// again (e.g. in a session refresh) keeps its start.
func (c *Invite) HeldSince() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.heldSince
}

// Media returns what the answer agreed (the zero Media before).
func (c *Invite) Media() Media {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.media
}

// OnRemoteChange registers fn, called (from the re-INVITE's goroutine,
// before the 200 OK is sent) when a re-INVITE changes the remote RTP address.
// fn must not block.
func (c *Invite) OnRemoteChange(fn func(netip.AddrPort)) {
	c.mu.Lock()
	c.onRemote = fn
	c.mu.Unlock()
}

// OnEnd registers fn to run once when the dialog ends (at once, in this
// goroutine, if it has ended). fn runs on the goroutine that ended the
// dialog (a SIP request's) and must not block on SIP.
func (c *Invite) OnEnd(fn func()) {
	c.mu.Lock()
	if c.cause == EndNone {
		c.onEnd = append(c.onEnd, fn)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	fn()
}

// end records the first cause, closes Done and cancels the handler context.
func (c *Invite) end(cause EndCause) {
	c.mu.Lock()
	if c.cause != EndNone {
		c.mu.Unlock()
		return
	}
	c.cause = cause
	fns := c.onEnd
	c.onEnd = nil
	c.stopSessionLocked()
	c.mu.Unlock()
	close(c.done)
	c.log.Info("call ended", "cause", cause.String())
	// The callbacks run before the handler's context ends: the call hands
	// its streams the caller's last audio before the handler stops them.
	for _, fn := range fns {
		fn()
	}
	c.cancel()
}

// begin admits a public method call unless the handler has returned.
func (c *Invite) begin() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished {
		return ErrCallEnded
	}
	c.ops.Add(1)
	return nil
}

// checkNewLocked reports whether a final response may still be sent.
func (c *Invite) checkNewLocked() error {
	if c.cause != EndNone {
		return ErrCallEnded
	}
	if c.state != stateNew {
		return ErrAlreadyResponded
	}
	return nil
}

// response builds a response to the INVITE inside the dialog (To tag set)
// with the server's standard headers.
func (c *Invite) response(req *sip.Request, code int, reason string, body []byte) *sip.Response {
	res := sip.NewResponseFromRequest(req, code, reason, body)
	if code > 100 {
		res.AppendHeader(sip.HeaderClone(&c.srv.dialogUA(req).ContactHDR))
	}
	res.AppendHeader(sip.NewHeader("Server", c.srv.cfg.UserAgent))
	if code >= 200 && code < 300 {
		res.AppendHeader(sip.NewHeader("Allow", allowHeader))
		res.AppendHeader(sip.NewHeader("Supported", "timer"))
	}
	if body != nil {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	}
	return res
}

// Ringing sends 180 Ringing.
func (c *Invite) Ringing() error {
	if err := c.begin(); err != nil {
		return err
	}
	defer c.ops.Done()
	c.mu.Lock()
	err := c.checkNewLocked()
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if err := c.tx.Respond(c.response(c.dlg.InviteRequest, sip.StatusRinging, "Ringing", nil)); err != nil {
		return fmt.Errorf("sip: send 180: %w", err)
	}
	return nil
}

// Answer sends 200 OK with an SDP answer for codec on local's port (the
// c= line carries Config.PublicIP), telephone-event on dtmfType when the
// caller offered that type (0 = no DTMF) and CN/8000 when the caller offered
// it beside a codec on the 8000 clock, then waits for the ACK, retransmitting
// the 200 OK, for up to Config.AckTimeout. codec must be one of Offer.Codecs.
// When the ACK never comes the server sends BYE and Answer returns ErrAckTimeout.
// For a late offer the 200 OK offers codec first, the gateway's other codecs
// after it, telephone-event when dtmfType is not 0 and CN; the ACK's answer
// decides, as for Accept, and Media tells what it picked. After
// EarlyMedia the 200 OK repeats the 183's SDP (codec and dtmfType are not
// looked at) and local must be the port the 183 gave.
func (c *Invite) Answer(local netip.AddrPort, codec Codec, dtmfType uint8) error {
	_, err := c.answerCall(local, codec, dtmfType)
	return err
}

// answerCall sends the 200 OK (an answer, or an offer for a late offer),
// waits for the ACK and takes the ACK's answer to an offer.
func (c *Invite) answerCall(local netip.AddrPort, codec Codec, dtmfType uint8) (Media, error) {
	if err := c.begin(); err != nil {
		return Media{}, err
	}
	defer c.ops.Done()
	if local.Port() == 0 {
		return Media{}, fmt.Errorf("sip: answer: local RTP port is 0")
	}
	seq := c.dlg.InviteRequest.CSeq().SeqNo
	c.mu.Lock()
	if err := c.checkNewLocked(); err != nil {
		c.mu.Unlock()
		return Media{}, err
	}
	ours, early, err := c.earlyAnswerLocked(local)
	switch {
	case early:
		// The 183 sent the answer: the 200 OK repeats it unchanged.
	case c.LateOffer:
		ours = &answerSDP{ip: c.srv.publicIP, port: local.Port(), sessionID: rand.Uint64() >> 1, version: 1}
		err = c.offerLocked(ours, codec, dtmfType)
	default:
		ours = &answerSDP{ip: c.srv.publicIP, port: local.Port(), sessionID: rand.Uint64() >> 1, version: 1}
		err = c.answerLocked(ours, codec, dtmfType)
	}
	if err != nil {
		c.mu.Unlock()
		return Media{}, err
	}
	c.state = stateAnswering
	c.pendingSeq = seq
	var wait *offerWait
	if c.LateOffer {
		wait = newOfferWait(seq, true)
		c.offerWait = wait
	}
	c.answer = ours
	body, err := c.answer.marshal(c.srv.cfg.UserAgent)
	sessionHdrs := c.sessionHeadersLocked()
	c.mu.Unlock()
	if err != nil {
		return Media{}, fmt.Errorf("sip: answer: %w", err)
	}
	res := c.response(c.dlg.InviteRequest, sip.StatusOK, "OK", body)
	for _, h := range sessionHdrs {
		res.AppendHeader(h)
	}
	c.dlg.InviteResponse = res
	if err := c.tx.Respond(res); err != nil {
		c.end(EndError)
		return Media{}, fmt.Errorf("sip: send 200: %w", err)
	}
	err = c.awaitAck(seq, res, c.tx)
	switch err {
	case nil:
	case ErrAckTimeout:
		c.log.Warn("no ACK for 200 OK; ending call")
		if byeErr := c.byeAndEnd(EndError); byeErr != nil {
			return Media{}, fmt.Errorf("%w (bye: %w)", ErrAckTimeout, byeErr)
		}
		return Media{}, ErrAckTimeout
	default:
		return Media{}, err
	}
	if c.LateOffer {
		if err := c.answerTaken(wait); err != nil {
			if c.EndCause() != EndNone {
				return Media{}, ErrCallEnded
			}
			c.log.Warn("ACK carried no usable SDP answer to the gateway's offer; ending call", "error", err)
			if byeErr := c.byeAndEnd(EndError); byeErr != nil {
				c.log.Info("BYE after unusable answer failed", "error", byeErr)
			}
			return Media{}, fmt.Errorf("%w: %w", ErrNoAnswer, err)
		}
	}
	c.mu.Lock()
	c.state = stateAnswered
	m := c.media
	c.startSessionLocked()
	c.mu.Unlock()
	c.log.Info("call answered", "codec", m.Codec.Format().String(), "payload_type", m.Codec.PayloadType, "late_offer", c.LateOffer,
		"local_port", local.Port(), "remote_rtp", m.Remote.String())
	return m, nil
}

// answerLocked fills a with the answer to the caller's offer: codec, which
// must be one of the offer's (same encoding and payload type), the offer's
// telephone-event on dtmfType when the offer has that type, and CN/8000
// when the offer has it and codec runs on the 8000 clock.
func (c *Invite) answerLocked(a *answerSDP, chosen Codec, dtmfType uint8) error {
	i := slices.IndexFunc(c.Offer.Codecs, func(oc Codec) bool {
		return strings.EqualFold(oc.Name, chosen.Name) && oc.PayloadType == chosen.PayloadType &&
			(chosen.ClockRate == 0 || chosen.ClockRate == oc.ClockRate)
	})
	if i < 0 {
		return fmt.Errorf("sip: answer with %s/%d pt %d, which the offer %s lacks: %w",
			chosen.Name, chosen.ClockRate, chosen.PayloadType, codecNames(c.Offer.Codecs), ErrNoCommonCodec)
	}
	chosen = c.Offer.Codecs[i] // the offer's spelling, clock, channels and fmtp
	m := Media{Codec: chosen, Remote: c.remote, OfferedType: chosen.PayloadType, CNType: c.offer.CNFor(chosen)}
	if dtmfType != 0 {
		for _, e := range c.offer.DTMF {
			if e.PayloadType == dtmfType {
				m.DTMFType, m.DTMFClock = e.PayloadType, e.ClockRate
				break
			}
		}
	}
	a.codec, a.alt = chosen, nil
	a.setMedia(m)
	a.direction = answerDirection(c.offer.Direction)
	c.media = m
	return nil
}

// byeAndEnd sends BYE (bounded by byeTimeout) and ends the dialog with cause.
func (c *Invite) byeAndEnd(cause EndCause) error {
	c.mu.Lock()
	c.byeSent = true
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
	err := c.sendBye(ctx)
	cancel()
	c.end(cause)
	c.tx.Terminate()
	return err
}

// awaitAck retransmits res on tx (T1 doubling to T2) until an ACK with CSeq
// seq arrives, the dialog ends or AckTimeout passes.
func (c *Invite) awaitAck(seq uint32, res *sip.Response, tx sip.ServerTransaction) error {
	interval := sip.T1
	retransmit := time.NewTimer(interval)
	defer retransmit.Stop()
	deadline := time.NewTimer(c.srv.cfg.AckTimeout)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		acked := c.ackedSeq >= seq
		c.mu.Unlock()
		if acked {
			return nil
		}
		select {
		case <-c.ackSig:
		case <-retransmit.C:
			if err := tx.Respond(res); err != nil {
				c.log.Debug("200 OK retransmission failed", "error", err)
			}
			interval = min(2*interval, sip.T2)
			retransmit.Reset(interval)
		case <-deadline.C:
			return ErrAckTimeout
		case <-c.done:
			c.mu.Lock()
			acked := c.ackedSeq >= seq
			c.mu.Unlock()
			if acked {
				return nil
			}
			return ErrCallEnded
		case <-c.srv.stopping:
			return ErrCallEnded
		}
	}
}

// ackReceived records an ACK for a 2xx (initial INVITE or re-INVITE).
func (c *Invite) ackReceived(req *sip.Request) {
	cseq := req.CSeq()
	if cseq == nil {
		return
	}
	// Confirms the sipgo dialog; a late ACK overtaken by a newer request
	// fails its CSeq check, which is harmless here.
	_ = c.dlg.ReadAck(req, nil)
	c.mu.Lock()
	var moved bool
	var answerErr error
	if w := c.offerWait; w != nil && cseq.SeqNo == w.seq && !w.acked {
		// The answer to the offer the 2xx carried (a retransmitted ACK
		// repeats it and is ignored).
		moved = c.answerInAckLocked(w, req.Body())
		if !w.initial {
			answerErr = w.err
		}
	}
	if cseq.SeqNo <= c.pendingSeq && cseq.SeqNo > c.ackedSeq {
		c.ackedSeq = cseq.SeqNo
	}
	remote, notify := c.remote, c.onRemote
	c.mu.Unlock()
	c.pokeAck()
	if answerErr != nil {
		c.log.Warn("ACK to a re-INVITE without SDP carried no usable answer; the session stays as it was", "error", answerErr)
	}
	c.noteRemote(moved, remote, notify)
}

// implicitAckLocked treats the pending 2xx as acknowledged: the caller sends
// BYE or a new re-INVITE only after its ACK, and requests are processed
// concurrently, so either may be seen before the ACK.
func (c *Invite) implicitAckLocked() {
	c.ackedSeq = max(c.ackedSeq, c.pendingSeq)
}

// pokeAck wakes a goroutine waiting for an ACK.
func (c *Invite) pokeAck() {
	select {
	case c.ackSig <- struct{}{}:
	default:
	}
}

// Reject sends a final non-2xx response. reason goes into a
// `Reason: SIP;cause=<code>;text="<reason>"` and a
// `Warning: 399 <agent> "<reason>"` header.
func (c *Invite) Reject(code int, reason string) error {
	if err := c.begin(); err != nil {
		return err
	}
	defer c.ops.Done()
	return c.reject(code, reason)
}

func (c *Invite) reject(code int, reason string) error {
	if code < 300 || code > 699 {
		return fmt.Errorf("sip: reject with %d: %w", code, ErrInvalidStatus)
	}
	c.mu.Lock()
	if err := c.checkNewLocked(); err != nil {
		c.mu.Unlock()
		return err
	}
	c.state = stateRejected
	c.mu.Unlock()

	res := c.response(c.dlg.InviteRequest, code, statusText(code), nil)
	text := quoteText(reason)
	if text != "" {
		res.AppendHeader(sip.NewHeader("Reason", fmt.Sprintf(`SIP;cause=%d;text="%s"`, code, text)))
		res.AppendHeader(sip.NewHeader("Warning", fmt.Sprintf(`399 %s "%s"`, warnAgent(c.srv.cfg.UserAgent), text)))
	} else {
		res.AppendHeader(sip.NewHeader("Reason", fmt.Sprintf("SIP;cause=%d", code)))
	}
	c.dlg.InviteResponse = res
	err := c.tx.Respond(res)
	c.end(EndRejected)
	if err != nil {
		return fmt.Errorf("sip: send %d: %w", code, err)
	}
	c.log.Info("call rejected", "status", code, "reason", reason)
	return nil
}

// quoteText makes s safe inside a quoted-string.
func quoteText(s string) string {
	s = strings.Map(func(r rune) rune {
		switch r {
		case '"', '\\':
			return '\''
		case '\r', '\n', '\t':
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// inDialogLocked says whether the dialog can take a request now: the call
// was answered and has not ended. c.mu must be held.
func (c *Invite) inDialogLocked() error {
	switch {
	case c.cause != EndNone || c.byeSent:
		return ErrCallEnded
	case c.state != stateAnswered:
		return ErrNotAnswered
	}
	return nil
}

// Hangup sends BYE and waits for its response (bounded by ctx; the BYE is
// sent even if ctx is already done). It returns ErrNotAnswered, without
// sending anything, if the call was never answered, and ErrCallEnded if the
// dialog is already over.
func (c *Invite) Hangup(ctx context.Context) error {
	if err := c.begin(); err != nil {
		return err
	}
	defer c.ops.Done()
	c.mu.Lock()
	if err := c.inDialogLocked(); err != nil {
		c.mu.Unlock()
		return err
	}
	c.byeSent = true
	c.mu.Unlock()
	err := c.sendBye(ctx)
	c.end(EndLocalBye)
	c.tx.Terminate()
	return err
}

// sendBye sends BYE in the dialog and waits for the final response.
func (c *Invite) sendBye(ctx context.Context) error {
	inv := c.dlg.InviteRequest
	bye := sip.NewRequest(sip.BYE, inv.Contact().Address)
	bye.SetTransport(inv.Transport())
	bye.AppendHeader(sip.NewHeader("User-Agent", c.srv.cfg.UserAgent))
	tx, err := c.dlg.TransactionRequest(context.WithoutCancel(ctx), bye)
	if err != nil {
		return fmt.Errorf("sip: send BYE: %w", err)
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			if !res.IsSuccess() {
				return fmt.Errorf("sip: BYE answered %d %s", res.StatusCode, res.Reason)
			}
			return nil
		case <-tx.Done():
			return fmt.Errorf("sip: BYE: %w", tx.Err())
		case <-ctx.Done():
			return fmt.Errorf("sip: BYE: %w", ctx.Err())
		}
	}
}

// remoteBye handles the caller's BYE.
func (c *Invite) remoteBye(req *sip.Request, tx sip.ServerTransaction) {
	c.mu.Lock()
	c.implicitAckLocked()
	c.mu.Unlock()
	c.pokeAck()
	c.end(EndRemoteBye)
	if err := c.dlg.ReadBye(req, tx); err != nil {
		c.log.Info("bad BYE", "error", err)
		c.srv.respond(req, tx, sip.StatusInternalServerError, "Server Internal Error")
	}
}

// run calls the handler, then settles what it left open.
func (c *Invite) run() {
	defer c.cancel()
	if c.admitSession() {
		func() {
			defer func() {
				if r := recover(); r != nil {
					c.log.Error("call handler panicked", "panic", fmt.Sprint(r))
				}
			}()
			c.srv.cfg.Handler(c.ctx, c)
		}()
	}

	c.mu.Lock()
	c.finished = true
	c.mu.Unlock()
	c.ops.Wait()

	c.mu.Lock()
	state, cause, byeSent := c.state, c.cause, c.byeSent
	c.mu.Unlock()
	switch {
	case state == stateNew && cause == EndNone:
		code, reason := sip.StatusInternalServerError, "call handler returned without answering"
		select {
		case <-c.srv.stopping:
			code, reason = sip.StatusServiceUnavailable, "gateway shutting down"
		default:
		}
		if err := c.reject(code, reason); err != nil {
			c.log.Debug("final response failed", "error", err)
		}
	case state == stateNew && cause == EndRemoteBye:
		// BYE in an early dialog: the INVITE still needs a final response.
		if err := c.tx.Respond(c.response(c.dlg.InviteRequest, sip.StatusRequestTerminated, "Request Terminated", nil)); err != nil {
			c.log.Debug("487 after early BYE failed", "error", err)
		}
	case state == stateAnswered && cause == EndNone && !byeSent:
		ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
		if err := c.sendBye(ctx); err != nil {
			c.log.Info("BYE after handler return failed", "error", err)
		}
		cancel()
		c.end(EndLocalBye)
	}

	c.mu.Lock()
	state = c.state
	c.mu.Unlock()
	if state == stateAnswered || state == stateAnswering {
		c.tx.Terminate()
	} else {
		c.srv.awaitAck(c.tx)
	}
	c.end(EndError) // no-op unless nothing above ended the dialog
}
