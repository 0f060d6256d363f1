package gateway

import (
	"errors"
	"fmt"
	"time"

	"github.com/callstream/callstream/flexml"
	"github.com/callstream/callstream/internal/api"
	"github.com/callstream/callstream/internal/flow"
)

// apiBackend is the REST API's view of the gateway's live calls (package
// api), all of it read from and acted on through the registry.
type apiBackend struct{ g *Gateway }

// apiRoutes mounts the REST API on r: its routes behind the tokens, its
// OpenAPI document and the node's id open. Requests for other nodes'
// calls go to them (package cluster).
func (g *Gateway) apiRoutes(r *Router) {
	var fleet api.Fleet
	if g.fleet != nil {
		fleet = g.fleet
	}
	api.New(apiBackend{g}, g.log).UseFleet(g.cfg.NodeID, fleet).Register(r.Handle, r.HandleOpen)
}

// Calls returns the live calls.
func (b apiBackend) Calls() []api.Call {
	live := b.g.calls.list()
	out := make([]api.Call, 0, len(live))
	for _, lc := range live {
		out = append(out, b.view(lc))
	}
	return out
}

// Call returns one live call.
func (b apiBackend) Call(sid string) (api.Call, error) {
	lc, err := b.live(sid)
	if err != nil {
		return api.Call{}, err
	}
	return b.view(lc), nil
}

// live finds a live call: 404 for a sid never seen (or long gone), 409
// for one that has just ended.
func (b apiBackend) live(sid string) (*liveCall, error) {
	if lc := b.g.calls.get(sid); lc != nil {
		select {
		case <-lc.call.Done():
		default:
			return lc, nil
		}
		return nil, api.Conflict("the call has ended")
	}
	if reason, ok := b.g.calls.endedReason(sid); ok {
		return nil, api.Conflict(fmt.Sprintf("the call has ended (%s)", reason))
	}
	return nil, api.NotFound("no live call has this sid")
}

// view describes lc for the API.
func (b apiBackend) view(lc *liveCall) api.Call {
	c := lc.call
	p := c.Parties()
	st := c.Stats()
	n := c.Counters()
	v := api.Call{
		Sid:        c.Sid(),
		Node:       b.g.cfg.NodeID,
		State:      "ringing",
		From:       p.From,
		To:         p.To,
		Direction:  lc.direction,
		Codec:      st.Codec,
		StartTime:  lc.started.UTC(),
		Duration:   time.Since(lc.started).Round(time.Millisecond).Seconds(),
		Controller: "scenario",
		Streams:    []api.Stream{},
		Media: api.Media{FramesIn: n.FramesIn, FramesOut: n.FramesOut, Lost: n.RTPLost, Late: n.RTPLate,
			JitterMs: float64(st.Jitter.Jitter.Microseconds()) / 1000},
	}
	if c.Answered() {
		v.State = "in-progress"
	}
	if h := lc.handle.Load(); h != nil {
		v.Controller = "flexml"
		for _, s := range h.Streams() {
			v.Streams = append(v.Streams, api.Stream{Sid: s.Sid, Name: s.Name, URLHost: s.Host, Tracks: s.Tracks,
				Dialect: s.Dialect, Bidirectional: s.Bidirectional, FramesSent: s.FramesSent, QueueDepth: s.QueueDepth})
		}
	} else if _, ok := b.g.ctrl.(*flow.Interpreter); ok {
		v.Controller = "flexml"
	}
	return v
}

// errScenario refuses what only a FlexML call can do.
var errScenario = api.Conflict("the call runs a scenario: redirect it to a FlexML document (url, flexml or twiml) first to add API streams, or end it (status completed)")

// handle returns the FlexML handle of a live call.
func (b apiBackend) handle(sid string) (*flow.Handle, error) {
	lc, err := b.live(sid)
	if err != nil {
		return nil, err
	}
	h := lc.handle.Load()
	if h == nil {
		if lc.direction == directionDial {
			// A leg a <Dial> or a scenario placed is driven by what placed it.
			if _, ok := b.g.ctrl.(*flow.Interpreter); ok {
				return nil, api.Conflict("the call is a leg of a <Dial>: redirect the call that placed it")
			}
			return nil, api.Conflict("the call is a leg a scenario placed: redirect the call whose session placed it")
		}
		if _, ok := b.g.ctrl.(*flow.Interpreter); ok {
			return nil, api.Conflict("the call's document is not running (it has ended or not begun)")
		}
		return nil, errScenario
	}
	return h, nil
}

