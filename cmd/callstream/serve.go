package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"github.com/callstream/callstream/internal/call"
	"io"
	"os"
	"strings"
	"time"

	"github.com/callstream/callstream/internal/gateway"
	"github.com/callstream/callstream/internal/limit"
	"github.com/callstream/callstream/internal/nodeid"
	"github.com/callstream/callstream/internal/records"
	"github.com/callstream/callstream/internal/scenario"
	"github.com/callstream/callstream/internal/stream"
)

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		sipAddr    = fs.String("sip", "127.0.0.1:5060", "SIP listen address, UDP and TCP")
		httpAddr   = fs.String("http", gateway.DefaultHTTPAddr, "HTTP listen address: the API (POST /scenarios, /records/...), scenario access URLs, and GET /healthz, /metrics unless --metrics-addr is given")
		app        = fs.String("app", "", "FlexML application: http(s) URL fetched for every call, or a file path (required)")
		appMethod  = fs.String("app-method", "POST", "POST (a JSON body; a form under --app-dialect twilio) or GET (query parameters)")
		appTimeout = fs.Duration("app-timeout", 5*time.Second, "how long to wait for the app's document")
		rtpPorts   = fs.String("rtp-ports", "20000-30000", "UDP port range for RTP")
		publicIP   = fs.String("public-ip", "", "address written into SDP c= lines (default: the --sip host)")
		logLevel   = fs.String("log-level", "info", "debug, info, warn or error")
		logFormat  = fs.String("log-format", "text", "text or json")
		rtpTimeout = fs.Duration("rtp-timeout", 30*time.Second, "hang up after this long without RTP from the caller")
		maxStreams = fs.Int("max-streams-per-call", 4, "unidirectional streams per call")
		dialect    = fs.String("stream-dialect", "carrierx", "WebSocket message format of FlexML streams: carrierx or twilio")
		queue      = fs.Duration("stream-queue", stream.DefaultQueue, "audio queued towards a slow WebSocket before the oldest is dropped")
		playout    = fs.Duration("playout-limit", stream.DefaultPlayoutLimit, "app audio queued ahead of real time on a bidirectional stream")
		pprof      = fs.Bool("pprof", false, "serve net/http/pprof under /debug/pprof/ beside /metrics, to holders of an API token")
		httpsAddr  = fs.String("https", "", "also serve the HTTP handlers over TLS on this address (wss:// for incoming scenario sockets); needs --tls-cert and --tls-key")
		tlsCert    = fs.String("tls-cert", "", "PEM certificate (chain) of the --https listener")
		tlsKey     = fs.String("tls-key", "", "PEM private key of the --https listener")
		wsCA       = fs.String("ws-ca", "", "PEM file of CA certificates trusted for wss:// streams, besides the system's")
		publicURL  = fs.String("public-url", "", "base URL at which callers reach the HTTP listener (e.g. https://gw.example.com behind a TLS proxy); scenario access URLs and recording URLs start with it")
		scn        = fs.String("scenario", "", "run this JavaScript scenario (VoxEngine style) for every call instead of FlexML")
		scnData    = fs.String("scenario-data", "", "what VoxEngine.customData() returns in sessions started by a call")
		pstnTrunk  = fs.String("pstn-trunk", "", "SIP host[:port] that numbers are called through: FlexML <Dial><Number> and a scenario's VoxEngine.callPSTN")
		nodeID     = fs.String("node-id", nodeid.Default(), "this node's id in a fleet, 1 to 16 characters of a-z, 0-9 and - (default: from the host name); every CallSid carries it (see nodeid), /metrics shows it as callstream_node_info")
		peers      = fs.String("peers", "", "the other nodes of the fleet, whose calls' API requests this node forwards to them: comma-separated id=URL entries (URL: the node's HTTP API base, e.g. b=http://10.0.0.3:8080; this node's own entry is skipped), or dns:NAME:PORT (the nodes are NAME's addresses, asked for their ids at GET /node)")
		callerID   = fs.String("caller-id", "callstream", "caller id (From user) of outgoing calls whose scenario, or whose <Dial> and its caller, give none")

		apiToken                    = fs.String("api-token", "", "bearer token the HTTP API (POST /scenarios, /records/...) accepts; without a token those endpoints are off")
		apiTokenFile                = fs.String("api-token-file", "", "file of bearer tokens, one per line")
		metricsAddr                 = fs.String("metrics-addr", "", "serve GET /healthz and GET /metrics on this address instead of on --http")
		denyPrivate                 = fs.Bool("deny-private-urls", false, "refuse fetches and WebSocket dials to loopback and private addresses (multi-tenant installs)")
		playCache                   = fs.Int64("play-cache", 64<<20, "bytes of audio files fetched for Play kept in memory; 0: no cache")
		ttsCommand                  = fs.String("tts-command", "espeak-ng", "text-to-speech program of Say and scenarios' say, run as PROGRAM -v VOICE --stdout with the text on its standard input (WAV on its standard output)")
		ttsCache                    = fs.Int64("tts-cache", 32<<20, "bytes of rendered speech kept in memory for reuse; 0: no cache")
		drainTimeout                = fs.Duration("drain-timeout", 30*time.Second, "on SIGTERM or SIGINT, how long live calls may go on before they are ended (a second signal ends them at once)")
		reconnect                   = fs.Duration("stream-reconnect", 5*time.Second, "how long a stream whose app socket dropped is reconnected for; 0: never")
		sipAuthFile                 = fs.String("sip-auth-file", "", "file of user:password lines; INVITEs must then authenticate with SIP digest")
		sipRealm                    = fs.String("sip-realm", "callstream", "realm of SIP digest authentication")
		sipTLS                      = fs.String("sip-tls", "", "also serve SIP over TLS on this address (needs --tls-cert and --tls-key)")
		preferWideband              = fs.Bool("prefer-wideband", false, "answer with a wideband codec (G722, or opus in a build with it) whenever the caller offers one, and offer wideband first; off: the caller's order of preference decides")
		recordingsDir               = fs.String("recordings-dir", "", "where recordings (FlexML <Record>, scenario recorders) are written (default: a callstream folder in the system's temporary directory)")
		jitterBuffer                = fs.String("jitter-buffer", "adaptive", "delay of each call's inbound jitter buffer: adaptive (20 to 200 ms, following the caller's jitter) or a fixed duration from 20ms to 1s")
		rtpSilence                  = fs.Bool("rtp-silence", true, "send callers a packet every 20 ms while nothing plays (silence in the call's codec, or comfort noise if the caller offered CN); false sends nothing then")
		recordingsTTL               = fs.Duration("recordings-ttl", records.DefaultTTL, "delete recordings this long after they end; 0: keep them")
		appDialect                  = fs.String("app-dialect", "", "format of requests to the FlexML app: carrierx (JSON, CarrierX's fields) or twilio (form-encoded, Twilio's fields, signed with --auth-token); default twilio when --stream-dialect is twilio, else carrierx")
		accountSid                  = fs.String("account-sid", "", "AccountSid of app requests and stream messages (AC and 32 hex digits); under a twilio dialect the default is AC00000000000000000000000000000000")
		authToken                   = fs.String("auth-token", "", "auth token that signs requests to the app with X-Twilio-Signature under --app-dialect twilio")
		authTokenFile               = fs.String("auth-token-file", "", "file whose first line is the --auth-token")
		statusCallback              = fs.String("status-callback", "", "URL that receives every incoming call's status events (initiated, ringing, in-progress, completed, busy, no-answer, failed, canceled), encoded in the app dialect")
		statusCallbackMethod        = fs.String("status-callback-method", "POST", "POST or GET for --status-callback")
		urlAllow, urlDeny, sipAllow prefixList
		limits                      limit.Limits
	)
	fs.Var(&urlAllow, "url-allow", "CIDR networks fetches and dials may reach even when --deny-private-urls refuses them (comma-separated)")
	fs.Var(&urlDeny, "url-deny", "CIDR networks fetches and dials may never reach (comma-separated)")
	fs.Var(&sipAllow, "sip-allow", "admit INVITEs only from these CIDR networks (comma-separated; default: any)")
	limits.Register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := envFlags(fs); err != nil {
		return err
	}
	log, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		return err
	}
	d, err := gateway.Dialect(*dialect)
	if err != nil {
		return err
	}
	appD, err := appDialectOf(*appDialect, *dialect)
	if err != nil {
		return err
	}
	token, err := readAuthToken(*authToken, *authTokenFile)
	if err != nil {
		return err
	}
	wsTLS, err := trustFile(*wsCA)
	if err != nil {
		return err
	}
	tokens, err := readTokens(*apiToken, *apiTokenFile)
	if err != nil {
		return err
	}
	sipAuth, err := readSIPAuth(*sipAuthFile)
	if err != nil {
		return err
	}
	jitterDelay, err := call.ParseJitterBuffer(*jitterBuffer)
	if err != nil {
		return fmt.Errorf("--jitter-buffer: %w", err)
	}
	cache := *playCache
	if cache == 0 {
		cache = -1
	}
	speechCache := *ttsCache
	if speechCache == 0 {
		speechCache = -1
	}
	drain := *drainTimeout
	if drain <= 0 {
		drain = time.Nanosecond // end live calls at once
	}
	rec := *reconnect
	if rec <= 0 {
		rec = -1
	}
	recTTL := *recordingsTTL
	if recTTL <= 0 {
		recTTL = -1 // keep recordings
	}
	cfg := gateway.Config{
		SIPAddr:           *sipAddr,
		HTTPAddr:          *httpAddr,
		App:               *app,
		AppMethod:         *appMethod,
		AppTimeout:        *appTimeout,
		RTPPorts:          *rtpPorts,
		PublicIP:          *publicIP,
		RTPTimeout:        *rtpTimeout,
		MaxStreamsPerCall: *maxStreams,
		Dialect:           d,
		Queue:             *queue,
		PlayoutLimit:      *playout,
		Pprof:             *pprof,
		HTTPSAddr:         *httpsAddr,
		TLSCertFile:       *tlsCert,
		TLSKeyFile:        *tlsKey,
		WSTLS:             wsTLS,
		Logger:            log,
		Limits:            limits.FromFlags(),
		APITokens:         tokens,
		MetricsAddr:       *metricsAddr,
		URLAllow:          urlAllow,
		URLDeny:           urlDeny,
		DenyPrivateURLs:   *denyPrivate,
		PlayCacheBytes:    cache,
		TTSCommand:        *ttsCommand,
		TTSCacheBytes:     speechCache,
		DrainTimeout:      drain,
		StreamReconnect:   rec,
		SIPAllow:          sipAllow,
		SIPAuth:           sipAuth,
		SIPRealm:          *sipRealm,
		SIPTLSAddr:        *sipTLS,
		PreferWideband:    *preferWideband,
		RecordingsDir:     *recordingsDir,
		RecordingsTTL:     recTTL,
		PublicURL:         *publicURL,
		JitterBuffer:      jitterDelay,
		QuietRTP:          !*rtpSilence,
		AppDialect:        appD,
		AccountSid:        *accountSid,
		AuthToken:         token,
		PSTNTrunk:         *pstnTrunk,
		CallerID:          *callerID,
		NodeID:            *nodeID,
		Peers:             *peers,

		StatusCallback:       *statusCallback,
		StatusCallbackMethod: strings.ToUpper(*statusCallbackMethod),
	}
	var g *gateway.Gateway
	if *scn != "" {
		rt, err := scenario.New(scenario.Config{File: *scn, CustomData: *scnData, Logger: log,
			PSTNTrunk: *pstnTrunk, CallerID: *callerID, TTSCommand: *ttsCommand,
			HTTPAddr:  func() string { return g.HTTPAddr() },
			HTTPSAddr: func() string { return g.HTTPSAddr() },
			PublicURL: *publicURL,
			Bounds:    cfg.Limits,
			RecordDir: cfg.RecordingsDir,
			RecordTTL: cfg.RecordingsTTL})
		if err != nil {
			return err
		}
		// Sessions may outlive calls: close them after the gateway stops.
		defer rt.Close()
		gateway.WithScenario(&cfg, rt)
	}
	g, err = gateway.New(cfg)
	if err != nil {
		return err
	}
	return runGateway(ctx, g)
}

// runGateway runs g until ctx ends (the first signal), then drains it: live
// calls go on until they end, the drain timeout passes or cutOf(ctx) ends
// (the second signal), and every call left is ended cleanly. It returns
// Run's error: nil after a clean stop, drained or cut.
func runGateway(ctx context.Context, g *gateway.Gateway) error {
	cut := cutOf(ctx)
	done := make(chan error, 1)
	go func() { done <- g.Run(cut) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	// Shutdown logs how the drain ended; a second signal cutting it
	// short is what the operator asked for, not a failure.
	_ = g.Shutdown(cut)
	if err := <-done; !errors.Is(err, gateway.ErrClosed) {
		return err // nil after a clean stop
	}
	return nil // the signal came before Run started
}

// trustFile returns a TLS client configuration trusting the system's roots
// and the PEM certificates in file; nil (the system's roots alone) for "".
func trustFile(file string) (*tls.Config, error) {
	if file == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("--ws-ca: %w", err)
	}
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--ws-ca %s: no PEM certificate in it", file)
	}
	return &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, nil
}
