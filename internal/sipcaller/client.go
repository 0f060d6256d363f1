// Package sipcaller places SIP calls with RTP media in G.711, G.722 or Opus
// (Opus in a build with the opus tag): a reusable
// caller for the demo, the load generator and tests. One Client (one SIP
// socket) carries any number of parallel calls; each Call has its own RTP
// socket.
package sipcaller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	gwsip "github.com/callstream/callstream/internal/sip"
)

var (
	// ErrClientClosed means the Client was closed.
	ErrClientClosed = errors.New("sipcaller: client closed")
	// ErrCallEnded means the call was hung up (by either side) or closed.
	ErrCallEnded = errors.New("sipcaller: call ended")
	// ErrNoDTMF means telephone-event was not negotiated for the call.
	ErrNoDTMF = errors.New("sipcaller: telephone-event not negotiated")
	// ErrBadDigit means SendDTMF was given a character that is not a DTMF digit.
	ErrBadDigit = errors.New("sipcaller: not a DTMF digit")
	// ErrUnsupportedCodec means Config.Codec is not PCMU, PCMA, G722 or
	// opus, or names opus in a build without it.
	ErrUnsupportedCodec = errors.New("sipcaller: unsupported codec")
)

// StatusError is a non-2xx final response to an INVITE or re-INVITE.
type StatusError struct {
	Code   int               // SIP status code
	Reason string            // reason phrase of the status line
	Header map[string]string // response headers: lower-case name -> first value (Reason, Warning, ...)
	// EarlySDP is the SDP of a 183 that came before the refusal (nil:
	// none), and Early the RTP packets received after it.
	EarlySDP []byte
	Early    []Packet
}

// Error implements error.
func (e *StatusError) Error() string {
	return fmt.Sprintf("sipcaller: call rejected: %d %s", e.Code, e.Reason)
}

func newStatusError(res *sip.Response) *StatusError {
	e := &StatusError{Code: res.StatusCode, Reason: res.Reason, Header: make(map[string]string)}
	for _, h := range res.Headers() {
		name := strings.ToLower(h.Name())
		if _, ok := e.Header[name]; !ok {
			e.Header[name] = h.Value()
		}
	}
	return e
}

// ClientConfig configures a Client.
type ClientConfig struct {
	LocalIP netip.Addr   // address of the SIP socket; default 127.0.0.1
	Logger  *slog.Logger // default: discard
	// Transport is the SIP transport of every call: "udp" (default) or
	// "tcp" (one connection per gateway, shared by the calls to it).
	Transport string
	// Username and Password answer the gateway's digest challenges (401)
	// for calls whose Config gives none.
	Username, Password string
}

// Config describes one call.
type Config struct {
	Target      string // gateway SIP address host:port (UDP); port defaults to 5060
	From, To    string // user parts of the From and To URIs
	FromDisplay string // From display name
	// Codec is offered first: "PCMU" (default), "PCMA", "G722" or "opus"
	// (opus/48000/2, in a build with the opus tag).
	Codec string
	// PayloadType offers Codec on this (dynamic) payload type, e.g. 96 for
	// PCMA; 0 means its static one (PCMU 0, PCMA 8, G722 9; opus 111).
	PayloadType uint8
	// Only offers Codec alone; otherwise the G.711 laws not offered yet
	// follow it, µ-law first.
	Only    bool
	DTMF    bool              // offer telephone-event/8000 on payload type 101
	CN      bool              // offer comfort noise (CN/8000, RFC 3389) on payload type 13
	LocalIP netip.Addr        // RTP address; default the Client's LocalIP
	Headers map[string]string // extra INVITE headers, e.g. "Diversion"
	Logger  *slog.Logger      // default: the Client's logger
	// Username and Password answer a digest challenge (401) to the INVITE
	// (default: the Client's).
	Username, Password string
	// NoRecord stops the call keeping received packets for Received
	// (OnPacket still sees them); for long or many calls.
	NoRecord bool
	// OnProgress is called with the code of every provisional response
	// above 100 (180, 183) before the answer. It must not block.
	OnProgress func(code int)
	// LateOffer sends the INVITE without SDP: the gateway's 200 OK
	// offers, and the ACK carries the call's answer.
	LateOffer bool
	// AnswerPayloadType, for a late offer, gives the chosen codec this
	// payload type in the answer (e.g. 96 for PCMA) and sends with it; 0
	// keeps the offer's.
	AnswerPayloadType uint8
	// SessionExpires asks for an RFC 4028 session timer of this interval
	// (Session-Expires, Supported: timer, UPDATE allowed), naming Refresher
	// ("uac", "uas", or "" to let the gateway choose).
	SessionExpires time.Duration
	Refresher      string
	// Refresh makes the call refresh its session with UPDATE every third
	// of the granted interval when it is the refresher.
	Refresh bool
}

