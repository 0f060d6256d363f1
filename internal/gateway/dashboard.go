package gateway

import (
	"math"
	"net/http"
	"time"

	"github.com/callstream/callstream/internal/dashboard"
	"github.com/callstream/callstream/internal/limit"
)

// dashboardSource is the dashboard's view of the gateway: the registry's
// live calls (as the API describes them) and its latest ended ones.
type dashboardSource struct{ g *Gateway }

// dashboardRoutes mounts the live dashboard on r (it checks the API
// tokens and its own sessions itself) and ends its feeds when srv shuts
// down, so that a drain does not wait on an open browser.
func (g *Gateway) dashboardRoutes(r *Router, auth *tokenAuth, srv *http.Server) {
	valid := auth.valid
	if !auth.on() {
		valid = nil
	}
	d := dashboard.New(dashboard.Config{
		Source:     dashboardSource{g},
		ValidToken: valid,
		Refused: func(req *http.Request, reason string) {
			limit.Count(auth.counter, limit.APIToken)
			// The line names the request, never a token, cookie or query.
			auth.warn.Log("dashboard request refused", "reason", reason, "method", req.Method, "path", req.URL.Path, "remote", req.RemoteAddr)
		},
		Log: g.log,
	})
	d.Register(r.HandleOpen)
	srv.RegisterOnShutdown(d.Close)
}

// frameMs is the media frame's length.
const frameMs = 20

// addedLatencyMs is a stream's added latency: the latest sampled time a
// frame spent in the gateway before its write to the app ended, or, when
// the queue holds more now (a slow or absent app: no write ends, so no
// sample comes), the time the oldest frame queued has waited, as 20 ms
// per frame queued behind it.
func addedLatencyMs(sampled time.Duration, queued int) float64 {
	ms := float64(sampled.Microseconds()) / 1000
	return math.Round(max(ms, float64(max(queued-1, 0)*frameMs))*10) / 10
}

// Snapshot returns the live calls and the latest ended ones.
func (s dashboardSource) Snapshot() dashboard.Snapshot {
	b := apiBackend{s.g}
	live := s.g.calls.list()
	out := dashboard.Snapshot{Node: s.g.cfg.NodeID, Time: time.Now().UTC(), Calls: make([]dashboard.Call, 0, len(live))}
	for _, lc := range live {
		v := b.view(lc)
		c := dashboard.Call{Sid: v.Sid, From: v.From, FromName: lc.call.Parties().FromDisplay, To: v.To, Direction: v.Direction,
			State: v.State, Codec: v.Codec, Controller: v.Controller, Duration: v.Duration, Streams: []dashboard.Stream{}}
		if h := lc.handle.Load(); h != nil {
			for _, st := range h.Streams() {
				c.Streams = append(c.Streams, dashboard.Stream{Name: st.Name, Dialect: st.Dialect, URLHost: st.Host, Tracks: st.Tracks,
					FramesSent: st.FramesSent, QueueDepth: st.QueueDepth, LatencyMs: addedLatencyMs(st.Latency, st.QueueDepth)})
			}
		}
		in, outb := lc.call.Levels()
		c.Levels = []dashboard.Level{
			{Track: "inbound", Samples: in.Samples, SumSquares: in.SumSquares},
			{Track: "outbound", Samples: outb.Samples, SumSquares: outb.SumSquares},
		}
		out.Calls = append(out.Calls, c)
	}
	for _, e := range s.g.calls.recent() {
		out.Ends = append(out.Ends, dashboard.End{Sid: e.sid, From: e.from, To: e.to, Reason: e.reason, EndedAt: e.ended.UTC(),
			Duration: e.ended.Sub(e.started).Round(time.Millisecond).Seconds()})
	}
	return out
}
