package scenario

import (
	"errors"
	"fmt"
	"time"

	"github.com/callstream/callstream/internal/call"
)

// ErrNoSession is what Release answers when no session runs the call: it
// has ended, or the call never started one.
var ErrNoSession = errors.New("no scenario session runs this call")

// releaseWait bounds how long Release waits for the session's loop, which
// may be in a script callback.
const releaseWait = 2 * time.Second

// Release makes the session that c started let go of it, and the call
// stays up: what the session linked to the call stops (players, media
// sent to sockets or other calls, its recording), the scenario gets
// CallEvents.Disconnected with reason (and released: true), the session's
// end no longer hangs it up, and Run(ctx, c) returns so that the caller
// can run something else on the call (the REST API redirecting it to a
// FlexML document). The session itself goes on until it terminates.
func (rt *Runtime) Release(c *call.Call, reason string) error {
	s := rt.sessionOf(c)
	if s == nil {
		return ErrNoSession
	}
	done := make(chan error, 1)
	if !s.post(func() { done <- s.releaseOwn(reason) }) {
		return ErrNoSession
	}
	t := time.NewTimer(releaseWait)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-s.ended:
		return ErrNoSession
	case <-t.C:
		return fmt.Errorf("the scenario session did not let go of the call within %s (busy in a callback)", releaseWait)
	}
}

// sessionOf returns the running session that c started.
func (rt *Runtime) sessionOf(c *call.Call) *session {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for _, s := range rt.sessions {
		if s.own == c {
			return s
		}
	}
	return nil
}

// releaseOwn runs on the loop: the session lets go of its own call.
func (s *session) releaseOwn(reason string) error {
	for _, jc := range s.calls {
		if jc.c == s.own && !jc.ended {
			s.log.Info("call released by the session", "reason", reason)
			jc.release(reason)
			close(s.letGo)
			return nil
		}
	}
	return ErrNoSession
}