// Client is one SIP user agent and socket shared by many calls.
type Client struct {
	log      *slog.Logger
	localIP  netip.Addr
	sipAddr  netip.AddrPort
	tcp      bool   // calls go over TCP
	username string // digest credentials of calls that give none
	password string
	conn     net.PacketConn   // SIP socket; owned
	ua       *sipgo.UserAgent // owned
	dua      *sipgo.DialogUA  // builds and tracks dialogs
	serving  sync.WaitGroup   // the SIP read goroutine
	gate     atomic.Bool      // set on Close: incoming messages are dropped
	lastRead atomic.Int64     // unix ns of the last message let in

	mu     sync.Mutex
	closed bool
	calls  map[string]*Call // by dialog ID
}

// NewClient opens the SIP socket on cfg.LocalIP and starts serving it.
func NewClient(cfg ClientConfig) (*Client, error) {
	if !cfg.LocalIP.IsValid() {
		cfg.LocalIP = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var tcp bool
	switch strings.ToLower(cfg.Transport) {
	case "", "udp":
	case "tcp":
		tcp = true
	default:
		return nil, fmt.Errorf("sipcaller: transport %q: want udp or tcp", cfg.Transport)
	}
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(cfg.LocalIP, 0)))
	if err != nil {
		return nil, fmt.Errorf("sipcaller: listen sip: %w", err)
	}
	local := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	local = netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
	c := &Client{
		log:      cfg.Logger,
		localIP:  cfg.LocalIP,
		sipAddr:  local,
		tcp:      tcp,
		username: cfg.Username,
		password: cfg.Password,
		conn:     conn,
		calls:    make(map[string]*Call),
	}
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent("callstream-caller"),
		sipgo.WithUserAgentHostname(cfg.LocalIP.String()),
		sipgo.WithUserAgentTransportLayerOptions(
			sip.WithTransportLayerLogger(cfg.Logger),
			sip.WithTransportLayerReadFilter(c.readFilter),
		),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(cfg.Logger),
			sip.WithTransactionLayerUnhandledResponseHandler(func(res *sip.Response) {
				cfg.Logger.Debug("unmatched SIP response", "response", res.StartLine())
			}),
		),
	)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("sipcaller: user agent: %w", err), conn.Close())
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(cfg.Logger))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("sipcaller: server: %w", err), ua.Close(), conn.Close())
	}
	opts := []sipgo.ClientOption{sipgo.WithClientLogger(cfg.Logger), sipgo.WithClientHostname(local.Addr().String())}
	if !tcp {
		// Requests leave through the served UDP socket; over TCP they take
		// the connection to the gateway, whatever its local port.
		opts = append(opts, sipgo.WithClientPort(int(local.Port())), sipgo.WithClientConnectionAddr(local.String()))
	}
	cli, err := sipgo.NewClient(ua, opts...)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("sipcaller: client: %w", err), ua.Close(), conn.Close())
	}
	c.ua = ua
	c.dua = &sipgo.DialogUA{
		Client:     cli,
		ContactHDR: sip.ContactHeader{Address: sip.Uri{Scheme: "sip", Host: local.Addr().String(), Port: int(local.Port())}},
	}
	srv.OnBye(c.onBye)
	srv.OnOptions(func(req *sip.Request, tx sip.ServerTransaction) {
		respond(tx, req, sip.StatusOK, "OK")
	})
	srv.OnInvite(c.onInvite)
	srv.OnUpdate(c.onUpdate)
	srv.OnMessage(c.onInDialog)
	srv.OnInfo(c.onInDialog)
	srv.OnAck(func(*sip.Request, sip.ServerTransaction) {})
	c.serving.Add(1)
	go func() {
		defer c.serving.Done()
		if err := srv.ServeUDP(conn); err != nil {
			c.log.Debug("sip socket stopped", "error", err)
		}
	}()
	// Requests leave through the served socket, so wait until the
	// transport layer has registered it.
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(time.Millisecond) {
		if con, err := ua.TransportLayer().GetConnection("udp", local.String()); err == nil && con != nil {
			con.TryClose()
			break
		}
		if time.Now().After(deadline) {
			return nil, errors.Join(errors.New("sipcaller: sip socket not served"), c.Close())
		}
	}
	return c, nil
}

