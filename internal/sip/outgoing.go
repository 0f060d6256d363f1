package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/callstream/callstream/internal/logsafe"
)

// DialConfig describes an outgoing call placed by the gateway.
type DialConfig struct {
	// Target is who to call: a SIP URI ("sip:bob@host:5080",
	// "sip:bob@host;transport=tcp") or "user@host[:port]".
	Target string
	// From is the user part of the From URI, the caller id the callee
	// sees. Default "callstream".
	From string
	// FromDisplay is the From display name ("" for none).
	FromDisplay string
	// Headers are added to the INVITE (e.g. X- headers), in name order.
	Headers map[string]string
	// LocalRTP is the gateway's RTP socket for the call; its port goes
	// into the SDP offer, the c= line carries Config.PublicIP.
	LocalRTP netip.AddrPort
	// AuthUser and Password answer a digest challenge (401, 407).
	AuthUser, Password string
	// OnProgress is called with every provisional response above 100
	// (180 Ringing, 183 Session Progress). It must not block.
	OnProgress func(code int, reason string)
	// Logger receives the call's logs (default: the server's).
	Logger *slog.Logger
}

// DialError is the final non-2xx response an outgoing INVITE got.
type DialError struct {
	Code   int
	Reason string
}

// Error implements error.
func (e *DialError) Error() string { return fmt.Sprintf("sip: call answered %d %s", e.Code, e.Reason) }

// Outgoing is one answered call the gateway placed (it is the UAC). Its
// exported fields are set before Dial returns and never change; its
// methods are safe for concurrent use.
type Outgoing struct {
	CallID      string            // SIP Call-ID
	From        string            // user part of the From URI (the gateway's caller id)
	FromDisplay string            // From display name
	To          string            // user part of the target URI
	FromURI     string            // full From URI
	ToURI       string            // full target URI
	Headers     map[string]string // every header of the 200 OK: lower-case name -> first value
	Codec       Codec             // the codec the callee answered with; Codec.Format() is its audio
	DTMFType    uint8             // telephone-event payload type agreed (0: none)
	DTMFClock   int               // clock rate of the telephone-event (0: none)
	CNType      int               // CN/8000 payload type agreed (-1: none)

	srv  *Server
	log  *slog.Logger
	dlg  *sipgo.DialogClientSession
	id   string // dialog ID
	done chan struct{}

	mu       sync.Mutex
	cause    EndCause
	byeSent  bool
	remote   netip.AddrPort
	onRemote func(netip.AddrPort)
	onEnd    []func()
	sdp      *answerSDP // what the gateway offers; re-INVITEs are answered from it
}

// parseTarget reads a dial target into a SIP URI.
func parseTarget(target string) (sip.Uri, error) {
	t := strings.TrimSpace(target)
	if t == "" {
		return sip.Uri{}, errors.New("sip: dial: empty target")
	}
	if !strings.HasPrefix(strings.ToLower(t), "sip:") && !strings.HasPrefix(strings.ToLower(t), "sips:") {
		t = "sip:" + t
	}
	var u sip.Uri
	if err := sip.ParseUri(t, &u); err != nil {
		return sip.Uri{}, fmt.Errorf("sip: dial target %q: %w", target, err)
	}
	if u.Host == "" {
		return sip.Uri{}, fmt.Errorf("sip: dial target %q: no host", target)
	}
	if strings.EqualFold(u.Scheme, "sips") {
		return sip.Uri{}, fmt.Errorf("sip: dial target %q: sips (TLS) is not supported", target)
	}
	return u, nil
}

