package gateway

import (
	"sync"

	"github.com/callstream/callstream/internal/call"
)

// registry holds the gateway's live calls by CallSid. Once closed (the
// gateway drains or stops) it takes no new call; drained is closed when,
// after that, the last call has been released.
type registry struct {
	mu      sync.Mutex
	calls   map[string]*call.Call
	closed  bool
	drained chan struct{} // closed once closed and empty
}

func newRegistry() *registry {
	return &registry{calls: map[string]*call.Call{}, drained: make(chan struct{})}
}

// add registers c; it reports false, registering nothing, once the
// registry is closed.
func (r *registry) add(c *call.Call) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.calls[c.Sid()] = c
	return true
}

// done forgets the call sid once it has been released.
func (r *registry) done(sid string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.calls[sid]; !ok {
		return
	}
	delete(r.calls, sid)
	r.checkDrainedLocked()
}

// close makes the registry refuse new calls and returns the live ones.
func (r *registry) close() []*call.Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	r.checkDrainedLocked()
	return r.listLocked()
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
func (r *registry) get(sid string) *call.Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[sid]
}

// list returns the live calls.
func (r *registry) list() []*call.Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.listLocked()
}

func (r *registry) listLocked() []*call.Call {
	out := make([]*call.Call, 0, len(r.calls))
	for _, c := range r.calls {
		out = append(out, c)
	}
	return out
}

// len returns the number of live calls.
func (r *registry) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}
