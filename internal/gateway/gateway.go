// Package gateway assembles callstream's parts into one server: the SIP
// edge, the RTP port pool, the HTTP listeners (the API behind bearer
// tokens, health, metrics, profiling) and the controller that runs each
// call (FlexML or a scenario).
package gateway

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/callstream/callstream/internal/call"
	"github.com/callstream/callstream/internal/callstatus"
	"github.com/callstream/callstream/internal/cluster"
	"github.com/callstream/callstream/internal/fetch"
	"github.com/callstream/callstream/internal/flow"
	"github.com/callstream/callstream/internal/limit"
	"github.com/callstream/callstream/internal/logsafe"
	"github.com/callstream/callstream/internal/nodeid"
	"github.com/callstream/callstream/internal/records"
	"github.com/callstream/callstream/internal/rtpio"
	"github.com/callstream/callstream/internal/scenario"
	"github.com/callstream/callstream/internal/sip"
	"github.com/callstream/callstream/internal/stream"
	"github.com/callstream/callstream/internal/tts"
	"github.com/callstream/callstream/internal/webhook"
)

// DefaultHTTPAddr is the HTTP listener's default address: off 8080, the
// port sample apps use.
const DefaultHTTPAddr = "127.0.0.1:8780"

// Config is the gateway's configuration; the zero value of every optional
// field means its default.
type Config struct {
	SIPAddr           string // default 127.0.0.1:5060
	HTTPAddr          string // default 127.0.0.1:8780
	App               string // FlexML app: http(s) URL or file path
	AppMethod         string // POST or GET
	AppTimeout        time.Duration
	RTPPorts          string // "min-max", default 20000-30000
	PublicIP          string // SDP c= address; default the SIP host
	RTPTimeout        time.Duration
	MaxStreamsPerCall int
	Dialect           stream.Dialect
	Queue             time.Duration // audio queued towards a slow app
	PlayoutLimit      time.Duration // app audio queued ahead on bidirectional streams
	Pprof             bool
	// HTTPSAddr, when set, serves the same HTTP handlers over TLS there
	// (wss:// for incoming scenario sockets), with the certificate and key
	// of TLSCertFile and TLSKeyFile (PEM).
	HTTPSAddr   string
	TLSCertFile string
	TLSKeyFile  string
	// WSTLS configures the wss:// connections of FlexML streams (nil: the
	// system's roots).
	WSTLS  *tls.Config
	Logger *slog.Logger
	// Controller runs each call; nil means the FlexML interpreter for App.
	Controller Controller
	// Routes, when set, adds HTTP handlers (e.g. a scenario runtime's) to
	// the router of the HTTP listener: Handle for endpoints of the API
	// (behind APITokens), HandleOpen for the others.
	Routes func(r *Router)
	// OnCallReleased, when set, is called once each incoming call has
	// ended and released its media, with its id and figures.
	OnCallReleased func(sid string, st call.Stats)

	// Limits bound what callers, apps and HTTP clients may make the
	// gateway do (zero fields: defaults; negative: off).
	Limits limit.Limits
	// APITokens are the bearer tokens the HTTP endpoints that start or
	// read anything accept (POST /scenarios, /records/…); with none those
	// endpoints are off.
	APITokens []string
	// MetricsAddr, when set, serves GET /healthz and GET /metrics on a
	// listener of their own instead of on HTTPAddr.
	MetricsAddr string
	// URLAllow and URLDeny are CIDR lists applied to every address the
	// gateway fetches or dials on an app's behalf (not App itself): an
	// address in URLDeny is refused, one in URLAllow is allowed even when
	// DenyPrivateURLs would refuse it. Link-local and cloud-metadata
	// addresses and the gateway's own listeners are always refused.
	URLAllow, URLDeny []netip.Prefix
	// DenyPrivateURLs refuses loopback and private addresses too (for
	// installs serving many tenants).
	DenyPrivateURLs bool
	// PlayCacheBytes bounds the cache of audio files fetched for Play
	// (default 64 MiB; negative: no cache).
	PlayCacheBytes int64
	// TTSCommand is the text-to-speech program of Say and scenarios
	// (default espeak-ng); TTSCacheBytes bounds the speech kept for reuse
	// (default 32 MiB; negative: none kept).
	TTSCommand    string
	TTSCacheBytes int64
	// DrainTimeout bounds how long Shutdown lets live calls run before it
	// ends them (default 30 s).
	DrainTimeout time.Duration
	// StreamReconnect is how long a stream whose app socket dropped is
	// reconnected for (default 5 s; negative: never).
	StreamReconnect time.Duration
	// SIPAllow, when not empty, admits INVITEs only from these networks.
	SIPAllow []netip.Prefix
	// SIPAuth, when not empty, makes INVITEs authenticate with SIP digest
	// (user name -> password) in realm SIPRealm (default "callstream").
	SIPAuth  map[string]string
	SIPRealm string
	// SIPTLSAddr, when set, also serves SIP over TLS there with the
	// certificate of TLSCertFile and TLSKeyFile.
	SIPTLSAddr string
	// PreferWideband answers a caller with a wideband codec (G722, opus)
	// whenever it offers one and offers wideband first (sip.Config); off,
	// the caller's order of preference decides.
	PreferWideband bool
	// RecordingsDir is where recordings are written (default: the system's
	// temporary directory); RecordingsTTL deletes them that long after they
	// end (default 24 h).
	RecordingsDir string
	RecordingsTTL time.Duration
	// PublicURL is the base URL at which clients reach the HTTP listener
	// (e.g. behind a TLS proxy); recording URLs start with it (default
	// "http://" + HTTPAddr()).
	PublicURL string
	// JitterBuffer fixes the delay of every call's inbound jitter buffer
	// (20 ms to 1 s, --jitter-buffer); zero adapts it between 20 and
	// 200 ms.
	JitterBuffer time.Duration
	// AppDialect encodes the requests to the FlexML app: CarrierX's JSON
	// (default) or Twilio's form-encoded requests signed with AuthToken
	// (none: unsigned, with a warning at start).
	AppDialect webhook.Dialect
	AuthToken  string
	// AccountSid is the AccountSid of app requests and stream messages;
	// when given it must be AC and 32 hex digits. Under a Twilio dialect
	// (app or stream) it defaults to webhook.DefaultAccountSid, and call
	// ids are Twilio's (CA and 32 hex digits) instead of UUIDs.
	AccountSid string
	// StatusCallback, when set, receives every incoming call's status
	// events (initiated, ringing, in-progress, then completed, busy,
	// no-answer, failed or canceled) in the app dialect, by
	// StatusCallbackMethod (POST or GET; default POST), through the URL
	// policy, from a bounded queue that never holds a call up. A FlexML
	// app's answer may give a call its own URL besides (or without) this
	// one: see flow.HeaderStatusCallback.
	StatusCallback       string
	StatusCallbackMethod string
	// PSTNTrunk is the SIP host[:port] a FlexML <Dial><Number> calls
	// through (sip:NUMBER@PSTNTrunk); CallerID is the From user of a
	// Dial whose document and caller give none.
	PSTNTrunk, CallerID string
	// QuietRTP sends callers nothing while nothing plays
	// (--rtp-silence=false); by default a call sends a packet every 20 ms:
	// silence in its codec, or comfort noise to a caller that offered CN.
	QuietRTP bool
	// NodeID names this node of a fleet (nodeid.Check; default: derived
	// from the host name). Every CallSid carries its tag (nodeid.NodeOf),
	// and /metrics shows it as callstream_node_info{node="..."}.
	NodeID string
	// Peers are the other nodes of the fleet (--peers), whose calls' API
	// requests this node forwards to them and whose calls GET
	// /calls?scope=cluster lists: comma-separated id=URL entries (URL:
	// the node's HTTP API base), or dns:NAME:PORT. See package cluster.
	Peers string
}

