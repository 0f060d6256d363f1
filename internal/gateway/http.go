package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/callstream/callstream/internal/connlimit"
	"github.com/callstream/callstream/internal/limit"
)

// The HTTP servers' bounds. A WebSocket upgrade is hijacked, which clears
// the connection's deadlines, so incoming scenario sockets live on.
const (
	// httpReadHeaderTimeout bounds reading a request's header.
	httpReadHeaderTimeout = 10 * time.Second
	// httpReadTimeout bounds reading a whole request; bodies are at most
	// 1 MiB.
	httpReadTimeout = 30 * time.Second
	// httpWriteTimeout bounds writing a response; it is above the 30 s of a
	// default CPU profile. A recording download sets a deadline of its own.
	httpWriteTimeout = 60 * time.Second
	// httpIdleTimeout closes a keep-alive connection idle this long.
	httpIdleTimeout = 60 * time.Second
	// httpMaxHeaderBytes bounds a request's header.
	httpMaxHeaderBytes = 64 << 10
	// httpShutdownWait bounds how long Run waits for requests in flight.
	httpShutdownWait = 5 * time.Second
)

// web is the gateway's HTTP side: the API listener (HTTPAddr), its TLS
// twin (HTTPSAddr) and the metrics listener (MetricsAddr), each bounded by
// connlimit, and the servers on them. It is made by listenHTTP and owned
// by Run.
type web struct {
	http    *connlimit.Listener // HTTPAddr
	https   net.Listener        // TLS over a bounded HTTPSAddr listener; nil without HTTPSAddr
	metrics *connlimit.Listener // nil without MetricsAddr
	api     *http.Server        // serves http and https
	mon     *http.Server        // serves metrics; nil without MetricsAddr
}

// httpConnLimit returns the connections a listener may hold: HTTPConns,
// lowered to a quarter of the open-file limit.
func (g *Gateway) httpConnLimit() int {
	n := g.cfg.Limits.WithDefaults().HTTPConns
	if !limit.On(n) {
		return 0
	}
	if fl := connlimit.FileLimit(); fl > 0 && n > fl/4 {
		g.log.Info("HTTP connections per listener lowered to a quarter of the open-file limit", "asked", n, "max", fl/4, "open_files", fl)
		n = max(fl/4, 1)
	}
	return n
}

// listen opens addr bounded to max connections.
func (g *Gateway) listen(name, addr string, max int) (*connlimit.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s listen %s: %w", name, addr, err)
	}
	return connlimit.Wrap(ln, connlimit.Config{
		Max:         max,
		Name:        name,
		Counter:     g.metrics,
		Full:        limit.HTTPConnsFull,
		AcceptError: limit.HTTPAcceptError,
		Logger:      g.log,
	}), nil
}

// listenHTTP opens the HTTP listeners and builds their servers: the API
// router (Routes, the API endpoints behind the tokens) on HTTPAddr and
// HTTPSAddr, health and metrics on MetricsAddr when it is set, else
// beside the API.
func (g *Gateway) listenHTTP() (*web, error) {
	max := g.httpConnLimit()
	w := &web{}
	var err error
	if w.http, err = g.listen("http", g.cfg.HTTPAddr, max); err != nil {
		return nil, err
	}
	if g.cfg.HTTPSAddr != "" {
		tln, err := g.listen("https", g.cfg.HTTPSAddr, max)
		if err != nil {
			w.close()
			return nil, err
		}
		w.https = tls.NewListener(tln, &tls.Config{Certificates: []tls.Certificate{*g.tlsCert}, MinVersion: tls.VersionTLS12})
	}
	if g.cfg.MetricsAddr != "" {
		if w.metrics, err = g.listen("metrics", g.cfg.MetricsAddr, max); err != nil {
			w.close()
			return nil, err
		}
	}
	g.web = w

	auth := newTokenAuth(g.cfg.APITokens, g.metrics, g.log)
	api := newRouter(auth)
	mon := api
	if w.metrics != nil {
		mon = newRouter(auth)
	}
	g.monitorRoutes(mon)
	g.apiRoutes(api)
	if g.cfg.Routes != nil {
		g.cfg.Routes(api)
	}
	guarded := api.Guarded()
	if mon != api {
		guarded = append(guarded, mon.Guarded()...)
	}
	switch {
	case !auth.on() && len(guarded) > 0:
		g.log.Info("HTTP API off: no API token configured; its endpoints answer 403 until one is given with --api-token or --api-token-file",
			"endpoints", guarded)
	case auth.on():
		g.log.Info("HTTP API on", "bearers", len(g.cfg.APITokens), "endpoints", guarded)
	}

	// Connection-level errors (a failed TLS handshake) go to the log at debug.
	errLog := slog.NewLogLogger(g.log.Handler(), slog.LevelDebug)
	w.api = newServer(g.refuseWhileDraining(api), errLog)
	g.dashboardRoutes(api, auth, w.api)
	if w.metrics != nil {
		w.mon = newServer(mon, errLog)
	}
	return w, nil
}