// Addr returns the client's SIP socket address.
func (c *Client) Addr() netip.AddrPort { return c.sipAddr }

// Close hangs up and closes every call, then closes the SIP socket. It is
// idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	calls := make([]*Call, 0, len(c.calls))
	for _, call := range c.calls {
		calls = append(calls, call)
	}
	c.mu.Unlock()
	errs := make([]error, len(calls)+1)
	var closing sync.WaitGroup
	for i, call := range calls {
		closing.Add(1)
		go func() {
			defer closing.Done()
			errs[i] = call.Close()
		}()
	}
	closing.Wait()
	// Drop late messages and let those already taken finish, so none races
	// the transport teardown (sipgo would open a socket for it).
	c.gate.Store(true)
	c.settle()
	errs[len(calls)] = c.ua.Close()
	if err := c.conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		errs = append(errs, err)
	}
	c.serving.Wait()
	return errors.Join(errs...)
}

// settleQuiet is how long the SIP socket must have been quiet before the
// transport closes.
const settleQuiet = 50 * time.Millisecond

func (c *Client) readFilter(_ sip.TransportReadProps, data []byte) ([]byte, error) {
	if c.gate.Load() {
		return nil, nil
	}
	c.lastRead.Store(time.Now().UnixNano())
	return data, nil
}

// settle waits until no message has been let in for settleQuiet.
func (c *Client) settle() {
	wait := settleQuiet - time.Since(time.Unix(0, c.lastRead.Load()))
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	<-t.C
}

// dialogCall returns the call whose dialog req belongs to, or answers 481
// and returns nil.
func (c *Client) dialogCall(req *sip.Request, tx sip.ServerTransaction) *Call {
	id, err := sip.DialogIDFromRequestUAC(req)
	var call *Call
	if err == nil {
		c.mu.Lock()
		call = c.calls[id]
		c.mu.Unlock()
	}
	if call == nil {
		respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
	}
	return call
}

func respond(tx sip.ServerTransaction, req *sip.Request, code int, reason string) {
	_ = tx.Respond(sip.NewResponseFromRequest(req, code, reason, nil))
}

func (c *Client) onBye(req *sip.Request, tx sip.ServerTransaction) {
	call := c.dialogCall(req, tx)
	if call == nil {
		return
	}
	if call.vanished.Load() {
		return
	}
	if err := call.dlg.ReadBye(req, tx); err != nil {
		call.log.Debug("BYE handling failed", "error", err)
	}
	call.log.Info("gateway hung up")
	call.markEnded()
}

func (c *Client) forget(call *Call) {
	c.mu.Lock()
	if c.calls[call.id] == call {
		delete(c.calls, call.id)
	}
	c.mu.Unlock()
}

// cancelGrace is how long Dial, its context ended, waits for a first
// provisional response before giving the INVITE up without a CANCEL.
const cancelGrace = 500 * time.Millisecond