// Dial places a call: an INVITE offering the gateway's codecs (PCMU, PCMA,
// G722, opus when built in; wideband first with Config.PreferWideband),
// telephone-event and CN/8000 on cfg.LocalRTP, answered digest challenges, then the final response. A
// non-2xx answer returns *DialError; ctx done (or the server shutting down)
// before the answer sends CANCEL and returns an error wrapping
// ErrDialCancelled. On 2xx Dial sends the ACK and returns the call.
func (s *Server) Dial(ctx context.Context, cfg DialConfig) (*Outgoing, error) {
	target, err := parseTarget(cfg.Target)
	if err != nil {
		return nil, err
	}
	if cfg.LocalRTP.Port() == 0 {
		return nil, errors.New("sip: dial: local RTP port is 0")
	}
	select {
	case <-s.ready:
	default:
		return nil, ErrNotListening
	}
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		return nil, ErrNotListening
	}
	s.dials.Add(1)
	s.mu.Unlock()
	defer s.dials.Done()

	log := cfg.Logger
	if log == nil {
		log = s.log
	}
	from := cfg.From
	if from == "" {
		from = "callstream"
	}
	transport := "UDP"
	if target.UriParams != nil {
		if t, ok := target.UriParams.Get("transport"); ok && strings.EqualFold(t, "tcp") {
			transport = "TCP"
		}
	}
	ua := s.uas[transport]
	offer := &answerSDP{
		ip:        s.publicIP,
		port:      cfg.LocalRTP.Port(),
		sessionID: rand.Uint64() >> 1,
		version:   1,
	}
	offer.setOffer(gatewayCodecs(s.cfg.PreferWideband), dtmfOfferType)
	body, err := offer.marshal(s.cfg.UserAgent)
	if err != nil {
		return nil, fmt.Errorf("sip: dial: %w", err)
	}

	req := sip.NewRequest(sip.INVITE, target)
	fromHdr := &sip.FromHeader{
		DisplayName: cfg.FromDisplay,
		Address:     sip.Uri{Scheme: "sip", User: from, Host: s.publicIP.String(), Port: ua.ContactHDR.Address.Port},
		Params:      sip.NewParams(),
	}
	fromHdr.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(fromHdr)
	toAddr := target
	toAddr.UriParams = nil
	toAddr.Headers = nil
	req.AppendHeader(&sip.ToHeader{Address: toAddr, Params: sip.NewParams()})
	req.AppendHeader(sip.HeaderClone(&ua.ContactHDR))
	req.AppendHeader(sip.NewHeader("User-Agent", s.cfg.UserAgent))
	req.AppendHeader(sip.NewHeader("Allow", allowHeader))
	for _, name := range slices.Sorted(maps.Keys(cfg.Headers)) {
		req.AppendHeader(sip.NewHeader(name, cfg.Headers[name]))
	}
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(body)
	req.SetTransport(transport)

	// The dial ends with ctx or with the server. Once the callee sent a
	// provisional response that means CANCEL; before, there is nothing to
	// cancel yet (RFC 3261 9.1) and the dial is given up at once rather
	// than after the INVITE transaction's 32 s timeout.
	var provisional atomic.Bool
	dctx, cancelCause := context.WithCancelCause(context.WithoutCancel(ctx))
	giveUp := func() {
		if provisional.Load() {
			cancelCause(context.Canceled)
		} else {
			cancelCause(sipgo.WaitAnswerForceCancelErr)
		}
	}
	defer cancelCause(context.Canceled)
	stopCtx := context.AfterFunc(ctx, giveUp)
	defer stopCtx()
	stop := context.AfterFunc(s.baseCtx, giveUp)
	defer stop()

	dlg, err := ua.WriteInvite(dctx, req)
	if err != nil {
		return nil, fmt.Errorf("sip: send INVITE to %s: %w", target.String(), err)
	}
	callID := callIDOf(dlg.InviteRequest)
	log = log.With("sip_call_id", callID)
	log.Info("outgoing call", "to", logsafe.URL(target.String()), "from", from, "transport", transport)
	err = dlg.WaitAnswer(dctx, sipgo.AnswerOptions{
		Username: cfg.AuthUser,
		Password: cfg.Password,
		OnResponse: func(res *sip.Response) error {
			if res.IsProvisional() {
				provisional.Store(true)
				if res.StatusCode > 100 && cfg.OnProgress != nil {
					cfg.OnProgress(res.StatusCode, res.Reason)
				}
			}
			return nil
		},
	})
	if err != nil {
		if res := dlg.InviteResponse; res != nil && res.IsSuccess() {
			// Answered while we were cancelling: confirm and end it.
			endCtx, endCancel := context.WithTimeout(context.Background(), byeTimeout)
			_ = dlg.Ack(endCtx)
			_ = dlg.Bye(endCtx)
			endCancel()
		}
		_ = dlg.Close()
		var dr *sipgo.ErrDialogResponse
		switch {
		case errors.As(err, &dr):
			log.Info("outgoing call refused", "status", dr.Res.StatusCode, "reason", dr.Res.Reason)
			return nil, &DialError{Code: dr.Res.StatusCode, Reason: dr.Res.Reason}
		case dctx.Err() != nil:
			log.Info("outgoing call cancelled before the answer", "cancel_sent", provisional.Load())
			return nil, fmt.Errorf("%w: %w", ErrDialCancelled, context.Cause(dctx))
		default:
			return nil, fmt.Errorf("sip: outgoing call to %s: %w", target.String(), err)
		}
	}

	o := &Outgoing{
		CallID:      callID,
		From:        from,
		FromDisplay: cfg.FromDisplay,
		To:          target.User,
		FromURI:     fromHdr.Address.String(),
		ToURI:       target.String(),
		Headers:     map[string]string{},
		srv:         s,
		log:         log,
		dlg:         dlg,
		id:          dlg.ID,
		done:        make(chan struct{}),
		sdp:         offer,
	}
	for _, h := range dlg.InviteResponse.Headers() {
		name := strings.ToLower(h.Name())
		if _, ok := o.Headers[name]; !ok {
			o.Headers[name] = h.Value()
		}
	}
	ackCtx, ackCancel := context.WithTimeout(context.Background(), byeTimeout)
	defer ackCancel()
	if err := dlg.Ack(ackCtx); err != nil {
		_ = dlg.Close()
		return nil, fmt.Errorf("sip: send ACK: %w", err)
	}
	if err := o.agree(dlg.InviteResponse.Body()); err != nil {
		log.Warn("outgoing call answered with unusable SDP: hanging up", "err", err)
		_ = dlg.Bye(ackCtx)
		_ = dlg.Close()
		return nil, fmt.Errorf("sip: outgoing call answer: %w", err)
	}
	s.mu.Lock()
	stopping := s.draining
	if !stopping {
		s.outgoing[o.id] = o
	}
	s.mu.Unlock()
	if stopping {
		_ = o.Hangup(ackCtx)
		return nil, fmt.Errorf("%w: the server is shutting down", ErrDialCancelled)
	}
	log.Info("outgoing call answered", "codec", o.Codec.Format().String(), "payload_type", o.Codec.PayloadType, "remote_rtp", o.RemoteRTP().String())
	return o, nil
}