// newServer returns a server of h with the gateway's HTTP bounds.
func newServer(h http.Handler, errLog *log.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: httpReadHeaderTimeout,
		ReadTimeout:       httpReadTimeout,
		WriteTimeout:      httpWriteTimeout,
		IdleTimeout:       httpIdleTimeout,
		MaxHeaderBytes:    httpMaxHeaderBytes,
		ErrorLog:          errLog,
	}
}

// monitorRoutes registers health, metrics and, with Pprof, the profiler
// (behind the API tokens: it reveals the command line).
func (g *Gateway) monitorRoutes(r *Router) {
	r.HandleOpen("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		select {
		case <-g.ready:
			if g.Draining() {
				// Load balancers stop sending; live calls go on.
				http.Error(w, "draining", http.StatusServiceUnavailable)
				return
			}
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte("ok\n"))
		default:
			http.Error(w, "starting", http.StatusServiceUnavailable)
		}
	}))
	r.HandleOpen("GET /metrics", g.metricsH)
	if g.cfg.Pprof {
		r.HandleFunc("/debug/pprof/", pprof.Index)
		r.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		r.HandleFunc("/debug/pprof/profile", pprof.Profile)
		r.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		r.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
}

// serve runs the servers, each sending its end to errc (nil once shut
// down).
func (w *web) serve(errc chan<- error) {
	run := func(name string, s *http.Server, l net.Listener) {
		if err := s.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("%s: %w", name, err)
			return
		}
		errc <- nil
	}
	go run("http", w.api, w.http)
	if w.https != nil {
		go run("https", w.api, w.https)
	}
	if w.mon != nil {
		go run("metrics", w.mon, w.metrics)
	}
}

// servers returns how many Serve loops serve starts.
func (w *web) servers() int {
	n := 1
	if w.https != nil {
		n++
	}
	if w.mon != nil {
		n++
	}
	return n
}

// shutdown stops the servers, letting requests in flight finish for up to
// httpShutdownWait.
func (w *web) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), httpShutdownWait)
	defer cancel()
	_ = w.api.Shutdown(ctx)
	if w.mon != nil {
		_ = w.mon.Shutdown(ctx)
	}
	w.close()
}

// close closes the listeners and the servers at once.
func (w *web) close() {
	if w.api != nil {
		_ = w.api.Close()
	}
	if w.mon != nil {
		_ = w.mon.Close()
	}
	if w.http != nil {
		_ = w.http.Close()
	}
	if w.https != nil {
		_ = w.https.Close()
	}
	if w.metrics != nil {
		_ = w.metrics.Close()
	}
}

// HTTPAddr returns the bound HTTP address (after Ready).
func (g *Gateway) HTTPAddr() string {
	if g.web == nil {
		return g.cfg.HTTPAddr
	}
	return g.web.http.Addr().String()
}

// HTTPSAddr returns the bound HTTPS address (after Ready), or "" when
// there is none.
func (g *Gateway) HTTPSAddr() string {
	if g.web == nil || g.web.https == nil {
		return g.cfg.HTTPSAddr
	}
	return g.web.https.Addr().String()
}

// MetricsAddr returns the bound address of the metrics listener (after
// Ready), or "" when health and metrics are served on the HTTP listener.
func (g *Gateway) MetricsAddr() string {
	if g.web == nil || g.web.metrics == nil {
		return g.cfg.MetricsAddr
	}
	return g.web.metrics.Addr().String()
}