// Controller drives one call from answer to end; Run returns when the
// controller is done with the call (the gateway then hangs up if needed).
type Controller interface {
	Run(ctx context.Context, c *call.Call) error
}

// Gateway is a running callstream server.
type Gateway struct {
	cfg      Config
	log      *slog.Logger
	sip      *sip.Server
	ports    *rtpio.PortPool
	rtpIP    netip.Addr
	clock    *call.Clock // the media clock of every call (owned)
	ctrl     Controller
	flexml   *flow.Interpreter // ctrl in FlexML mode; with a scenario, what runs the calls the API redirects to FlexML (nil: no stream dialect)
	web      *web              // the HTTP listeners and servers, from Run on
	tlsCert  *tls.Certificate
	ready    chan struct{}
	sipReady atomic.Bool
	metrics  *Metrics
	fetch    *fetch.Client // everything fetched or dialed on an app's behalf (owned)
	tts      *tts.Synth    // Say and scenario speech (owned)
	metricsH http.Handler  // GET /metrics

	calls    *registry        // live calls by CallSid
	fleet    *cluster.Cluster // the other nodes (nil: none)
	draining atomic.Bool      // Shutdown called or Run stopping: no new work

	mu      sync.Mutex
	closed  bool               // Shutdown called: Run refuses to start
	stopRun context.CancelFunc // set while Run runs: ends it (cutting the calls left)
	runDone chan struct{}      // set when Run starts, closed when it has returned

	twilioSids bool // call ids are Twilio's CA… (a Twilio dialect is on)
	// status sends call status callbacks (nil without StatusCallback
	// under a scenario runtime); set by Run before the SIP server starts.
	status atomic.Pointer[callstatus.Notifier]
	// statusCalls holds the live calls' *callstatus.Call by CallSid, for
	// the status callback URL an app's answer gives its call.
	statusCalls sync.Map
	// records keeps FlexML calls' recordings (nil under a scenario
	// runtime, which keeps its own); closed when Run returns.
	records *records.Store
}

