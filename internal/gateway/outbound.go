package gateway

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/callstream/callstream/internal/api"
	"github.com/callstream/callstream/internal/call"
	"github.com/callstream/callstream/internal/callstatus"
	"github.com/callstream/callstream/internal/flow"
	"github.com/callstream/callstream/internal/logsafe"
	"github.com/callstream/callstream/internal/sip"
)

// directionAPI is a call placed through the REST API (Twilio's name).
const directionAPI = "outbound-api"

// Place places an outgoing call for the REST API: to a SIP URI, or to a
// number through the PSTN trunk. Once answered it runs the FlexML document
// at nc.URL, with a handle like an incoming call's, or on a scenario
// gateway the scenario, as an incoming call would; unanswered after
// nc.Timeout it is given up. Its status events go to nc.StatusCallback
// (and to the gateway's status callback).
func (b apiBackend) Place(nc api.NewCall) (api.Call, error) {
	g := b.g
	in, flexmlGateway := g.ctrl.(*flow.Interpreter)
	switch {
	case flexmlGateway && nc.URL == "":
		return api.Call{}, &api.FieldError{Field: "url", Message: "required: the FlexML document to run once answered"}
	case !flexmlGateway && nc.URL != "":
		return api.Call{}, &api.FieldError{Field: "url", Message: "this gateway runs a scenario: leave url out, and the answered call runs the scenario as an incoming call does"}
	}
	if g.Draining() {
		return api.Call{}, api.Conflict("the gateway is draining: place the call through another node")
	}
	dc := sip.DialConfig{Target: nc.To, From: nc.From}
	if !strings.HasPrefix(nc.To, "sip:") {
		if g.cfg.PSTNTrunk == "" {
			return api.Call{}, &api.FieldError{Field: "to", Message: "a number needs --pstn-trunk, which this gateway lacks: give a SIP URI"}
		}
		dc.Target = "sip:" + nc.To + "@" + g.cfg.PSTNTrunk
	}
	if dc.From == "" {
		dc.From = g.cfg.CallerID
	}
	if dc.From == "" {
		dc.From = "callstream"
	}
	sid := g.newCallSid()
	log := g.log.With("call_sid", sid)
	status := g.status.Load().Call(sid) // nil without status callbacks
	if nc.StatusCallback != "" {
		if status == nil {
			return api.Call{}, &api.FieldError{Field: "status_callback", Message: "status callbacks are off on this gateway"}
		}
		if _, err := status.Target(nc.StatusCallback, http.MethodPost); err != nil {
			return api.Call{}, &api.FieldError{Field: "status_callback", Message: err.Error()}
		}
	}
	lim := g.cfg.Limits.WithDefaults() // call bounds
	cfg := call.Config{Sid: sid, Ports: g.ports, RTPIP: g.rtpIP, Clock: g.clock, RTPTimeout: g.cfg.RTPTimeout, Logger: log,
		MaxCallDuration: lim.MaxCallDuration, HoldTimeout: lim.HoldTimeout, Refusals: g.metrics,
		JitterDelay: g.cfg.JitterBuffer, QuietRTP: g.cfg.QuietRTP, OnAnswer: status.Answered}
	c := call.Dial(cfg, g.sip, dc)
	lc := &liveCall{call: c, started: time.Now(), direction: directionAPI}
	// What runs the call once answered: its FlexML document (with a handle
	// like an incoming call's), or the gateway's scenario, to which the
	// answered call comes as an incoming one (AppEvents.CallAlerting; its
	// call.answer() finds it answered and reports it Connected).
	run, end := func(ctx context.Context) error { return g.runScenario(ctx, lc) }, "end of scenario"
	if flexmlGateway {
		h := in.PrepareAt(c, nc.URL, nc.Method)
		lc.handle.Store(h)
		run, end = h.Run, "end of document"
	}
	if !g.calls.add(lc) {
		c.Hangup("gateway shutting down")
		_ = c.Close()
		return api.Call{}, api.Conflict("the gateway is draining: place the call through another node")
	}
	log.Info("outgoing call", "to", logsafe.URL(dc.Target), "from", dc.From, "by", "api", "timeout", nc.Timeout.String())
	g.metrics.callStarted(c)
	if status != nil {
		g.statusCalls.Store(sid, status)
		status.Begin(flow.CallFields(c, g.cfg.AccountSid, g.cfg.AppDialect))
	}
	go g.runPlaced(lc, run, end, nc.Timeout)
	return b.view(lc), nil
}

// runPlaced rings a placed call for up to timeout, runs it (its document
// or the scenario) once it is answered, hangs it up with reason end when
// that run returns, and releases it when it has ended.
func (g *Gateway) runPlaced(lc *liveCall, run func(context.Context) error, end string, timeout time.Duration) {
	c := lc.call
	log := c.Logger()
	defer func() {
		<-c.Done()
		g.release(c, log, false)
		if v, ok := g.statusCalls.LoadAndDelete(c.Sid()); ok {
			v.(*callstatus.Call).End(finalStatus(c.Stats()))
		}
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-c.Connected():
	case <-c.Done():
		log.Info("outgoing call not answered", "reason", c.EndReason(), "err", fmt.Sprint(c.DialErr()))
		return
	case <-t.C:
		c.Hangup("no answer")
		return
	}
	// The run ends with the call (or its document, or its session).
	if err := run(context.Background()); err != nil {
		log.Error("call controller failed", "err", err)
	}
	c.Hangup(end)
}
