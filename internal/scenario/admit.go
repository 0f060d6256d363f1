package scenario

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/callstream/callstream/internal/limit"
)

// The bounds of the runtime's HTTP endpoints besides Bounds.
const (
	// accessRate and accessBurst bound the requests one session's access
	// URL takes a second: each one is an event queued for the script.
	accessRate  = 20
	accessBurst = 40
)

// admitStart applies Bounds.SessionRate to a POST /scenarios: over it the
// request gets 429 with Retry-After, counted and logged. It reports
// whether the request may go on.
func (rt *Runtime) admitStart(w http.ResponseWriter, r *http.Request) bool {
	ok, wait := rt.startRate.Allow(struct{}{}, time.Now())
	if ok {
		return true
	}
	rt.count(limit.SessionRate)
	rt.warn.Log("POST /scenarios refused: too many sessions started", "session_rate", rt.bounds.SessionRate, "remote", r.RemoteAddr)
	w.Header().Set("Retry-After", strconv.Itoa(limit.RetryAfterSeconds(wait)))
	writeJSON(w, http.StatusTooManyRequests, map[string]any{
		"error": fmt.Sprintf("too many sessions started: at most %g a second", rt.bounds.SessionRate),
		"limit": string(limit.SessionRate),
	})
	return false
}

// refuseStart answers a POST /scenarios whose session did not start: 503,
// with Retry-After when the sessions are full (counted by start).
func refuseStart(w http.ResponseWriter, err error) {
	body := map[string]any{"error": err.Error()}
	if errors.Is(err, ErrTooManySessions) {
		w.Header().Set("Retry-After", strconv.Itoa(limit.RetryAfterSeconds(sessionsRetryAfter)))
		body["limit"] = string(limit.Sessions)
	}
	writeJSON(w, http.StatusServiceUnavailable, body)
}

// admitAccess bounds the requests to the session's access URL to
// accessRate a second: over it 429 with Retry-After, logged without the
// URL (its path is the session's secret). It reports whether the request
// may go on.
func (s *session) admitAccess(w http.ResponseWriter, r *http.Request) bool {
	ok, wait := s.access.Allow(struct{}{}, time.Now())
	if ok {
		return true
	}
	s.rt.count(limit.AccessRate)
	s.rt.warn.Log("access URL request refused: too many requests", "session_id", s.id, "rate", accessRate, "remote", r.RemoteAddr)
	w.Header().Set("Retry-After", strconv.Itoa(limit.RetryAfterSeconds(wait)))
	writeJSON(w, http.StatusTooManyRequests, map[string]any{
		"error": fmt.Sprintf("too many requests to this session: at most %d a second", accessRate),
	})
	return false
}
