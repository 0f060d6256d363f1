// Package sip is the gateway's SIP user agent server: it accepts INVITEs over
// UDP and TCP, reduces the SDP offer to what the gateway can use, and hands
// each call to a handler that answers, rejects or hangs it up. RTP is not
// handled here.
package sip

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/callstream/callstream/internal/connlimit"
	"github.com/callstream/callstream/internal/limit"
)

// Methods and body types the server accepts, advertised in Allow and Accept.
const (
	allowHeader  = "INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, MESSAGE, INFO"
	acceptHeader = "application/sdp"
)

// byeTimeout bounds a BYE the server sends on its own (handler returned
// without hanging up, ACK timeout, shutdown).
const byeTimeout = 5 * time.Second

// shutdownAckGrace bounds the wait for an ACK to a final response sent
// during shutdown.
const shutdownAckGrace = time.Second

// settleQuiet is how long the transport must have been quiet before it is
// closed.
const settleQuiet = 50 * time.Millisecond

// Config configures a Server. Every field but Handler has a working default.
type Config struct {
	// Addr is the listen address host:port, used for both UDP and TCP.
	// Default ":5060". Port 0 picks a port free for both protocols.
	Addr string
	// PublicIP is written into SDP c= and o= lines, Via and Contact.
	// Default: the Addr host, or the first non-loopback interface address
	// when Addr has no specific host.
	PublicIP netip.Addr
	// Logger receives the server's logs. Default: discard.
	Logger *slog.Logger
	// Handler runs in its own goroutine for the life of the call; ctx is
	// cancelled when the dialog ends (BYE/CANCEL) or the server shuts down.
	// When it returns without a final response the server answers 500;
	// when it returns with the call still up the server sends BYE.
	Handler func(ctx context.Context, call *Invite)
	// UserAgent is sent in Server and User-Agent headers and used as the SDP
	// user name. Default "callstream".
	UserAgent string
	// AckTimeout bounds how long Answer waits for the ACK. Default 32 s (64*T1).
	AckTimeout time.Duration
	// PreferWideband makes Accept answer with the caller's first wideband
	// codec (G722, opus) when it offers one anywhere, and puts the wideband
	// codecs first in the gateway's own offers (a late offer's 200 OK, Dial).
	// Off: the caller's order of preference decides.
	PreferWideband bool

	// Limits bound SIP connections and INVITEs: SIPConns and SIPIdle for
	// TCP and TLS connections, MaxCalls, InviteRate and InviteBurst for
	// INVITEs, SessionMinSE for session timers (RFC 4028: a shorter
	// interval gets 422). Zero fields: the defaults; negative: off.
	Limits limit.Limits
	// Refusals counts what the server's bounds refuse or cut short (nil:
	// nothing is counted).
	Refusals limit.Counter
	// Allow, when not empty, admits INVITEs only from these networks;
	// others get 403.
	Allow []netip.Prefix
	// Auth, when not empty, makes INVITEs authenticate with SIP digest
	// (user name -> password) in Realm (default "callstream").
	Auth  map[string]string
	Realm string
	// TLSAddr, when set, also serves SIP over TLS on this host:port with
	// TLS, which must hold the server's certificate.
	TLSAddr string
	TLS     *tls.Config
}

// Server is the gateway's SIP UAS.
type Server struct {
	cfg      Config
	log      *slog.Logger
	host     string
	port     int
	publicIP netip.Addr
	ready    chan struct{}
	adm      *admission // what a new INVITE must pass

	srcMu   sync.Mutex
	lastSrc netip.AddrPort // source of the message read last

	// Set once in ListenAndServe before any request is served.
	baseCtx  context.Context
	stopping chan struct{}              // closed when shutdown starts
	uas      map[string]*sipgo.DialogUA // by upper-case transport name
	tcpLn    *connlimit.Listener        // pins connections that carry calls
	tlsLn    *connlimit.Listener        // nil without TLS
	gate     atomic.Bool                // set at the end of shutdown: reads are dropped
	lastRead atomic.Int64               // unix ns of the last message let in
	// drainWarn logs refused INVITEs while draining, at most one line a second.
	drainWarn limit.Warner

	sessionWarn atomic.Pointer[limit.Warner] // rate-limits the logs of refused session timers

	mu       sync.Mutex
	idle     *sync.Cond // signalled when inflight drops to zero
	started  bool
	addr     string
	tlsAddr  string
	draining bool                 // Drain called or shutdown started: new calls get 503
	stopped  bool                 // all handlers returned: requests are refused
	inflight int                  // request handlers running
	calls    map[string]*Invite   // by dialog ID
	outgoing map[string]*Outgoing // answered outgoing calls, by dialog ID
	dials    sync.WaitGroup       // Dial calls in progress

	// Set by Drain, under mu.
	retryAfter time.Duration // Retry-After of the 503s sent while draining
	refused    limit.Counter // counts the INVITEs refused while draining (may be nil)
}

