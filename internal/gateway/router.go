package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/callstream/callstream/internal/limit"
)

// minTokenLen is the shortest API token accepted without a warning.
const minTokenLen = 16

// apiOffMessage is the error an endpoint of the HTTP API answers with
// (403) while no API token is configured.
const apiOffMessage = "the HTTP API is off: start callstream with --api-token or --api-token-file to turn it on"

// Router routes the requests of one HTTP listener. An endpoint registered
// with Handle belongs to the HTTP API: it answers only requests carrying
// "Authorization: Bearer <token>" with one of the gateway's API tokens
// (401 otherwise), and while no token is configured it is off (403 with a
// JSON body saying how to turn it on). HandleOpen registers an endpoint
// anyone who reaches the listener may use: health, metrics, and
// capability URLs whose path holds their own secret. An endpoint added
// later is therefore guarded unless it says otherwise.
type Router struct {
	mux     *http.ServeMux
	auth    *tokenAuth
	guarded []string // the API's patterns, for the start-up log
}

func newRouter(auth *tokenAuth) *Router {
	return &Router{mux: http.NewServeMux(), auth: auth}
}

// Handle registers h for pattern (http.ServeMux syntax) as an endpoint of
// the HTTP API, behind the bearer tokens.
func (r *Router) Handle(pattern string, h http.Handler) {
	r.guarded = append(r.guarded, pattern)
	r.mux.Handle(pattern, r.auth.guard(h))
}

// HandleFunc is Handle for a function.
func (r *Router) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	r.Handle(pattern, http.HandlerFunc(f))
}

// HandleOpen registers h for pattern without authentication.
func (r *Router) HandleOpen(pattern string, h http.Handler) {
	r.mux.Handle(pattern, h)
}

// ServeHTTP dispatches a request to its endpoint.
func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mux.ServeHTTP(w, req)
}

// Guarded returns the patterns registered with Handle.
func (r *Router) Guarded() []string { return append([]string(nil), r.guarded...) }

// tokenAuth checks bearer tokens against the configured ones in constant
// time: it keeps their SHA-256 digests only and compares the digest of
// what a request carries with every one of them.
type tokenAuth struct {
	digests [][sha256.Size]byte
	counter limit.Counter
	warn    *limit.Warner
}

// checkTokens returns an error naming the first unusable token by its
// place (never its text): empty, or holding characters a header value
// cannot carry. It also returns how many are shorter than minTokenLen.
func checkTokens(tokens []string) (short int, err error) {
	for i, t := range tokens {
		if t == "" {
			return 0, fmt.Errorf("api token %d of %d is empty", i+1, len(tokens))
		}
		for _, c := range []byte(t) {
			if c <= ' ' || c >= 0x7f {
				return 0, fmt.Errorf("api token %d of %d holds a space, control or non-ASCII character: use printable ASCII only", i+1, len(tokens))
			}
		}
		if len(t) < minTokenLen {
			short++
		}
	}
	return short, nil
}

func newTokenAuth(tokens []string, counter limit.Counter, log *slog.Logger) *tokenAuth {
	a := &tokenAuth{counter: counter, warn: limit.NewWarner(log, slog.LevelWarn, 5*time.Second)}
	for _, t := range tokens {
		a.digests = append(a.digests, sha256.Sum256([]byte(t)))
	}
	return a
}

// on reports whether any token is configured.
func (a *tokenAuth) on() bool { return len(a.digests) > 0 }

// valid reports whether token is one of the configured tokens. It takes
// the same time whichever token matches, or none.
func (a *tokenAuth) valid(token string) bool {
	d := sha256.Sum256([]byte(token))
	match := 0
	for i := range a.digests {
		match |= subtle.ConstantTimeCompare(d[:], a.digests[i][:])
	}
	return match == 1
}

// errNoToken and errBadToken say why a request was refused.
var (
	errNoToken  = errors.New("this endpoint needs an API token: send Authorization: Bearer <token>")
	errBadToken = errors.New("the API token is not valid")
)

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// guard lets through to next only the requests with a valid token.
func (a *tokenAuth) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.on() {
			writeError(w, http.StatusForbidden, apiOffMessage)
			return
		}
		token, ok := bearer(r.Header.Get("Authorization"))
		err := errNoToken
		if ok {
			if a.valid(token) {
				next.ServeHTTP(w, r)
				return
			}
			err = errBadToken
		}
		limit.Count(a.counter, limit.APIToken)
		// The line names the request, never the token or the query string.
		a.warn.Log("HTTP API request refused", "reason", err.Error(), "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
		challenge := `Bearer realm="callstream"`
		if err == errBadToken {
			challenge += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
		writeError(w, http.StatusUnauthorized, err.Error())
	})
}

// writeError answers with code and the JSON body
// {"error": msg, "errors": [{"message": msg}]}: the REST API's error shape,
// and the single "error" earlier clients read.
func writeError(w http.ResponseWriter, code int, msg string) {
	type entry struct {
		Message string `json:"message"`
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(struct {
		Error  string  `json:"error"`
		Errors []entry `json:"errors"`
	}{msg, []entry{{msg}}})
}