// CallDialer is a Controller that places outgoing calls (a scenario's
// callSIP): the gateway hands it its Dial.
type CallDialer interface {
	UseDialer(dial func(sip.DialConfig) *call.Call)
}

// runtimeSharer is a Controller built before the gateway (a scenario
// runtime) that takes what the gateway shares with it: its limits, its
// refusal counter, and its outbound client (the URL policy) with the Play
// cache's size.
type runtimeSharer interface {
	UseGateway(scenario.Shared)
}

// ParsePortRange parses "min-max".
func ParsePortRange(s string) (int, int, error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, fmt.Errorf("port range %q: want min-max", s)
	}
	lo, err1 := strconv.Atoi(strings.TrimSpace(a))
	hi, err2 := strconv.Atoi(strings.TrimSpace(b))
	if err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
		return 0, 0, fmt.Errorf("port range %q: want min-max with 1 <= min <= max <= 65535", s)
	}
	return lo, hi, nil
}

// New checks the configuration and prepares a gateway; Run starts it.
func New(cfg Config) (*Gateway, error) {
	if cfg.SIPAddr == "" {
		cfg.SIPAddr = "127.0.0.1:5060"
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = DefaultHTTPAddr
	}
	if cfg.RTPPorts == "" {
		cfg.RTPPorts = "20000-30000"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	// Records above DEBUG lose secrets, query strings and long values.
	cfg.Logger = logsafe.Logger(cfg.Logger)
	if cfg.Controller == nil && cfg.App == "" {
		return nil, errors.New("no app: give --app (a FlexML URL or file) or a scenario")
	}
	if cfg.NodeID == "" {
		cfg.NodeID = nodeid.Default()
	}
	if err := nodeid.Check(cfg.NodeID); err != nil {
		return nil, fmt.Errorf("--node-id: %w", err) // names the bad id
	}
	fleet, err := cluster.New(cfg.NodeID, cfg.Peers, cfg.Logger)
	if err != nil {
		return nil, fmt.Errorf("--peers: %w", err)
	}
	twilioSids, err := checkTwilio(&cfg)
	if err != nil {
		return nil, err
	}
	if cfg.StatusCallback != "" {
		if err := callstatus.Check(cfg.StatusCallback, cfg.StatusCallbackMethod); err != nil {
			return nil, err
		}
	}
	short, err := checkTokens(cfg.APITokens)
	if err != nil {
		return nil, err
	}
	if short > 0 {
		cfg.Logger.Warn("API tokens shorter than 16 characters are easy to guess: use long random ones", "short_tokens", short)
	}
	var cert *tls.Certificate
	if cfg.HTTPSAddr != "" {
		if cfg.TLSCertFile == "" || cfg.TLSKeyFile == "" {
			return nil, errors.New("https: --https needs --tls-cert and --tls-key")
		}
		c, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("https: %w", err)
		}
		cert = &c
	}
	lo, hi, err := ParsePortRange(cfg.RTPPorts)
	if err != nil {
		return nil, err
	}
	ports, err := rtpio.NewPortPool(lo, hi)
	if err != nil {
		return nil, fmt.Errorf("rtp ports: %w", err)
	}
	host, _, err := net.SplitHostPort(cfg.SIPAddr)
	if err != nil {
		return nil, fmt.Errorf("sip address %q: %w", cfg.SIPAddr, err)
	}
	rtpIP, err := netip.ParseAddr(host)
	if err != nil {
		return nil, fmt.Errorf("sip address %q: host must be an IP address: %w", cfg.SIPAddr, err)
	}
	publicIP := rtpIP
	if cfg.PublicIP != "" {
		if publicIP, err = netip.ParseAddr(cfg.PublicIP); err != nil {
			return nil, fmt.Errorf("public ip: %w", err)
		}
	}
	if rtpIP.IsUnspecified() && cfg.PublicIP == "" {
		return nil, errors.New("--sip listens on all addresses: give --public-ip for SDP")
	}
	g := &Gateway{
		tlsCert: cert,
		cfg:     cfg,
		log:     cfg.Logger,
		ports:   ports,
		rtpIP:   rtpIP,
		ready:   make(chan struct{}),
		calls:   newRegistry(),
		fleet:   fleet,
		metrics: NewMetrics(),

		twilioSids: twilioSids,
	}
	// One client fetches and dials for every app, through the URL policy.
	// The operator's --app origin is trusted. The gateway's listeners are
	// refused: as configured now, as bound once Run has bound them.
	g.fetch = fetch.New(fetch.Config{
		Policy:   fetch.NewPolicy(fetch.PolicyConfig{Allow: cfg.URLAllow, Deny: cfg.URLDeny, DenyPrivate: cfg.DenyPrivateURLs}),
		Trusted:  cfg.App,
		Refusals: g.metrics,
	})
	_ = g.fetch.Policy().AddOwn(cfg.SIPAddr, cfg.HTTPAddr, cfg.HTTPSAddr, cfg.MetricsAddr, cfg.SIPTLSAddr) // names join once bound
	g.fetch.Policy().AddLocal(publicIP)
	g.log.Info("url policy", "policy", g.fetch.Policy().String())
	ttsm := newTTSMetrics()
	g.tts = newSynth(cfg, g.log, ttsm)
	g.metricsH = g.metrics.Handler(ttsm.syntheses, ttsm.hits, nodeInfo(cfg.NodeID),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "callstream_rtp_ports_in_use", Help: "RTP ports held by calls.",
		}, func() float64 { return float64(g.PortsInUse()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "callstream_status_callbacks_dropped_total", Help: "Call status callbacks dropped: their queue was full.",
		}, func() float64 {
			if st := g.status.Load(); st != nil {
				return float64(st.Dropped())
			}
			return 0
		}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "callstream_status_callbacks_failed_total", Help: "Call status callbacks given up after every try.",
		}, func() float64 {
			if st := g.status.Load(); st != nil {
				return float64(st.Failed())
			}
			return 0
		}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "callstream_draining", Help: "1 while the gateway drains or stops (takes no new calls), else 0.",
		}, func() float64 {
			if g.Draining() {
				return 1
			}
			return 0
		}))
	g.ctrl = cfg.Controller
	// Stream bounds and reconnect of FlexML streams.
	streamLimits := cfg.Limits.WithDefaults()
	if g.ctrl == nil {
		if cfg.Dialect == nil {
			return nil, errors.New("no stream dialect")
		}
		if g.records, err = g.openRecords(); err != nil {
			return nil, err
		}
	}
	if cfg.Dialect != nil {
		// With a scenario, this interpreter runs only the documents the
		// REST API redirects calls to (the scenario keeps the recordings).
		g.flexml = flow.New(flow.Config{
			App:          cfg.App,
			Method:       cfg.AppMethod,
			Timeout:      cfg.AppTimeout,
			Dialect:      cfg.Dialect,
			MaxStreams:   cfg.MaxStreamsPerCall,
			Queue:        cfg.Queue,
			PlayoutLimit: cfg.PlayoutLimit,
			WSTLS:        cfg.WSTLS,
			Logger:       cfg.Logger,
			Metrics:      g.metrics,
			WSMaxMessage: streamLimits.WSMessage,
			PendingMarks: streamLimits.PendingMarks,
			Reconnect:    cfg.StreamReconnect,
			Refusals:     g.metrics,
			Fetch:        g.fetch,
			PlayCache:    cfg.PlayCacheBytes,
			TTS:          g.tts,
			Records:      g.records,
			BaseURL:      g.baseURL,
			AccountSid:   cfg.AccountSid,
			AppDialect:   cfg.AppDialect,
			AuthToken:    cfg.AuthToken,
			PSTNTrunk:    cfg.PSTNTrunk,
			CallerID:     cfg.CallerID,
			// A call's own status callback URL, from its app's answer.
			StatusCallback: g.setCallStatusURL,
		})
	}
	if g.ctrl == nil {
		g.ctrl = g.flexml
	} else if sh, ok := g.ctrl.(runtimeSharer); ok {
		sh.UseGateway(scenario.Shared{Limits: cfg.Limits, Refusals: g.metrics, Fetch: g.fetch, PlayCache: cfg.PlayCacheBytes,
			TTS: g.tts})
	}
	var sipTLS *tls.Config
	if cfg.SIPTLSAddr != "" {
		if cfg.TLSCertFile == "" || cfg.TLSKeyFile == "" {
			return nil, errors.New("sip tls: --sip-tls needs --tls-cert and --tls-key")
		}
		c, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("sip tls: %w", err)
		}
		sipTLS = &tls.Config{Certificates: []tls.Certificate{c}, MinVersion: tls.VersionTLS12}
	}
	srv, err := sip.NewServer(sip.Config{
		Addr:     cfg.SIPAddr,
		PublicIP: publicIP,
		Logger:   cfg.Logger,
		Handler:  g.handle,
		Limits:   cfg.Limits,
		Refusals: g.metrics,
		Allow:    cfg.SIPAllow,
		Auth:     cfg.SIPAuth,
		Realm:    cfg.SIPRealm,
		TLSAddr:  cfg.SIPTLSAddr,
		TLS:      sipTLS,

		PreferWideband: cfg.PreferWideband,
	})
	if err != nil {
		if g.records != nil {
			g.records.Close()
		}
		return nil, fmt.Errorf("sip: %w", err)
	}
	g.sip = srv
	if d, ok := g.ctrl.(CallDialer); ok {
		d.UseDialer(g.Dial)
	}
	return g, nil
}

