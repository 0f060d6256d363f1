package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/callstream/callstream/internal/gateway"
	"github.com/callstream/callstream/internal/scenario"
	"github.com/callstream/callstream/internal/stream"
)

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		sipAddr    = fs.String("sip", "127.0.0.1:5060", "SIP listen address, UDP and TCP")
		httpAddr   = fs.String("http", "127.0.0.1:8080", "HTTP listen address (GET /healthz, /metrics)")
		app        = fs.String("app", "", "FlexML application: http(s) URL fetched for every call, or a file path (required)")
		appMethod  = fs.String("app-method", "POST", "POST (JSON body) or GET (query parameters)")
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
		pprof      = fs.Bool("pprof", false, "serve net/http/pprof under /debug/pprof/ on the HTTP listener")
		httpsAddr  = fs.String("https", "", "also serve the HTTP handlers over TLS on this address (wss:// for incoming scenario sockets); needs --tls-cert and --tls-key")
		tlsCert    = fs.String("tls-cert", "", "PEM certificate (chain) of the --https listener")
		tlsKey     = fs.String("tls-key", "", "PEM private key of the --https listener")
		wsCA       = fs.String("ws-ca", "", "PEM file of CA certificates trusted for wss:// streams, besides the system's")
		publicURL  = fs.String("public-url", "", "base URL at which callers reach the HTTP listener (e.g. https://gw.example.com behind a TLS proxy); scenario access URLs start with it")
		scn        = fs.String("scenario", "", "run this JavaScript scenario (VoxEngine style) for every call instead of FlexML")
		scnData    = fs.String("scenario-data", "", "what VoxEngine.customData() returns in sessions started by a call")
		pstnTrunk  = fs.String("pstn-trunk", "", "SIP host[:port] that a scenario's VoxEngine.callPSTN sends numbers to")
		callerID   = fs.String("caller-id", "callstream", "caller id (From user) of outgoing calls whose scenario gives none")
	)
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
	wsTLS, err := trustFile(*wsCA)
	if err != nil {
		return err
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
	}
	var g *gateway.Gateway
	if *scn != "" {
		rt, err := scenario.New(scenario.Config{File: *scn, CustomData: *scnData, Logger: log,
			PSTNTrunk: *pstnTrunk, CallerID: *callerID,
			HTTPAddr:  func() string { return g.HTTPAddr() },
			HTTPSAddr: func() string { return g.HTTPSAddr() },
			PublicURL: *publicURL})
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
	return g.Run(ctx)
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
