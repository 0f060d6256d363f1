// Package baseline is the yardstick of callstream's benchmarks and not part
// of the product. It does the least work that carries a call's audio to a
// WebSocket app in the CarrierX format: per call, one goroutine reads the
// caller's RTP from a UDP socket, builds the media JSON with append and
// base64, and writes it as one WebSocket frame per write(). Like the
// gateway, it sends the caller one RTP packet every 20 ms in every mode
// (continuous RTP), so both do the same network work: in bidi mode the
// app's audio, in both-tracks mode a prompt (also sent as the outbound
// track), and silence in the call's codec whenever nothing plays.
// It has no FlexML, no jitter handling, no queues, no limits and no
// recovery: `callstream bench --baseline` runs the same load against it so
// every gateway figure comes with a ratio to the cost of just moving the
// bytes.
package baseline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/limit"
	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/rtpio"
	"github.com/callstream/callstream/internal/sip"
)

// Modes of the relay.
const (
	ModeFork       = "fork"        // caller audio to the app only
	ModeBidi       = "bidi"        // and the app's audio back to the caller
	ModeBothTracks = "both-tracks" // caller audio plus a prompt played to the caller, both to the app
)

// ErrMode means Config.Mode is not one of the modes.
var ErrMode = errors.New("baseline: unknown mode")

// Config configures a Server.
type Config struct {
	SIPAddr  string // SIP listen address (UDP and TCP); default 127.0.0.1:0
	HTTPAddr string // serves /healthz and /debug/pprof/; "" for none
	// WSBase is where streams go: a call's WebSocket URL is
	// WSBase + "/" + the INVITE's To user.
	WSBase string
	Mode   string // ModeFork (default), ModeBidi or ModeBothTracks
	// Prompt is the µ-law audio looped in ModeBothTracks; default the
	// project's prompt recording.
	Prompt []byte
	// NoSilence sends the caller nothing while nothing plays, as the
	// gateway with --rtp-silence=false; by default every 20 ms tick sends
	// a packet, silence when nothing plays.
	NoSilence bool
	Logger    *slog.Logger
}

// Server is the baseline relay.
type Server struct {
	cfg    Config
	log    *slog.Logger
	sip    *sip.Server
	rtpIP  netip.Addr
	httpLn net.Listener
	http   *http.Server
	ready  chan struct{}
	dialer websocket.Dialer
	active atomic.Int64

	mu      sync.Mutex
	playing []*relay // calls the pacer plays to: all of them
}

// New checks cfg and prepares a server; Run starts it.
func New(cfg Config) (*Server, error) {
	if cfg.SIPAddr == "" {
		cfg.SIPAddr = "127.0.0.1:0"
	}
	if cfg.Mode == "" {
		cfg.Mode = ModeFork
	}
	switch cfg.Mode {
	case ModeFork, ModeBidi, ModeBothTracks:
	default:
		return nil, fmt.Errorf("%w: %q", ErrMode, cfg.Mode)
	}
	if cfg.WSBase == "" {
		return nil, errors.New("baseline: no WebSocket base URL")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Mode == ModeBothTracks && len(cfg.Prompt) == 0 {
		a, err := media.ReadWAV(strings.NewReader(string(assets.PromptWAV())))
		if err != nil {
			return nil, fmt.Errorf("baseline: prompt: %w", err)
		}
		if cfg.Prompt, err = a.ULaw8k(); err != nil {
			return nil, fmt.Errorf("baseline: prompt: %w", err)
		}
	}
	host, _, err := net.SplitHostPort(cfg.SIPAddr)
	if err != nil {
		return nil, fmt.Errorf("baseline: sip address: %w", err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return nil, fmt.Errorf("baseline: sip address: host must be an IP: %w", err)
	}
	s := &Server{
		cfg:   cfg,
		log:   cfg.Logger,
		rtpIP: ip,
		ready: make(chan struct{}),
		dialer: websocket.Dialer{
			HandshakeTimeout: 10 * time.Second,
			ReadBufferSize:   4096,
			WriteBufferSize:  4096,
		},
	}
	// No admission control: the bench measures the relay, as it runs the
	// gateway with --invite-rate 0 --max-calls 0.
	s.sip, err = sip.NewServer(sip.Config{Addr: cfg.SIPAddr, Logger: cfg.Logger, Handler: s.handle, UserAgent: "callstream-baseline",
		Limits: limit.Limits{MaxCalls: -1, InviteRate: -1, InviteBurst: -1}})
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	return s, nil
}

// Ready is closed once SIP (and HTTP) are listening.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// SIPAddr returns the bound SIP address (after Ready).
func (s *Server) SIPAddr() string { return s.sip.Addr() }

// HTTPAddr returns the bound HTTP address (after Ready), "" without one.
func (s *Server) HTTPAddr() string {
	if s.httpLn == nil {
		return ""
	}
	return s.httpLn.Addr().String()
}

// ActiveCalls returns the calls being relayed now.
func (s *Server) ActiveCalls() int { return int(s.active.Load()) }

// Run serves until ctx ends, then hangs up every call and returns.
func (s *Server) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if s.cfg.HTTPAddr != "" {
		ln, err := net.Listen("tcp", s.cfg.HTTPAddr)
		if err != nil {
			return fmt.Errorf("baseline: http listen: %w", err)
		}
		s.httpLn = ln
		mux := http.NewServeMux()
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
			select {
			case <-s.ready:
				_, _ = w.Write([]byte("ok\n"))
			default:
				http.Error(w, "starting", http.StatusServiceUnavailable)
			}
		})
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		var serving sync.WaitGroup
		serving.Add(1)
		go func() {
			defer serving.Done()
			_ = s.http.Serve(ln)
		}()
		defer serving.Wait()
		defer s.http.Close()
	}
	errc := make(chan error, 1)
	go func() { errc <- s.sip.ListenAndServe(ctx) }()
	select {
	case <-s.sip.Ready():
	case err := <-errc:
		return fmt.Errorf("baseline: sip: %w", err)
	}
	var pacing sync.WaitGroup
	pacing.Add(1)
	go func() {
		defer pacing.Done()
		s.pace(ctx)
	}()
	close(s.ready)
	s.log.Info("baseline listening", "sip", s.SIPAddr(), "http", s.HTTPAddr(), "mode", s.cfg.Mode)
	var err error
	select {
	case <-ctx.Done():
		err = <-errc
	case err = <-errc:
		cancel()
	}
	pacing.Wait()
	if err != nil {
		return fmt.Errorf("baseline: sip: %w", err)
	}
	return nil
}