// refuseDialer fails every dial: the gateway is shutting down.
type refuseDialer struct{}

func (refuseDialer) Dial(context.Context, sip.DialConfig) (*sip.Outgoing, error) {
	return nil, fmt.Errorf("gateway shutting down: %w", sip.ErrNotListening)
}

// Dial places an outgoing call and returns it at once (see call.Dial). The
// gateway owns it like an incoming call: it gets a CallSid, metrics count
// it, shutdown hangs it up, and its port and goroutines are released when
// it ends. While the gateway drains or stops, the call fails at once.
func (g *Gateway) Dial(dc sip.DialConfig) *call.Call {
	sid := g.newCallSid()
	log := g.log.With("call_sid", sid)
	lim := g.cfg.Limits.WithDefaults() // call bounds
	cfg := call.Config{Sid: sid, Ports: g.ports, RTPIP: g.rtpIP, Clock: g.clock, RTPTimeout: g.cfg.RTPTimeout, Logger: log,
		MaxCallDuration: lim.MaxCallDuration, HoldTimeout: lim.HoldTimeout, Refusals: g.metrics,
		JitterDelay: g.cfg.JitterBuffer, QuietRTP: g.cfg.QuietRTP}
	if g.Draining() {
		log.Info("outgoing call refused: draining", "to", logsafe.URL(dc.Target))
		return call.Dial(cfg, refuseDialer{}, dc)
	}
	c := call.Dial(cfg, g.sip, dc)
	if !g.calls.add(&liveCall{call: c, started: time.Now(), direction: directionDial}) {
		// Shutdown began meanwhile: give the dial up at once.
		log.Info("outgoing call refused: draining", "to", dc.Target)
		c.Hangup("gateway shutting down")
		_ = c.Close()
		return c
	}
	log.Info("outgoing call", "to", dc.Target, "from", dc.From)
	g.metrics.callStarted(c)
	go func() {
		<-c.Done()
		g.release(c, log, false)
	}()
	return c
}