// agree takes the callee's SDP answer to o.sdp, the gateway's offer: the
// first codec of ours it lists, told by encoding name and clock rate, with
// the answer's payload type, and the telephone-event and CN that go with it.
func (o *Outgoing) agree(body []byte) error {
	answer, err := ParseAnswer(body, o.sdp.offered())
	if err != nil {
		return err
	}
	m := o.sdp.takeAnswer(answer)
	o.Codec, o.DTMFType, o.DTMFClock, o.CNType = m.Codec, m.DTMFType, m.DTMFClock, m.CNType
	o.remote = answer.RTPAddr
	return nil
}

// Logger returns the call's logger, which carries the sip_call_id attribute.
func (o *Outgoing) Logger() *slog.Logger { return o.log }

// Done is closed when the dialog has ended.
func (o *Outgoing) Done() <-chan struct{} { return o.done }

// EndCause says why the dialog ended; EndNone while it is up.
func (o *Outgoing) EndCause() EndCause {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.cause
}

// RemoteRTP returns the callee's current RTP address.
func (o *Outgoing) RemoteRTP() netip.AddrPort {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.remote
}

// OnRemoteChange registers fn, called when a re-INVITE from the callee
// changes its RTP address. fn must not block.
func (o *Outgoing) OnRemoteChange(fn func(netip.AddrPort)) {
	o.mu.Lock()
	o.onRemote = fn
	o.mu.Unlock()
}

// OnEnd registers fn to run once when the dialog ends (at once, in this
// goroutine, if it has ended). fn runs on the goroutine that ended the
// dialog and must not block on SIP.
func (o *Outgoing) OnEnd(fn func()) {
	o.mu.Lock()
	if o.cause == EndNone {
		o.onEnd = append(o.onEnd, fn)
		o.mu.Unlock()
		return
	}
	o.mu.Unlock()
	fn()
}

// end records the first cause, closes Done, forgets the dialog and runs
// the OnEnd functions.
func (o *Outgoing) end(cause EndCause) {
	o.mu.Lock()
	if o.cause != EndNone {
		o.mu.Unlock()
		return
	}
	o.cause = cause
	fns := o.onEnd
	o.onEnd = nil
	o.mu.Unlock()
	defer func() {
		for _, fn := range fns {
			fn()
		}
	}()
	o.srv.mu.Lock()
	if o.srv.outgoing[o.id] == o {
		delete(o.srv.outgoing, o.id)
	}
	o.srv.mu.Unlock()
	close(o.done)
	o.log.Info("call ended", "cause", cause.String())
}

