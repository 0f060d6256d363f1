package sip

import (
	"errors"
	"log/slog"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/callstream/callstream/internal/limit"
)

// callsFullRetryAfter is the Retry-After of a 503 sent because MaxCalls
// calls are up: calls end at their own pace, so a few seconds.
const callsFullRetryAfter = 5 * time.Second

// refusalLogPeriod is the least time between two log lines about one kind
// of refused INVITE.
const refusalLogPeriod = time.Second

// admission is what an INVITE must pass before its call is handed to the
// handler: the source allow list, the source's INVITE rate, digest
// authentication and the bound on calls at once, checked in that order. A
// refused INVITE costs no app fetch and no RTP port.
type admission struct {
	allow    []netip.Prefix             // empty: any source
	rate     *limit.Buckets[netip.Addr] // nil: no rate bound
	perSec   float64                    // the rate, for logs
	auth     *digestAuth                // nil: no authentication
	maxCalls int64                      // <= 0: no bound
	counter  limit.Counter              // borrowed; may be nil
	warn     map[limit.Refusal]*limit.Warner
	now      func() time.Time

	calls atomic.Int64 // calls admitted and not yet released
}

// newAdmission builds the admission of cfg (its Limits already defaulted).
func newAdmission(cfg Config, log *slog.Logger) (*admission, error) {
	a := &admission{counter: cfg.Refusals, now: time.Now, warn: map[limit.Refusal]*limit.Warner{}}
	for _, p := range cfg.Allow {
		if !p.IsValid() {
			return nil, errors.New("sip: allow list holds an invalid network")
		}
		a.allow = append(a.allow, p.Masked())
	}
	l := cfg.Limits
	if limit.On(l.InviteRate) {
		a.rate = limit.NewBuckets[netip.Addr](l.InviteRate, max(l.InviteBurst, 1))
		a.perSec = l.InviteRate
	}
	if limit.On(l.MaxCalls) {
		a.maxCalls = int64(l.MaxCalls)
	}
	if len(cfg.Auth) > 0 {
		auth, err := newDigestAuth(cfg.Realm, cfg.Auth)
		if err != nil {
			return nil, err
		}
		a.auth = auth
	}
	for _, r := range []limit.Refusal{limit.SIPSource, limit.InviteRate, limit.SIPAuth, limit.CallsFull} {
		a.warn[r] = limit.NewWarner(log, slog.LevelWarn, refusalLogPeriod)
	}
	return a, nil
}