// release closes an ended call, counts it and forgets it; OnCallReleased
// hears of incoming calls.
func (g *Gateway) release(c *call.Call, log *slog.Logger, incoming bool) {
	_ = c.Close()
	st := c.Stats()
	g.metrics.callEnded(c, st)
	log.Info("call released", "reason", st.EndReason, "codec", st.Codec, "frames_in", st.FramesIn,
		"frames_out", st.FramesOut, "silence_out", st.SilenceOut+st.ComfortNoise, "rtp_packets", st.RTP.Packets,
		"jitter", st.Jitter.Jitter.Round(time.Microsecond).String(), "jitter_delay", st.Jitter.Delay.String(), "late", st.Jitter.Late, "lost", st.Jitter.Lost,
		"concealed", st.Concealed, "reanchors", st.Jitter.Reanchors)
	if incoming && g.cfg.OnCallReleased != nil {
		g.cfg.OnCallReleased(c.Sid(), st)
	}
	g.calls.done(c.Sid(), st.EndReason)
}

// Metrics returns the gateway's Prometheus metrics.
func (g *Gateway) Metrics() *Metrics { return g.metrics }

// MetricsHandler serves GET /metrics: the gateway's private registry.
func (g *Gateway) MetricsHandler() http.Handler { return g.metricsH }