// Dial places a call: INVITE with an SDP offer (Codec first, the other
// G.711 law second unless Only, telephone-event if DTMF), then waits for the
// final response. A non-2xx answer returns *StatusError. On 2xx it sends
// the ACK and returns the call with its RTP socket ready. If ctx is done
// before the answer, Dial sends CANCEL and returns ctx's error.
func (c *Client) Dial(ctx context.Context, cfg Config) (*Call, error) {
	codecs, err := offerCodecs(cfg)
	if err != nil {
		return nil, err
	}
	host, port, err := splitTarget(cfg.Target)
	if err != nil {
		return nil, err
	}
	if !cfg.LocalIP.IsValid() {
		cfg.LocalIP = c.localIP
	}
	log := cfg.Logger
	if log == nil {
		log = c.log
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, ErrClientClosed
	}

	rtpConn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(cfg.LocalIP, 0)))
	if err != nil {
		return nil, fmt.Errorf("sipcaller: listen rtp: %w", err)
	}
	offer := &offerSDP{
		ip:        cfg.LocalIP,
		port:      uint16(rtpConn.LocalAddr().(*net.UDPAddr).Port),
		codecs:    codecs,
		sessionID: rand.Uint64() >> 1,
		version:   1,
	}
	if cfg.DTMF {
		offer.dtmf = dtmfPayloadType
	}
	if cfg.CN {
		offer.cn = cnPayloadType
	}
	body, err := offer.marshal(gwsip.DirSendRecv)
	if err != nil {
		return nil, errors.Join(err, rtpConn.Close())
	}

	transport, contact := "UDP", c.sipAddr
	target := sip.Uri{Scheme: "sip", User: cfg.To, Host: host, Port: port}
	if c.tcp {
		transport = "TCP"
		target.UriParams = sip.NewParams()
		target.UriParams.Add("transport", "tcp")
		if contact, err = c.streamConn(ctx, target); err != nil {
			return nil, errors.Join(err, rtpConn.Close())
		}
	}
	req := sip.NewRequest(sip.INVITE, target)
	from := &sip.FromHeader{
		DisplayName: cfg.FromDisplay,
		Address:     sip.Uri{Scheme: "sip", User: cfg.From, Host: c.sipAddr.Addr().String()},
		Params:      sip.NewParams(),
	}
	from.Params.Add("tag", sip.GenerateTagN(16))
	req.AppendHeader(from)
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: cfg.To, Host: host}})
	contactURI := sip.Uri{Scheme: "sip", User: cfg.From, Host: contact.Addr().String(), Port: int(contact.Port())}
	if c.tcp {
		contactURI.UriParams = sip.NewParams()
		contactURI.UriParams.Add("transport", "tcp")
	}
	req.AppendHeader(&sip.ContactHeader{Address: contactURI})
	req.AppendHeader(sip.NewHeader("User-Agent", "callstream-caller"))
	for _, name := range sortedKeys(cfg.Headers) {
		req.AppendHeader(sip.NewHeader(name, cfg.Headers[name]))
	}
	for _, h := range sessionHeaders(cfg) {
		req.AppendHeader(h)
	}
	if !cfg.LateOffer {
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(body)
	}
	req.SetTransport(transport)

	dlg, err := c.dua.WriteInvite(ctx, req)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("sipcaller: send INVITE: %w", err), rtpConn.Close())
	}
	callID := dlg.InviteRequest.CallID().Value()
	log = log.With("sip_call_id", callID)
	// A CANCEL may only follow a provisional response (RFC 3261 9.1): when
	// ctx ends and none has come within cancelGrace (one may be on its way),
	// the INVITE is given up instead of waited out for its transaction's
	// 32 s.
	provisional := make(chan struct{})
	var provisionalOnce sync.Once
	waitCtx, cancelWait := context.WithCancelCause(context.WithoutCancel(ctx))
	waitDone := make(chan struct{})
	var watch sync.WaitGroup
	watch.Add(1)
	stopWatch := context.AfterFunc(ctx, func() {
		defer watch.Done()
		t := time.NewTimer(cancelGrace)
		defer t.Stop()
		select {
		case <-provisional:
			cancelWait(context.Cause(ctx))
		case <-t.C:
			cancelWait(sipgo.WaitAnswerForceCancelErr)
		case <-waitDone:
		}
	})
	defer func() {
		close(waitDone)
		if stopWatch() {
			watch.Done() // the watch never ran
		}
		watch.Wait()
		cancelWait(nil)
	}()
	// A 183 with SDP opens early media: its RTP is kept from then on.
	early := &earlyMedia{conn: rtpConn}
	opts := sipgo.AnswerOptions{OnResponse: func(res *sip.Response) error {
		if res.IsProvisional() {
			provisionalOnce.Do(func() { close(provisional) })
			if !cfg.LateOffer {
				early.progress(res.StatusCode, res.Body())
			}
		}
		if res.IsProvisional() && res.StatusCode > 100 && cfg.OnProgress != nil {
			cfg.OnProgress(res.StatusCode)
		}
		return nil
	}, Username: cfg.Username, Password: cfg.Password}
	if opts.Password == "" {
		opts.Username, opts.Password = c.username, c.password
	}
	err = dlg.WaitAnswer(waitCtx, opts)
	earlySDP, earlyPackets := early.stop()
	if err != nil {
		if res := dlg.InviteResponse; res != nil && res.IsSuccess() {
			// Answered while we were cancelling: confirm and end it.
			endCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_ = dlg.Ack(endCtx)
			_ = dlg.Bye(endCtx)
			cancel()
		}
		_ = dlg.Close()
		closeErr := rtpConn.Close()
		var dr *sipgo.ErrDialogResponse
		switch {
		case errors.As(err, &dr):
			se := newStatusError(dr.Res)
			se.EarlySDP, se.Early = earlySDP, earlyPackets
			log.Info("call rejected", "status", se.Code)
			err = se
		case ctx.Err() != nil:
			log.Info("call cancelled")
			err = fmt.Errorf("sipcaller: dial cancelled: %w", ctx.Err())
		default:
			err = fmt.Errorf("sipcaller: wait answer: %w", err)
		}
		if closeErr != nil {
			return nil, errors.Join(err, closeErr)
		}
		return nil, err
	}

	call, err := newCall(c, dlg, rtpConn, offer, cfg, log)
	if err == nil {
		call.takeEarly(earlySDP, earlyPackets)
	}
	if err != nil {
		endCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = dlg.Ack(endCtx)
		_ = dlg.Bye(endCtx)
		cancel()
		_ = dlg.Close()
		return nil, errors.Join(err, rtpConn.Close())
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errors.Join(ErrClientClosed, call.Close())
	}
	c.calls[call.id] = call
	c.mu.Unlock()
	if err := call.ack(context.WithoutCancel(ctx)); err != nil {
		return nil, errors.Join(fmt.Errorf("sipcaller: send ACK: %w", err), call.Close())
	}
	call.acked = time.Now()
	call.start()
	log.Info("call answered", "codec", call.format.String(), "remote_rtp", call.RemoteRTP().String())
	return call, nil
}

