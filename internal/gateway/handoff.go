package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/callstream/callstream/internal/api"
	"github.com/callstream/callstream/internal/call"
	"github.com/callstream/callstream/internal/flow"
	"github.com/callstream/callstream/internal/scenario"
)

// callReleaser is a controller that can let go of a call it runs and
// leave it up (the scenario runtime): its Run for the call then returns.
type callReleaser interface {
	Release(c *call.Call, reason string) error
}

// handoff is how a call a scenario runs passes to FlexML when the REST API
// redirects it: the API leaves the FlexML run waiting here and asks the
// scenario to let go; the goroutine that ran the scenario takes the run
// when the scenario's Run returns and runs it in its place.
type handoff struct {
	mu      sync.Mutex
	waiting *flow.Handle // the run to take over (nil: none)
	closed  bool         // the scenario's Run has returned: nothing more is taken
}

// runScenario runs the gateway's scenario on lc's call and then, if the
// API handed the call to FlexML meanwhile, that document run.
func (g *Gateway) runScenario(ctx context.Context, lc *liveCall) error {
	err := g.ctrl.Run(ctx, lc.call)
	lc.handoff.mu.Lock()
	h := lc.handoff.waiting
	lc.handoff.waiting, lc.handoff.closed = nil, true
	lc.handoff.mu.Unlock()
	if h == nil {
		return err
	}
	if err != nil {
		lc.call.Logger().Warn("scenario ended with an error before the call went to FlexML", "err", err)
	}
	lc.call.Logger().Info("call handed from the scenario to FlexML")
	lc.handle.Store(h)
	return h.Run(ctx)
}

// handOver hands lc's call, which a scenario runs, to the FlexML run h:
// the scenario lets go of the call (it gets Disconnected, released), and
// h runs in its place. A second hand-over before the first is taken
// replaces it.
func (g *Gateway) handOver(lc *liveCall, h *flow.Handle) error {
	rel, ok := g.ctrl.(callReleaser)
	if !ok || g.flexml == nil {
		return errScenario
	}
	lc.handoff.mu.Lock()
	if lc.handoff.closed {
		lc.handoff.mu.Unlock()
		return api.Conflict("the call's scenario has let go of it or ended: try again, or end the call")
	}
	first := lc.handoff.waiting == nil
	lc.handoff.waiting = h
	lc.handoff.mu.Unlock()
	if !first {
		return nil // the scenario is already letting go
	}
	err := rel.Release(lc.call, "redirected")
	if err == nil {
		return nil
	}
	lc.handoff.mu.Lock()
	taken := lc.handoff.waiting != h
	if !taken {
		lc.handoff.waiting = nil
	}
	lc.handoff.mu.Unlock()
	if taken {
		return nil // the scenario's run ended meanwhile and took it
	}
	if errors.Is(err, scenario.ErrNoSession) {
		return api.Conflict("the call's scenario session has ended")
	}
	return api.Conflict(fmt.Sprintf("the scenario did not let go of the call: %v", err))
}