// Ready is closed once SIP and HTTP are listening.
func (g *Gateway) Ready() <-chan struct{} { return g.ready }

// SIPAddr returns the bound SIP address.
func (g *Gateway) SIPAddr() string { return g.sip.Addr() }

// AddOwnListener adds bound listener addresses ("ip:port") of the gateway
// to the URL policy: apps may never make it fetch from or dial them.
func (g *Gateway) AddOwnListener(addrs ...string) {
	if err := g.fetch.Policy().AddOwn(addrs...); err != nil {
		g.log.Warn("url policy: listener address not added", "err", err)
	}
}

// PortsInUse returns the RTP ports held by calls now.
func (g *Gateway) PortsInUse() int { return g.ports.InUse() }

// ActiveCalls returns the calls running now.
func (g *Gateway) ActiveCalls() int { return g.calls.len() }

// Call returns the live call with CallSid sid, or nil.
func (g *Gateway) Call(sid string) *call.Call {
	if lc := g.calls.get(sid); lc != nil {
		return lc.call
	}
	return nil
}

// Run serves SIP and HTTP until ctx ends or Shutdown has drained, then
// ends every call left (unanswered ones get 503, answered ones a BYE, their
// streams stop and close 1000), waits a bounded time for them to release
// their media, and stops the servers. Ending ctx is an immediate cut; use
// Shutdown to drain.
func (g *Gateway) Run(ctx context.Context) error {
	g.mu.Lock()
	switch {
	case g.closed:
		g.mu.Unlock()
		return ErrClosed
	case g.runDone != nil:
		g.mu.Unlock()
		return errors.New("gateway: Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	g.stopRun, g.runDone = cancel, done
	g.mu.Unlock()
	defer close(done)

	web, err := g.listenHTTP()
	if err != nil {
		return err
	}
	g.AddOwnListener(g.HTTPAddr(), g.HTTPSAddr())
	defer g.fetch.Close()
	defer g.tts.Close()
	if g.records != nil {
		defer g.records.Close()
	}
	// A FlexML app may give a call its own status callback URL: the
	// notifier runs without a gateway-wide URL too.
	if g.cfg.StatusCallback != "" || g.cfg.Controller == nil {
		st, err := callstatus.New(callstatus.Config{URL: g.cfg.StatusCallback, Method: g.cfg.StatusCallbackMethod,
			Dialect: g.cfg.AppDialect, Token: g.cfg.AuthToken, Fetch: g.fetch, Logger: g.log})
		if err != nil {
			web.close()
			return err
		}
		g.status.Store(st)
		// Runs before the fetch client closes: the calls ended below
		// get their last events out first.
		defer st.Close()
	}
	g.clock = call.NewClock()
	defer g.clock.Close()

	// The SIP server stops only after the calls have been ended here, so
	// that the calls it cancels are already settled (503 or BYE).
	sipCtx, sipCancel := context.WithCancel(context.WithoutCancel(ctx))
	defer sipCancel()
	sipDone := make(chan error, 1)
	go func() { sipDone <- g.sip.ListenAndServe(sipCtx) }()
	httpDone := make(chan error, web.servers())
	web.serve(httpDone)
	select {
	case <-g.sip.Ready():
		g.AddOwnListener(g.SIPAddr())
		close(g.ready)
		g.log.Info("callstream listening", "node", g.cfg.NodeID, "sip", g.SIPAddr(), "http", g.HTTPAddr(), "https", g.HTTPSAddr(),
			"metrics", g.MetricsAddr(), "rtp_ports", g.cfg.RTPPorts)
	case err := <-sipDone:
		web.close()
		return err
	case err := <-httpDone:
		sipCancel()
		<-sipDone
		web.close()
		return err
	}
	var runErr error
	sipStopped := false
	select {
	case <-ctx.Done():
	case runErr = <-sipDone:
		sipStopped = true
	case runErr = <-httpDone:
	}
	g.endCalls()
	sipCancel()
	if !sipStopped {
		t := time.NewTimer(stopWait)
		select {
		case err := <-sipDone:
			runErr = errors.Join(runErr, err)
		case <-t.C:
			g.log.Error("shutdown: the SIP server did not stop in time", "waited", stopWait)
		}
		t.Stop()
	}
	web.shutdown()
	g.log.Info("callstream stopped")
	return runErr
}

// handle runs one call; it is the SIP server's INVITE handler.
func (g *Gateway) handle(ctx context.Context, inv *sip.Invite) {
	sid := g.newCallSid()
	log := g.log.With("call_sid", sid)
	status := g.status.Load().Call(sid) // nil without status callbacks
	c := call.New(call.Config{
		OnAnswer:   status.Answered,
		Sid:        sid,
		Invite:     inv,
		Ports:      g.ports,
		RTPIP:      g.rtpIP,
		Clock:      g.clock,
		RTPTimeout: g.cfg.RTPTimeout,
		Logger:     log,
		// Call bounds.
		MaxCallDuration: g.cfg.Limits.WithDefaults().MaxCallDuration,
		HoldTimeout:     g.cfg.Limits.WithDefaults().HoldTimeout,
		Refusals:        g.metrics,
		// Media.
		JitterDelay: g.cfg.JitterBuffer,
		QuietRTP:    g.cfg.QuietRTP,
	})
	lc := &liveCall{call: c, started: time.Now(), direction: directionInbound}
	if !g.calls.add(lc) {
		// Shutdown began after the SIP server let the INVITE in.
		log.Info("incoming call refused: draining", "sip_call_id", inv.CallID, "status", 503)
		limit.Count(g.metrics, limit.Draining)
		_ = c.Reject(503, shutdownReason)
		_ = c.Close()
		return
	}
	log.Info("incoming call", "sip_call_id", inv.CallID, "from", inv.From, "to", inv.To, "source", inv.Source)
	g.metrics.callStarted(c)
	if status != nil {
		g.statusCalls.Store(sid, status)
		status.Begin(flow.CallFields(c, g.cfg.AccountSid, g.cfg.AppDialect))
		defer func() {
			g.statusCalls.Delete(sid)
			status.End(finalStatus(c.Stats()))
		}() // after the release below
	}
	defer g.release(c, log, true)
	if err := g.runController(ctx, lc); err != nil {
		log.Error("call controller failed", "err", err)
	}
}

// runController runs the gateway's controller on lc's call; a FlexML
// call's handle is registered with it for the API while it runs.
func (g *Gateway) runController(ctx context.Context, lc *liveCall) error {
	in, ok := g.ctrl.(*flow.Interpreter)
	if !ok {
		return g.runScenario(ctx, lc)
	}
	h := in.Prepare(lc.call)
	lc.handle.Store(h)
	return h.Run(ctx)
}

// NewCallSid returns a new call id in UUID form.
func NewCallSid() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