// splitTarget parses host[:port].
func splitTarget(target string) (string, int, error) {
	if target == "" {
		return "", 0, errors.New("sipcaller: Config.Target is empty")
	}
	host, portText, err := net.SplitHostPort(target)
	if err != nil {
		return target, 5060, nil
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("sipcaller: target port %q invalid", portText)
	}
	return host, port, nil
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

// streamConn returns the local address of the client's TCP connection to
// target, opening it if there is none: the calls to one gateway share it,
// and since their Contact names it the gateway's requests (BYE) come back
// over it.
func (c *Client) streamConn(ctx context.Context, target sip.Uri) (netip.AddrPort, error) {
	probe := sip.NewRequest(sip.OPTIONS, target)
	probe.SetTransport("TCP")
	probe.AppendHeader(&sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "TCP",
		Host: c.localIP.String(), Params: sip.NewParams()})
	conn, err := c.ua.TransportLayer().ClientRequestConnection(ctx, probe)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("sipcaller: tcp connection to %s: %w", target.HostPort(), err)
	}
	defer conn.TryClose() // the pool keeps it open for the calls
	local, err := netip.ParseAddrPort(conn.LocalAddr().String())
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("sipcaller: tcp connection: local address: %w", err)
	}
	return netip.AddrPortFrom(local.Addr().Unmap(), local.Port()), nil
}
