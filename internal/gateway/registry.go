package gateway

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/callstream/callstream/internal/call"
	"github.com/callstream/callstream/internal/flow"
)

// Directions of a live call, as Twilio names them.
const (
	directionInbound = "inbound"
	directionDial    = "outbound-dial" // a leg the gateway placed (a <Dial>, a scenario's call)
)

// recentEnds is how many ended CallSids the registry remembers, so that a
// request for a call that has just ended is told so (409) rather than
// "unknown" (404).
const recentEnds = 1024

// recentShown is how many of the latest ended calls the registry keeps
// in full for the dashboard.
const recentShown = 20

// endedCall is a call that has ended, as the dashboard lists it.
type endedCall struct {
	sid, from, to, reason string
	started, ended        time.Time
}

// liveCall is one live call as the registry holds it: the call, when and
// how it started, and its controller's handle (nil until the controller
// has one, and for controllers without any).
type liveCall struct {
	call      *call.Call
	started   time.Time
	direction string
	handle    atomic.Pointer[flow.Handle]
	handoff   handoff // a scenario's call passing to FlexML (REST API redirect)
}

// registry holds the gateway's live calls by CallSid, and the CallSids of
// the latest calls that ended. Once closed (the gateway drains or stops)
// it takes no new call; drained is closed when, after that, the last call
// has been released.
type registry struct {
	mu      sync.Mutex
	calls   map[string]*liveCall
	ended   map[string]string // CallSid -> end reason, of the latest recentEnds calls
	order   []string          // the keys of ended, oldest first (a ring)
	shown   []endedCall       // the latest recentShown ended calls, latest first
	next    int               // where the next ended sid goes in order
	closed  bool
	drained chan struct{} // closed once closed and empty
}

func newRegistry() *registry {
	return &registry{calls: map[string]*liveCall{}, ended: map[string]string{}, drained: make(chan struct{})}
}

// add registers lc; it reports false, registering nothing, once the
// registry is closed.
func (r *registry) add(lc *liveCall) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.calls[lc.call.Sid()] = lc
	return true
}

// done forgets the call sid once it has been released, remembering that
// it ended and why.
func (r *registry) done(sid, reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	lc, ok := r.calls[sid]
	if !ok {
		return
	}
	delete(r.calls, sid)
	p := lc.call.Parties()
	if len(r.shown) < recentShown {
		r.shown = append(r.shown, endedCall{})
	}
	copy(r.shown[1:], r.shown)
	r.shown[0] = endedCall{sid: sid, from: p.From, to: p.To, reason: reason, started: lc.started, ended: time.Now()}
	if len(r.order) < recentEnds {
		r.order = append(r.order, sid)
	} else {
		delete(r.ended, r.order[r.next])
		r.order[r.next] = sid
		r.next = (r.next + 1) % recentEnds
	}
	r.ended[sid] = reason
	r.checkDrainedLocked()
}

// endedReason reports whether sid is one of the latest calls that ended,
// and why it ended.
func (r *registry) endedReason(sid string) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	reason, ok := r.ended[sid]
	return reason, ok
}

// recent returns the latest ended calls, latest first.
func (r *registry) recent() []endedCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]endedCall(nil), r.shown...)
}

// close makes the registry refuse new calls and returns the live ones.
func (r *registry) close() []*call.Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	r.checkDrainedLocked()
	out := make([]*call.Call, 0, len(r.calls))
	for _, lc := range r.calls {
		out = append(out, lc.call)
	}
	return out
}

func (r *registry) checkDrainedLocked() {
	if !r.closed || len(r.calls) > 0 {
		return
	}
	select {
	case <-r.drained:
	default:
		close(r.drained)
	}
}

// drainedC is closed when the registry is closed and every call in it has
// been released.
func (r *registry) drainedC() <-chan struct{} { return r.drained }

// get returns the live call sid, or nil.
func (r *registry) get(sid string) *liveCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[sid]
}

// list returns the live calls.
func (r *registry) list() []*liveCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*liveCall, 0, len(r.calls))
	for _, lc := range r.calls {
		out = append(out, lc)
	}
	return out
}

// len returns the number of live calls.
func (r *registry) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}