// handle relays one call until it ends.
func (s *Server) handle(ctx context.Context, inv *sip.Invite) {
	if len(inv.Offer.Codecs) == 0 {
		_ = inv.Reject(488, "Not Acceptable Here")
		return
	}
	udp, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(s.rtpIP, 0)))
	if err != nil {
		_ = inv.Reject(503, "No RTP port")
		return
	}
	defer udp.Close()
	ws, _, err := s.dialer.DialContext(ctx, s.cfg.WSBase+"/"+url.PathEscape(inv.To), nil)
	if err != nil {
		s.log.Warn("baseline: websocket", "err", err)
		_ = inv.Reject(503, "WebSocket failed")
		return
	}
	defer ws.Close()
	codec := inv.Offer.Codecs[0]
	local := udp.LocalAddr().(*net.UDPAddr).AddrPort()
	r := newRelay(s, inv.CallID, udp, ws, codec)
	if err := r.open(); err != nil {
		_ = inv.Reject(503, "WebSocket failed")
		return
	}
	if err := inv.Answer(netip.AddrPortFrom(s.rtpIP, local.Port()), codec, 0); err != nil {
		s.log.Warn("baseline: answer", "err", err)
		return
	}
	r.remote.Store(new(inv.RemoteRTP()))
	inv.OnRemoteChange(func(a netip.AddrPort) { r.remote.Store(&a) })
	s.active.Add(1)
	defer s.active.Add(-1)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		r.readRTP()
	}()
	go func() {
		defer wg.Done()
		r.readWS()
	}()
	s.mu.Lock()
	s.playing = append(s.playing, r)
	s.mu.Unlock()
	<-ctx.Done()
	s.mu.Lock()
	for i, p := range s.playing {
		if p == r {
			s.playing = append(s.playing[:i], s.playing[i+1:]...)
			break
		}
	}
	s.mu.Unlock()
	_ = udp.Close()
	r.close()
	wg.Wait()
}

// pace is the one clock of all calls: every 20 ms it sends each call its
// next frame (silence when nothing plays).
func (s *Server) pace(ctx context.Context) {
	p := rtpio.NewPacer(time.Now(), 20*time.Millisecond, 200*time.Millisecond)
	var calls []*relay
	for {
		if _, err := p.Wait(ctx); err != nil {
			return
		}
		s.mu.Lock()
		calls = append(calls[:0], s.playing...)
		s.mu.Unlock()
		for _, r := range calls {
			r.tick()
		}
	}
}
