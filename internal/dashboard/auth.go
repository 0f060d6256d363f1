package dashboard

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"time"
)

// CookieName is the cookie of a dashboard session.
const CookieName = "callstream_dashboard"

// sessionIDBytes is the randomness of a session id.
const sessionIDBytes = 32

// sessions are the dashboard's browser sessions: the SHA-256 digests of
// their ids (a leaked table opens nothing) and when each expires, at most
// max of them; a login beyond max evicts the oldest.
type sessions struct {
	mu    sync.Mutex
	max   int
	ttl   time.Duration
	now   func() time.Time
	byID  map[[sha256.Size]byte]time.Time // digest -> expiry
	order [][sha256.Size]byte             // digests, oldest login first
}

func newSessions(max int, ttl time.Duration) *sessions {
	return &sessions{max: max, ttl: ttl, now: time.Now, byID: map[[sha256.Size]byte]time.Time{}}
}

// open starts a session and returns its id.
func (s *sessions) open() (string, error) {
	var b [sessionIDBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	id := hex.EncodeToString(b[:])
	d := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked()
	for len(s.order) >= s.max {
		delete(s.byID, s.order[0])
		s.order = s.order[1:]
	}
	s.byID[d] = s.now().Add(s.ttl)
	s.order = append(s.order, d)
	return id, nil
}

// valid reports whether id is a live session.
func (s *sessions) valid(id string) bool {
	if len(id) != 2*sessionIDBytes {
		return false
	}
	d := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.byID[d]
	return ok && s.now().Before(exp)
}

// len returns the sessions held (expired ones included until the next
// login sweeps them).
func (s *sessions) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}

// expireLocked forgets the expired sessions; logins come in order, so
// they are at the front.
func (s *sessions) expireLocked() {
	now := s.now()
	for len(s.order) > 0 && !now.Before(s.byID[s.order[0]]) {
		delete(s.byID, s.order[0])
		s.order = s.order[1:]
	}
}

// Why a request is refused.
const (
	reasonNoAuth     = "no token and no dashboard session"
	reasonBadToken   = "the API token is not valid"
	reasonBadSession = "the dashboard session is unknown or expired"
)

// authorize reports whether r carries a valid bearer token or session
// cookie, and if not, why.
func (d *Dashboard) authorize(r *http.Request) (bool, string) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, token, _ := strings.Cut(strings.TrimSpace(h), " ")
		token = strings.TrimSpace(token)
		if strings.EqualFold(scheme, "Bearer") && token != "" && d.cfg.ValidToken(token) {
			return true, ""
		}
		return false, reasonBadToken
	}
	if c, err := r.Cookie(CookieName); err == nil {
		if d.sessions.valid(c.Value) {
			return true, ""
		}
		return false, reasonBadSession
	}
	return false, reasonNoAuth
}

// refuse tells Config.Refused.
func (d *Dashboard) refuse(r *http.Request, reason string) {
	if d.cfg.Refused != nil {
		d.cfg.Refused(r, reason)
	}
}

// offMessage answers the dashboard's routes while no API token is set.
const offMessage = "the dashboard is off: start callstream with --api-token or --api-token-file to turn it on"

// login checks the token of GET /?token=…: a valid one opens a session
// (its cookie) and redirects to / (303), so the token leaves the address
// bar and the history; a wrong one answers the login form (401).
func (d *Dashboard) login(w http.ResponseWriter, r *http.Request, token string) {
	if !d.cfg.ValidToken(token) {
		d.refuse(r, reasonBadToken)
		writeLogin(w, "That token is not valid.")
		return
	}
	id, err := d.sessions.open()
	if err != nil {
		d.cfg.Log.Error("dashboard: session not opened", "err", err)
		http.Error(w, "no session: "+err.Error(), http.StatusInternalServerError)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     CookieName,
		Value:    id,
		Path:     "/",
		MaxAge:   int(d.cfg.SessionTTL / time.Second),
		HttpOnly: true,
		Secure:   r.TLS != nil,
		SameSite: http.SameSiteStrictMode,
	})
	d.cfg.Log.Info("dashboard: session opened", "remote", r.RemoteAddr, "sessions", d.sessions.len())
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	http.Redirect(w, r, PagePath, http.StatusSeeOther)
}