// NewServer checks cfg, fills in defaults and returns a server that is not
// yet listening.
func NewServer(cfg Config) (*Server, error) {
	if cfg.Handler == nil {
		return nil, errors.New("sip: Config.Handler is required")
	}
	if cfg.Addr == "" {
		cfg.Addr = ":5060"
	}
	host, portText, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("sip: listen address %q: %w", cfg.Addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("sip: listen port %q invalid", portText)
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "callstream"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = newBoundedLogger(cfg.Logger)
	cfg.Limits = cfg.Limits.WithDefaults()
	if cfg.TLSAddr != "" && (cfg.TLS == nil || (len(cfg.TLS.Certificates) == 0 && cfg.TLS.GetCertificate == nil)) {
		return nil, errors.New("sip: Config.TLSAddr needs Config.TLS with a certificate")
	}
	adm, err := newAdmission(cfg, cfg.Logger)
	if err != nil {
		return nil, err
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = 64 * sip.T1
	}
	public := cfg.PublicIP
	if !public.IsValid() {
		public = defaultPublicIP(host)
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		host:     host,
		port:     port,
		publicIP: public.Unmap(),
		ready:    make(chan struct{}),
		adm:      adm,
		addr:     cfg.Addr,
		calls:    make(map[string]*Invite),
		outgoing: make(map[string]*Outgoing),
	}
	s.idle = sync.NewCond(&s.mu)
	s.drainWarn.Logger = cfg.Logger
	return s, nil
}

// defaultPublicIP picks the address to advertise when none is configured.
func defaultPublicIP(host string) netip.Addr {
	if ip, err := netip.ParseAddr(host); err == nil && !ip.IsUnspecified() {
		return ip
	}
	if host != "" {
		if ips, err := net.LookupIP(host); err == nil && len(ips) > 0 {
			if ip, ok := netip.AddrFromSlice(ips[0]); ok {
				return ip.Unmap()
			}
		}
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			pfx, err := netip.ParsePrefix(a.String())
			if err != nil {
				continue
			}
			ip := pfx.Addr()
			if ip.Is4() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() {
				return ip
			}
		}
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1})
}

// Ready is closed once both the UDP and TCP listeners are bound.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr returns the bound listen address once Ready is closed, and the
// configured one before.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// ListenAndServe binds UDP and TCP on Config.Addr (and TLS on
// Config.TLSAddr) and serves until ctx is done; a listener that fails is
// logged and the others go on serving. On shutdown it rejects new calls
// with 503, cancels every call's context, waits for the handlers to return
// (answered calls get a BYE), then closes the listeners. It returns nil
// after a clean shutdown.
func (s *Server) ListenAndServe(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return ErrServerStarted
	}
	s.started = true
	s.mu.Unlock()

	ls, err := s.listen()
	if err != nil {
		return err
	}
	port := portOf(ls.tcp)
	sipgoLog, sipgoLogs := newSipgoLogger(s.log, s.lastSource)
	defer sipgoLogs.close()

	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent(s.cfg.UserAgent),
		sipgo.WithUserAgentHostname(s.publicIP.String()),
		sipgo.WithUserAgentTransportLayerOptions(
			sip.WithTransportLayerLogger(sipgoLog),
			sip.WithTransportLayerReadFilter(s.readFilter),
		),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(sipgoLog),
			sip.WithTransactionLayerUnhandledResponseHandler(func(res *sip.Response) {
				s.log.Debug("unmatched SIP response", "response", res.StartLine())
			}),
		),
	)
	if err != nil {
		return errors.Join(fmt.Errorf("sip: user agent: %w", err), ls.close())
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(sipgoLog))
	if err != nil {
		return errors.Join(fmt.Errorf("sip: server: %w", err), ua.Close(), ls.close())
	}
	cli, err := sipgo.NewClient(ua,
		sipgo.WithClientLogger(sipgoLog),
		sipgo.WithClientHostname(s.publicIP.String()),
		sipgo.WithClientPort(port),
	)
	if err != nil {
		return errors.Join(fmt.Errorf("sip: client: %w", err), ua.Close(), ls.close())
	}

	// Calls outlive ctx until shutdown has marked the server as stopping.
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	s.baseCtx = base
	s.stopping = make(chan struct{})
	s.uas = map[string]*sipgo.DialogUA{
		"UDP": {Client: cli, ContactHDR: s.contact(port, "")},
		"TCP": {Client: cli, ContactHDR: s.contact(port, "tcp")},
	}
	s.tcpLn, s.tlsLn = ls.tcp, ls.tls
	if ls.tlsNet != nil {
		s.uas["TLS"] = &sipgo.DialogUA{Client: cli, ContactHDR: s.contact(portOf(ls.tlsNet), "tls")}
	}
	srv.OnInvite(s.track(s.onInvite))
	srv.OnAck(s.track(s.onAck))
	srv.OnBye(s.track(s.onBye))
	srv.OnCancel(s.track(s.onCancel))
	srv.OnOptions(s.track(s.onOptions))
	srv.OnUpdate(s.track(s.onUpdate))
	srv.OnMessage(s.track(s.onInDialog))
	srv.OnInfo(s.track(s.onInDialog))
	srv.OnNoRoute(s.track(s.onNoRoute))

	var serving sync.WaitGroup
	s.serve(srv, ls, &serving)

	s.mu.Lock()
	s.addr = ls.udp.LocalAddr().String()
	if ls.tlsNet != nil {
		s.tlsAddr = ls.tlsNet.Addr().String()
	}
	s.mu.Unlock()
	if ls.tlsNet != nil {
		s.log.Info("sip server listening", "addr", s.Addr(), "tls_addr", s.TLSAddr(), "public_ip", s.publicIP.String())
	} else {
		s.log.Info("sip server listening", "addr", s.Addr(), "public_ip", s.publicIP.String())
	}
	close(s.ready)

	<-ctx.Done()

	// Shutdown: stop taking calls, end the running ones, wait for handlers.
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
	close(s.stopping)
	cancelBase()
	// Dials in progress are cancelled with the base context; outgoing
	// calls are not handlers, so they get their BYE here.
	s.dials.Wait()
	s.hangupOutgoing()
	s.mu.Lock()
	for s.inflight > 0 {
		s.idle.Wait()
	}
	s.stopped = true
	s.mu.Unlock()
	// Drop whatever still arrives so nothing races the transport teardown.
	s.gate.Store(true)
	settle(&s.lastRead)

	closeErr := errors.Join(ignoreClosed(ua.Close()), ls.close())
	serving.Wait()
	s.log.Info("sip server stopped", "addr", s.Addr())
	return closeErr
}

