package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/callstream/callstream/internal/call"
	"github.com/callstream/callstream/internal/limit"
)

// DefaultDrainTimeout is how long Shutdown lets live calls run by default.
const DefaultDrainTimeout = 30 * time.Second

// Bounds of ending calls when the gateway stops.
const (
	// releaseWait bounds how long Run waits, after ending every call, for
	// the calls to release their media and sockets (a BYE waits up to 5 s
	// for its answer, a stream up to 3 s for its app's close).
	releaseWait = 15 * time.Second
	// stopWait bounds the SIP and HTTP servers' own shutdown after that.
	stopWait = 5 * time.Second
	// hangupsAtOnce bounds the calls ended in parallel, so that thousands
	// of BYEs waiting for answers neither run one after another nor all at
	// once.
	hangupsAtOnce = 32
)

// ErrClosed is returned by Run once Shutdown has been called.
var ErrClosed = errors.New("gateway: closed")

// shutdownReason is the generic reason phrase of the 503 an unanswered
// call gets when the gateway stops; it tells the caller nothing more.
const shutdownReason = "Service Unavailable"

// Draining reports whether the gateway has stopped taking new work
// (Shutdown was called, or Run is stopping).
func (g *Gateway) Draining() bool { return g.draining.Load() }

// Shutdown stops the gateway gracefully, like http.Server.Shutdown: it
// stops taking new work at once — new INVITEs and OPTIONS get 503 with
// Retry-After, GET /healthz answers 503 "draining", POST /scenarios is
// refused and outgoing calls fail — while the live calls go on until they
// end, ctx ends or Config.DrainTimeout passes. Then every call left is
// ended cleanly (streams get stop and close 1000, answered calls a BYE,
// unanswered ones 503), Run returns and so does Shutdown: nil after a drain
// (even one the drain timeout cut), ctx.Err() when ctx cut it. Shutdown
// waits for Run's teardown, which is bounded. After Shutdown, Run returns
// ErrClosed.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	g.closed = true
	stopRun, runDone := g.stopRun, g.runDone
	g.mu.Unlock()
	timeout := g.drainTimeout()
	if !g.draining.Swap(true) {
		g.log.Info("draining", "calls", g.calls.len(), "drain_timeout", timeout)
	}
	g.calls.close()
	g.sip.Drain(timeout, g.metrics)
	if runDone == nil {
		return nil // not running
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	var err error
	select {
	case <-g.calls.drainedC():
		g.log.Info("drained: every call has ended")
	case <-runDone:
	case <-t.C:
		g.log.Warn("drain timeout: ending the calls left", "calls", g.calls.len(), "drain_timeout", timeout)
	case <-ctx.Done():
		err = ctx.Err()
		g.log.Warn("drain cut short: ending the calls left", "calls", g.calls.len(), "err", err)
	}
	stopRun()
	<-runDone
	return err
}

// drainTimeout returns Config.DrainTimeout or its default.
func (g *Gateway) drainTimeout() time.Duration {
	if g.cfg.DrainTimeout > 0 {
		return g.cfg.DrainTimeout
	}
	return DefaultDrainTimeout
}

// retryAfterSeconds is the Retry-After of refusals while draining: by then
// this node has drained.
func (g *Gateway) retryAfterSeconds() string {
	d := g.drainTimeout()
	return strconv.Itoa(max(1, int((d+time.Second-1)/time.Second)))
}

// endCalls stops taking calls, ends every live call and waits, bounded by
// releaseWait, until they have released their media and sockets.
func (g *Gateway) endCalls() {
	g.draining.Store(true)
	g.sip.Drain(g.drainTimeout(), g.metrics)
	calls := g.calls.close()
	if len(calls) > 0 {
		g.log.Info("ending calls", "calls", len(calls))
	}
	deadline := time.NewTimer(releaseWait)
	defer deadline.Stop()
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		var wg sync.WaitGroup
		slots := make(chan struct{}, hangupsAtOnce)
		for _, c := range calls {
			slots <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				endForShutdown(c)
			}()
		}
		wg.Wait()
	}()
	select {
	case <-g.calls.drainedC():
	case <-deadline.C:
		g.log.Error("shutdown: calls not released in time", "calls", g.calls.len(), "waited", releaseWait)
		return
	}
	// Every call is released; the hangups are done or finish at once.
	select {
	case <-ended:
	case <-deadline.C:
	}
}

// endForShutdown ends one call as the gateway stops: an unanswered incoming
// call gets 503, so the caller (or the proxy in front) may try another node,
// rather than Hangup's 480; anything else is hung up (BYE, or the dial
// cancelled).
func endForShutdown(c *call.Call) {
	if c.Invite() != nil && !c.Answered() {
		if err := c.Reject(503, shutdownReason); err == nil {
			return
		}
	}
	c.Hangup("gateway shutting down")
}

// scenarioStartPath is where POST starts a scenario session without a call.
const scenarioStartPath = "/scenarios"

// refuseWhileDraining answers what would start new work — POST /scenarios —
// with 503 and Retry-After while the gateway drains, counting it; live
// sessions' access URLs, /healthz and /metrics are served as before.
func (g *Gateway) refuseWhileDraining(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == scenarioStartPath && g.Draining() {
			limit.Count(g.metrics, limit.Draining)
			w.Header().Set("Retry-After", g.retryAfterSeconds())
			http.Error(w, "draining: no new sessions", http.StatusServiceUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
}
