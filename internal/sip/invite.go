package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
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
	EndNone      EndCause = iota
	EndRemoteBye          // the caller sent BYE
	EndCancel             // the caller sent CANCEL before the call was answered
	EndLocalBye           // the gateway sent BYE
	EndRejected           // the gateway sent a non-2xx final response
	EndError              // the dialog failed: no ACK, transport error
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
	Offer       Offer             // the initial offer
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
	remote     netip.AddrPort
	offer      Offer
	offerAt    time.Time // when offer came
	onRemote   func(netip.AddrPort)
	onEnd      []func()
}

func newInvite(s *Server, req *sip.Request, tx sip.ServerTransaction, dlg *sipgo.DialogServerSession, offer Offer, log *slog.Logger) *Invite {
	c := &Invite{
		CallID:  callIDOf(req),
		Offer:   offer,
		Headers: make(map[string]string, 16),
		srv:     s,
		log:     log,
		dlg:     dlg,
		tx:      tx,
		done:    make(chan struct{}),
		ackSig:  make(chan struct{}, 1),
		remote:  offer.RTPAddr,
		offer:   offer,
		offerAt: time.Now(),
	}
	c.ctx, c.cancel = context.WithCancel(s.baseCtx)
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
	o.Codecs = append([]Codec(nil), o.Codecs...)
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
	c.mu.Unlock()
	close(c.done)
	c.cancel()
	c.log.Info("call ended", "cause", cause.String())
	for _, fn := range fns {
		fn()
	}
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
// c= line carries Config.PublicIP) and telephone-event on dtmfType when the
// caller offered that type (0 = no DTMF), then waits for the ACK, retransmitting
// the 200 OK, for up to Config.AckTimeout. codec must be one of Offer.Codecs.
// When the ACK never comes the server sends BYE and Answer returns ErrAckTimeout.
func (c *Invite) Answer(local netip.AddrPort, codec Codec, dtmfType uint8) error {
	if err := c.begin(); err != nil {
		return err
	}
	defer c.ops.Done()
	if local.Port() == 0 {
		return fmt.Errorf("sip: answer: local RTP port is 0")
	}
	if codec.ClockRate == 0 {
		codec.ClockRate = 8000
	}
	if !c.Offer.Has(codec) || codec.ClockRate != 8000 {
		return fmt.Errorf("sip: answer with %s/%d: %w", codec.Name, codec.PayloadType, ErrNoCommonCodec)
	}
	codec.Name = strings.ToUpper(codec.Name)
	c.mu.Lock()
	if err := c.checkNewLocked(); err != nil {
		c.mu.Unlock()
		return err
	}
	if dtmfType != 0 && dtmfType != c.offer.DTMFType {
		dtmfType = 0
	}
	c.state = stateAnswering
	c.pendingSeq = c.dlg.InviteRequest.CSeq().SeqNo
	c.answer = &answerSDP{
		ip:        c.srv.publicIP,
		port:      local.Port(),
		codec:     codec,
		dtmfType:  dtmfType,
		sessionID: rand.Uint64() >> 1,
		version:   1,
		direction: answerDirection(c.offer.Direction),
	}
	body, err := c.answer.marshal(c.srv.cfg.UserAgent)
	c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("sip: answer: %w", err)
	}
	res := c.response(c.dlg.InviteRequest, sip.StatusOK, "OK", body)
	c.dlg.InviteResponse = res
	if err := c.tx.Respond(res); err != nil {
		c.end(EndError)
		return fmt.Errorf("sip: send 200: %w", err)
	}
	err = c.awaitAck(c.dlg.InviteRequest.CSeq().SeqNo, res, c.tx)
	switch err {
	case nil:
		c.mu.Lock()
		c.state = stateAnswered
		c.mu.Unlock()
		c.log.Info("call answered", "codec", codec.Name, "local_port", local.Port(), "remote_rtp", c.RemoteRTP().String())
		return nil
	case ErrAckTimeout:
		c.log.Warn("no ACK for 200 OK; ending call")
		c.mu.Lock()
		c.byeSent = true
		c.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
		byeErr := c.sendBye(ctx)
		cancel()
		c.end(EndError)
		c.tx.Terminate()
		if byeErr != nil {
			return fmt.Errorf("%w (bye: %w)", ErrAckTimeout, byeErr)
		}
		return ErrAckTimeout
	default:
		return err
	}
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
	if cseq.SeqNo <= c.pendingSeq && cseq.SeqNo > c.ackedSeq {
		c.ackedSeq = cseq.SeqNo
	}
	c.mu.Unlock()
	c.pokeAck()
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
	switch {
	case c.cause != EndNone || c.byeSent:
		c.mu.Unlock()
		return ErrCallEnded
	case c.state != stateAnswered:
		c.mu.Unlock()
		return ErrNotAnswered
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

// reinvite answers a re-INVITE with the current answer (same codec and
// port, next session version, direction mirrored per RFC 3264) and records
// the caller's new address.
func (c *Invite) reinvite(req *sip.Request, tx sip.ServerTransaction) {
	body, err := c.updateSession(req, tx)
	if err != nil {
		var re *refusal
		code, reason := sip.StatusInternalServerError, "Server Internal Error"
		if errors.As(err, &re) {
			code, reason = re.code, re.reason
		}
		c.log.Info("re-INVITE refused", "status", code, "error", err)
		c.srv.respond(req, tx, code, reason)
		c.srv.awaitAck(tx)
		return
	}
	res := c.response(req, sip.StatusOK, "OK", body)
	if err := tx.Respond(res); err != nil {
		c.log.Info("re-INVITE response failed", "error", err)
		return
	}
	if err := c.awaitAck(req.CSeq().SeqNo, res, tx); err == ErrAckTimeout {
		c.log.Warn("no ACK for re-INVITE 200 OK")
	}
	tx.Terminate()
}

// refusal is a re-INVITE error with the status to answer it with.
type refusal struct {
	code   int
	reason string
	err    error
}

func (r *refusal) Error() string { return fmt.Sprintf("%d %s: %v", r.code, r.reason, r.err) }
func (r *refusal) Unwrap() error { return r.err }

// updateSession applies a re-INVITE's offer and returns the SDP answer.
// The re-INVITE stops being pending when it returns: the caller cannot send
// another before it sees the response.
func (c *Invite) updateSession(req *sip.Request, tx sip.ServerTransaction) ([]byte, error) {
	c.mu.Lock()
	switch {
	case c.cause != EndNone:
		c.mu.Unlock()
		return nil, &refusal{sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist", ErrCallEnded}
	case c.answer == nil || c.reinviting:
		c.mu.Unlock()
		return nil, &refusal{sip.StatusRequestPending, "Request Pending", ErrAlreadyResponded}
	}
	c.reinviting = true
	c.implicitAckLocked()
	c.mu.Unlock()
	c.pokeAck()
	defer func() {
		c.mu.Lock()
		c.reinviting = false
		c.mu.Unlock()
	}()

	if err := c.dlg.ReadRequest(req, tx); err != nil {
		return nil, fmt.Errorf("re-INVITE CSeq: %w", err)
	}
	var offer *Offer
	if len(req.Body()) > 0 {
		o, err := ParseOffer(req.Body())
		if err != nil {
			return nil, &refusal{sip.StatusNotAcceptableHere, "Not Acceptable Here", err}
		}
		offer = &o
	}

	c.mu.Lock()
	if offer != nil && !offer.Has(c.answer.codec) {
		c.mu.Unlock()
		return nil, &refusal{sip.StatusNotAcceptableHere, "Not Acceptable Here", ErrNoCommonCodec}
	}
	var changed bool
	var remote netip.AddrPort
	var notify func(netip.AddrPort)
	if offer != nil {
		if offer.RTPAddr.Addr().IsUnspecified() {
			// RFC 2543 hold: keep the address, treat as no media flow.
			offer.RTPAddr = c.remote
			offer.Direction = DirInactive
		}
		changed = offer.RTPAddr != c.remote
		c.offer = *offer
		c.offerAt = time.Now()
		c.remote = offer.RTPAddr
		c.answer.direction = answerDirection(offer.Direction)
		remote, notify = c.remote, c.onRemote
	}
	c.answer.version++
	c.pendingSeq = req.CSeq().SeqNo
	body, err := c.answer.marshal(c.srv.cfg.UserAgent)
	direction := c.answer.direction
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	if changed {
		c.log.Info("remote RTP address changed", "remote_rtp", remote.String())
		if notify != nil {
			notify(remote)
		}
	}
	c.log.Info("re-INVITE accepted", "direction", direction)
	return body, nil
}

// run calls the handler, then settles what it left open.
func (c *Invite) run() {
	defer c.cancel()
	func() {
		defer func() {
			if r := recover(); r != nil {
				c.log.Error("call handler panicked", "panic", fmt.Sprint(r))
			}
		}()
		c.srv.cfg.Handler(c.ctx, c)
	}()

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

// statusText returns the standard reason phrase for a final status code.
func statusText(code int) string {
	switch code {
	case 300:
		return "Multiple Choices"
	case 301:
		return "Moved Permanently"
	case 302:
		return "Moved Temporarily"
	case 380:
		return "Alternative Service"
	case 400:
		return "Bad Request"
	case 401:
		return "Unauthorized"
	case 402:
		return "Payment Required"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 406:
		return "Not Acceptable"
	case 408:
		return "Request Timeout"
	case 410:
		return "Gone"
	case 480:
		return "Temporarily Unavailable"
	case 481:
		return "Call/Transaction Does Not Exist"
	case 484:
		return "Address Incomplete"
	case 486:
		return "Busy Here"
	case 487:
		return "Request Terminated"
	case 488:
		return "Not Acceptable Here"
	case 491:
		return "Request Pending"
	case 500:
		return "Server Internal Error"
	case 501:
		return "Not Implemented"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Server Time-out"
	case 600:
		return "Busy Everywhere"
	case 603:
		return "Decline"
	case 604:
		return "Does Not Exist Anywhere"
	case 606:
		return "Not Acceptable"
	}
	switch code / 100 {
	case 3:
		return "Redirection"
	case 4:
		return "Request Failure"
	case 5:
		return "Server Failure"
	default:
		return "Global Failure"
	}
}