// handleErr maps a Handle's errors to the API's.
func handleErr(err error) error {
	var refused *flow.StreamRefusedError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flow.ErrNotRunning):
		return api.Conflict("the call's document is not running (it has ended or not begun)")
	case errors.Is(err, flow.ErrNoStream):
		return api.NotFound("no live stream of this call has this name")
	case errors.As(err, &refused):
		return api.Conflict(refused.Error())
	}
	return &api.FieldError{Message: err.Error()}
}

// Redirect runs the document at url on the call; a call a scenario runs
// passes from the scenario to that document.
func (b apiBackend) Redirect(sid, url, method string) error {
	if lc, ok := b.scenarioCall(sid); ok {
		h := b.g.flexml.PrepareAt(lc.call, url, method)
		if err := h.Redirect(url, method); err != nil && !errors.Is(err, flow.ErrNotRunning) {
			return &api.FieldError{Field: "url", Message: err.Error()} // checked as a running call's redirect is
		}
		return b.g.handOver(lc, h)
	}
	h, err := b.handle(sid)
	if err != nil {
		return err
	}
	return handleErr(h.Redirect(url, method))
}

// RunDocument runs doc on the call; a call a scenario runs passes from the
// scenario to doc.
func (b apiBackend) RunDocument(sid string, doc *flexml.Document) error {
	if lc, ok := b.scenarioCall(sid); ok {
		return b.g.handOver(lc, b.g.flexml.PrepareDocument(lc.call, doc))
	}
	h, err := b.handle(sid)
	if err != nil {
		return err
	}
	return handleErr(h.RunDocument(doc))
}

// scenarioCall returns the live call sid when the gateway's scenario runs
// it (it has not been handed to FlexML) and FlexML can take it over.
func (b apiBackend) scenarioCall(sid string) (*liveCall, bool) {
	if _, flexmlGateway := b.g.ctrl.(*flow.Interpreter); flexmlGateway || b.g.flexml == nil {
		return nil, false
	}
	lc, err := b.live(sid)
	if err != nil || lc.handle.Load() != nil || lc.direction == directionDial {
		return nil, false
	}
	return lc, true
}

// End hangs the call up (completed) or refuses it while it rings.
func (b apiBackend) End(sid, status string) error {
	lc, err := b.live(sid)
	if err != nil {
		return err
	}
	c := lc.call
	if c.Answered() {
		if status == "canceled" {
			return api.Conflict("the call is in progress: end it with status completed")
		}
		c.Hangup("api: status completed")
		return nil
	}
	if lc.direction == directionDial {
		c.Hangup("api: status " + status)
		return nil
	}
	// A ringing incoming call: refused as a busy callee would.
	if err := c.Reject(486, "Busy Here"); err != nil {
		return api.Conflict(fmt.Sprintf("the call could not be refused: %v", err))
	}
	return nil
}

// StartStream starts a unidirectional stream on the call.
func (b apiBackend) StartStream(sid string, s api.StreamRequest) (api.Stream, error) {
	h, err := b.handle(sid)
	if err != nil {
		return api.Stream{}, err
	}
	st, err := h.StartStream(flow.StreamSpec{URL: s.URL, Name: s.Name, Track: flexml.Track(s.Track), StatusCallback: s.StatusCallback})
	if err != nil {
		return api.Stream{}, handleErr(err)
	}
	return api.Stream{Sid: st.Sid, Name: st.Name, URLHost: st.Host, Tracks: st.Tracks, Dialect: st.Dialect}, nil
}

// StopStream stops the call's stream called name.
func (b apiBackend) StopStream(sid, name string) error {
	h, err := b.handle(sid)
	if err != nil {
		return err
	}
	return handleErr(h.StopStream(name))
}