// TLSAddr returns the bound SIP-over-TLS address once Ready is closed
// ("" without TLS).
func (s *Server) TLSAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tlsAddr
}

// ignoreClosed drops the error of closing something already closed.
func ignoreClosed(err error) error {
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// contact is the server's Contact header for a transport.
func (s *Server) contact(port int, transport string) sip.ContactHeader {
	h := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", Host: s.publicIP.String(), Port: port}}
	if transport != "" {
		h.Address.UriParams = sip.NewParams()
		h.Address.UriParams.Add("transport", transport)
	}
	return h
}

// dialogUA returns the dialog user agent for a request's transport.
func (s *Server) dialogUA(req *sip.Request) *sipgo.DialogUA {
	if ua, ok := s.uas[strings.ToUpper(req.Transport())]; ok {
		return ua
	}
	return s.uas["UDP"]
}

// track counts a request handler so shutdown can wait for it.
func (s *Server) track(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			if !req.IsAck() {
				s.respond(req, tx, sip.StatusServiceUnavailable, "Service Unavailable")
			}
			return
		}
		s.inflight++
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			s.inflight--
			if s.inflight == 0 {
				s.idle.Broadcast()
			}
			s.mu.Unlock()
		}()
		h(req, tx)
	}
}

// respond sends a response built from req with the server's standard headers.
func (s *Server) respond(req *sip.Request, tx sip.ServerTransaction, code int, reason string, hdrs ...sip.Header) {
	if tx == nil {
		return
	}
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	res.AppendHeader(sip.NewHeader("Server", s.cfg.UserAgent))
	for _, h := range hdrs {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		s.log.Debug("sip respond failed", "sip_call_id", callIDOf(req), "status", code, "error", err)
	}
}

// awaitAck absorbs the ACK for a non-2xx final response so no transaction
// goroutine is left blocked. It gives up when the transaction ends, or
// shortly after shutdown starts.
func (s *Server) awaitAck(tx sip.ServerTransaction) {
	select {
	case <-tx.Acks():
		return
	case <-tx.Done():
		return
	case <-s.stopping:
	}
	grace := time.NewTimer(shutdownAckGrace)
	defer grace.Stop()
	select {
	case <-tx.Acks():
	case <-tx.Done():
	case <-grace.C:
	}
}

// readFilter passes datagrams and stream data through until shutdown
// closes the gate, noting when the last message went in and from where.
func (s *Server) readFilter(props sip.TransportReadProps, data []byte) ([]byte, error) {
	if s.gate.Load() {
		return nil, nil
	}
	s.lastRead.Store(time.Now().UnixNano())
	s.noteSource(props.RemoteAddr)
	return data, nil
}

