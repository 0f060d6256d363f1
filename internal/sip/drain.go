package sip

import (
	"log/slog"
	"strconv"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/callstream/callstream/internal/limit"
)

// defaultRetryAfter is the Retry-After of the 503s a stopping server sends
// when Drain gave none.
const defaultRetryAfter = 30 * time.Second

// Drain makes the server refuse new work while the calls it has go on: from
// now on an INVITE that starts a call and an OPTIONS probe are answered 503
// Service Unavailable with Retry-After (retryAfter rounded up to whole
// seconds, at least 1), so load balancers and dispatchers move traffic to
// other nodes. Every refused INVITE is counted on refused as
// limit.Draining (refused may be nil). Requests within a dialog (ACK, BYE,
// re-INVITE, CANCEL) are served as before; the calls end on their own or
// when ListenAndServe's context ends. Drain may be called before or while
// the server listens, and again to change retryAfter.
func (s *Server) Drain(retryAfter time.Duration, refused limit.Counter) {
	s.mu.Lock()
	was := s.draining
	s.draining = true
	s.retryAfter = retryAfter
	s.refused = refused
	s.mu.Unlock()
	if !was {
		s.log.Info("sip server draining: new calls get 503")
	}
}

// Draining reports whether the server refuses new calls (Drain was called
// or shutdown started).
func (s *Server) Draining() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.draining
}

// refuseDraining answers req with 503 and Retry-After when the server is
// draining, counting a refused INVITE, and reports whether it did.
func (s *Server) refuseDraining(req *sip.Request, tx sip.ServerTransaction, log *slog.Logger) bool {
	s.mu.Lock()
	draining, retry, refused := s.draining, s.retryAfter, s.refused
	s.mu.Unlock()
	if !draining {
		return false
	}
	if retry <= 0 {
		retry = defaultRetryAfter
	}
	secs := max(1, int((retry+time.Second-1)/time.Second))
	if req.IsInvite() {
		limit.Count(refused, limit.Draining)
		s.drainWarn.Log("rejecting INVITE: draining", "sip_call_id", callIDOf(req), "status", sip.StatusServiceUnavailable)
	} else {
		log.Debug("refusing request: draining", "method", req.Method.String(), "status", sip.StatusServiceUnavailable)
	}
	s.respond(req, tx, sip.StatusServiceUnavailable, "Service Unavailable", sip.NewHeader("Retry-After", strconv.Itoa(secs)))
	return true
}