// allowed reports whether ip may send INVITEs.
func (a *admission) allowed(ip netip.Addr) bool {
	if len(a.allow) == 0 {
		return true
	}
	for _, p := range a.allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Calls returns the incoming calls admitted and not yet over.
func (s *Server) Calls() int { return int(s.adm.calls.Load()) }

// admit decides whether an initial INVITE may come in, before anything is
// spent on it. A refused INVITE is answered here (403, 401 or 503 with
// Retry-After), its transaction ends at once (no retransmitted refusal for
// a spoofed source, no goroutine waiting for an ACK) and admit returns
// false. An admitted call counts against MaxCalls and, over TCP or TLS,
// keeps its connection from idling out until release is called.
func (s *Server) admit(req *sip.Request, tx sip.ServerTransaction) (release func(), ok bool) {
	a := s.adm
	src := sourceOf(req)
	if !a.allowed(src.Addr()) {
		s.refuse(req, tx, limit.SIPSource, src, sip.StatusForbidden, "Forbidden", nil)
		return nil, false
	}
	now := a.now()
	if !s.rateAllows(req, tx, src, now) {
		return nil, false
	}
	if a.auth != nil && !s.authenticate(req, tx, src, now) {
		return nil, false
	}
	if n := a.calls.Add(1); a.maxCalls > 0 && n > a.maxCalls {
		a.calls.Add(-1)
		s.refuse(req, tx, limit.CallsFull, src, sip.StatusServiceUnavailable, "Service Unavailable",
			[]sip.Header{retryAfter(callsFullRetryAfter)}, "max_calls", a.maxCalls)
		return nil, false
	}
	unpin := s.pin(req)
	var once sync.Once
	return func() {
		once.Do(func() {
			a.calls.Add(-1)
			unpin()
		})
	}, true
}

// rateAllows takes a token of src's INVITE rate, or refuses the INVITE
// with 503 and the seconds until the next token.
func (s *Server) rateAllows(req *sip.Request, tx sip.ServerTransaction, src netip.AddrPort, now time.Time) bool {
	ok, wait := s.adm.rate.Allow(src.Addr(), now)
	if !ok {
		s.refuse(req, tx, limit.InviteRate, src, sip.StatusServiceUnavailable, "Service Unavailable",
			[]sip.Header{retryAfter(wait)}, "per_second", s.adm.perSec)
	}
	return ok
}

// admitStray bounds INVITEs that name a dialog the server does not know
// (a To tag, no call): they are charged to their source's rate like new
// calls, so they cannot be sent faster to get round it.
func (s *Server) admitStray(req *sip.Request, tx sip.ServerTransaction) bool {
	return s.rateAllows(req, tx, sourceOf(req), s.adm.now())
}

// authenticate checks the INVITE's digest credentials. Without any it
// answers 401 with a challenge (not counted: that is how every
// authenticated call starts); with an expired nonce 401 stale=true; with a
// nonce that is not ours or unreadable credentials a fresh 401; with a
// wrong user name or password 403.
func (s *Server) authenticate(req *sip.Request, tx sip.ServerTransaction, src netip.AddrPort, now time.Time) bool {
	auth := s.adm.auth
	var header string
	if h := req.GetHeader("Authorization"); h != nil {
		header = h.Value()
	}
	user, err := auth.verify(string(req.Method), header, src.Addr(), now)
	if err == nil {
		s.log.Debug("INVITE authenticated", "sip_call_id", callIDOf(req), "user", user)
		return true
	}
	challenge := func(stale bool) []sip.Header {
		return []sip.Header{sip.NewHeader("WWW-Authenticate", auth.challenge(src.Addr(), now, stale))}
	}
	switch {
	case errors.Is(err, errNoCredentials):
		s.respond(req, tx, sip.StatusUnauthorized, "Unauthorized", challenge(false)...)
		endTransaction(tx)
	case errors.Is(err, errBadCredentials):
		s.refuse(req, tx, limit.SIPAuth, src, sip.StatusForbidden, "Forbidden", nil, "reason", err.Error())
	case errors.Is(err, errStaleNonce):
		s.refuse(req, tx, limit.SIPAuth, src, sip.StatusUnauthorized, "Unauthorized", challenge(true), "reason", err.Error())
	default:
		s.refuse(req, tx, limit.SIPAuth, src, sip.StatusUnauthorized, "Unauthorized", challenge(false), "reason", err.Error())
	}
	return false
}

// refuse counts and logs an INVITE that a bound refused (at most one line
// a second per bound, with the count of those not logged), answers it and
// ends its transaction.
func (s *Server) refuse(req *sip.Request, tx sip.ServerTransaction, r limit.Refusal, src netip.AddrPort, code int, reason string, hdrs []sip.Header, args ...any) {
	limit.Count(s.adm.counter, r)
	if w := s.adm.warn[r]; w != nil {
		w.Log("INVITE refused", append([]any{"limit", string(r), "source", src.String(), "status", code}, args...)...)
	}
	s.respond(req, tx, code, reason, hdrs...)
	endTransaction(tx)
}

// endTransaction ends a refused INVITE's transaction at once.
func endTransaction(tx sip.ServerTransaction) {
	if tx != nil {
		tx.Terminate()
	}
}

// retryAfter is a Retry-After header of d rounded up to whole seconds.
func retryAfter(d time.Duration) sip.Header {
	return sip.NewHeader("Retry-After", strconv.Itoa(limit.RetryAfterSeconds(d)))
}

// sourceOf returns where a request came from (the zero AddrPort if that
// cannot be read).
func sourceOf(req *sip.Request) netip.AddrPort {
	src, err := netip.ParseAddrPort(req.Source())
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
}