// Hangup sends BYE and waits for its response (bounded by ctx). It
// returns ErrCallEnded if the dialog is already over.
func (o *Outgoing) Hangup(ctx context.Context) error {
	o.mu.Lock()
	if o.cause != EndNone || o.byeSent {
		o.mu.Unlock()
		return ErrCallEnded
	}
	o.byeSent = true
	o.mu.Unlock()
	err := o.dlg.Bye(context.WithoutCancel(ctx))
	_ = o.dlg.Close()
	o.end(EndLocalBye)
	if err != nil {
		return fmt.Errorf("sip: BYE: %w", err)
	}
	return nil
}

// remoteBye handles the callee's BYE.
func (o *Outgoing) remoteBye(req *sip.Request, tx sip.ServerTransaction) {
	o.end(EndRemoteBye)
	if err := o.dlg.ReadBye(req, tx); err != nil {
		o.log.Info("bad BYE", "error", err)
	}
}

// reinvite answers the callee's re-INVITE with the agreed codec (next
// session version, direction mirrored) and records a new RTP address.
func (o *Outgoing) reinvite(req *sip.Request, tx sip.ServerTransaction) {
	var offer *Offer
	if len(req.Body()) > 0 {
		off, err := ParseOffer(req.Body())
		if err == nil && !off.Has(o.Codec) {
			// The codec of a call does not change mid-call.
			err = fmt.Errorf("new offer %s drops the call's codec %s: %w", codecNames(off.Codecs), o.Codec, ErrNoCommonCodec)
		}
		if err != nil {
			o.log.Info(requestName(req)+" refused", "status", sip.StatusNotAcceptableHere, "error", err)
			o.srv.respond(req, tx, sip.StatusNotAcceptableHere, "Not Acceptable Here")
			o.srv.awaitAck(tx)
			return
		}
		offer = &off
	}
	o.mu.Lock()
	if o.cause != EndNone {
		o.mu.Unlock()
		o.srv.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		o.srv.awaitAck(tx)
		return
	}
	var notify func(netip.AddrPort)
	var remote netip.AddrPort
	if offer != nil {
		if !offer.RTPAddr.Addr().IsUnspecified() && offer.RTPAddr != o.remote {
			o.remote = offer.RTPAddr
			remote, notify = o.remote, o.onRemote
		}
		o.sdp.direction = answerDirection(offer.Direction)
		o.sdp.keepOffered(*offer, Media{Codec: o.Codec, DTMFType: o.DTMFType, DTMFClock: o.DTMFClock, CNType: o.CNType})
	}
	o.sdp.version++
	body, err := o.sdp.marshal(o.srv.cfg.UserAgent)
	o.mu.Unlock()
	if err != nil {
		o.srv.respond(req, tx, sip.StatusInternalServerError, "Server Internal Error")
		return
	}
	if notify != nil {
		o.log.Info("remote RTP address changed", "remote_rtp", remote.String())
		notify(remote)
	}
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", body)
	res.AppendHeader(sip.HeaderClone(&o.srv.dialogUA(req).ContactHDR))
	res.AppendHeader(sip.NewHeader("Server", o.srv.cfg.UserAgent))
	res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	if err := tx.Respond(res); err != nil {
		o.log.Info("re-INVITE response failed", "error", err)
	}
}

// lookupOutgoing finds the outgoing call a request from the callee belongs to.
func (s *Server) lookupOutgoing(req *sip.Request) *Outgoing {
	id, err := sip.DialogIDFromRequestUAC(req)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.outgoing[id]
}

// hangupOutgoing ends every outgoing call still up (at shutdown).
func (s *Server) hangupOutgoing() {
	s.mu.Lock()
	list := make([]*Outgoing, 0, len(s.outgoing))
	for _, o := range s.outgoing {
		list = append(list, o)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, o := range list {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
			defer cancel()
			if err := o.Hangup(ctx); err != nil && !errors.Is(err, ErrCallEnded) {
				o.log.Info("BYE at shutdown failed", "error", err)
			}
		})
	}
	wg.Wait()
}