// settle waits until no message has been let in for settleQuiet: sipgo
// handles each message in a goroutine of its own, and one still running when
// the transport closes would open a new socket that nothing closes.
func settle(lastRead *atomic.Int64) {
	wait := settleQuiet - time.Since(time.Unix(0, lastRead.Load()))
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	<-t.C
}

func (s *Server) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil && to.Params.Has("tag") {
		s.onReinvite(req, tx)
		return
	}
	release, ok := s.admit(req, tx)
	if !ok {
		return
	}
	defer release()
	callID := callIDOf(req)
	log := s.log.With("sip_call_id", callID)

	if s.refuseDraining(req, tx, log) {
		s.awaitAck(tx)
		return
	}
	s.respond(req, tx, sip.StatusTrying, "Trying")

	offer, err := ParseOffer(req.Body())
	if err != nil && len(req.Body()) > 0 { // no body: a late offer, answered with an offer
		log.Info("rejecting INVITE: unusable offer", "status", sip.StatusNotAcceptableHere, "error", err)
		s.respond(req, tx, sip.StatusNotAcceptableHere, "Not Acceptable Here",
			sip.NewHeader("Warning", fmt.Sprintf(`304 %s "%s"`, warnAgent(s.cfg.UserAgent), "Media type not available")),
			sip.NewHeader("Accept", acceptHeader))
		s.awaitAck(tx)
		return
	}
	dlg, err := s.dialogUA(req).ReadInvite(req, tx)
	if err != nil {
		log.Info("rejecting INVITE: bad request", "status", sip.StatusBadRequest, "error", err)
		s.respond(req, tx, sip.StatusBadRequest, "Bad Request")
		s.awaitAck(tx)
		return
	}
	inv := newInvite(s, req, tx, dlg, offer, log)
	s.mu.Lock()
	s.calls[dlg.ID] = inv
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.calls, dlg.ID)
		s.mu.Unlock()
	}()
	log.Info("incoming call", "from", inv.From, "to", inv.To, "source", inv.Source.String(),
		"transport", req.Transport(), "codecs", len(offer.Codecs))
	inv.run()
}

// lookup finds the call a request belongs to.
func (s *Server) lookup(req *sip.Request) *Invite {
	id, err := sip.DialogIDFromRequestUAS(req)
	if err != nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[id]
}

func (s *Server) onReinvite(req *sip.Request, tx sip.ServerTransaction) {
	inv := s.lookup(req)
	if inv == nil {
		if o := s.lookupOutgoing(req); o != nil {
			o.reinvite(req, tx)
			return
		}
		if !s.admitStray(req, tx) {
			return
		}
		s.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		s.awaitAck(tx)
		return
	}
	inv.reinvite(req, tx)
}

func (s *Server) onAck(req *sip.Request, _ sip.ServerTransaction) {
	inv := s.lookup(req)
	if inv == nil {
		if s.lookupOutgoing(req) != nil {
			return // the ACK of a re-INVITE's 200 from an outgoing call's callee
		}
		s.log.Debug("ACK outside any dialog", "sip_call_id", callIDOf(req))
		return
	}
	inv.ackReceived(req)
}

func (s *Server) onBye(req *sip.Request, tx sip.ServerTransaction) {
	inv := s.lookup(req)
	if inv == nil {
		if o := s.lookupOutgoing(req); o != nil {
			o.remoteBye(req, tx)
			return
		}
		s.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	inv.remoteBye(req, tx)
}

// onCancel sees only a CANCEL that matched no INVITE transaction; matched
// ones are answered by the transaction layer (200, then 487 to the INVITE).
func (s *Server) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	s.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
}

func (s *Server) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	if s.refuseDraining(req, tx, s.log) {
		return
	}
	s.respond(req, tx, sip.StatusOK, "OK",
		sip.NewHeader("Allow", allowHeader),
		sip.NewHeader("Accept", acceptHeader))
}

func (s *Server) onNoRoute(req *sip.Request, tx sip.ServerTransaction) {
	if req.IsAck() {
		return
	}
	s.respond(req, tx, sip.StatusMethodNotAllowed, "Method Not Allowed", sip.NewHeader("Allow", allowHeader))
}

// callIDOf returns the request's Call-ID or "".
func callIDOf(req *sip.Request) string {
	if h := req.CallID(); h != nil {
		return h.Value()
	}
	return ""
}

// warnAgent turns the user agent into a Warning warn-agent token.
func warnAgent(ua string) string {
	if f := strings.Fields(ua); len(f) > 0 {
		return strings.Join(f, "-")
	}
	return "-"
}
