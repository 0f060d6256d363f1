package sip

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Digest authentication of INVITEs: RFC 3261 §22 with RFC 2617's
// qop=auth and MD5. Nonces are stateless: a nonce is the second it was
// made and an HMAC of that second, the caller's address and the realm
// under a key drawn when the process starts, so a nonce needs no memory,
// works only from the address it was given to, and expires after
// nonceLifetime (a replay within that window from that address passes).

// nonceLifetime is how long a nonce is accepted after it was issued.
const nonceLifetime = time.Minute

// nonceMACLen is the bytes of HMAC a nonce carries.
const nonceMACLen = 16

// maxDigestParams bounds the parameters of an Authorization header.
const maxDigestParams = 16

var (
	errNoCredentials        = errors.New("no digest credentials")
	errMalformedCredentials = errors.New("malformed digest credentials")
	errBadNonce             = errors.New("nonce not issued to this source")
	errStaleNonce           = errors.New("nonce expired")
	errBadCredentials       = errors.New("wrong user name or password")
)

// digestAuth checks the digest credentials of INVITEs against a fixed
// set of users. Safe for concurrent use.
type digestAuth struct {
	realm string
	users map[string]string // user name -> password; read-only
	key   []byte            // HMAC key of nonces
}

// newDigestAuth returns the authenticator of users (user name ->
// password) in realm.
func newDigestAuth(realm string, users map[string]string) (*digestAuth, error) {
	if realm == "" {
		realm = "callstream"
	}
	if strings.ContainsAny(realm, "\"\\\r\n") {
		return nil, fmt.Errorf("sip: digest realm %q: quotes, backslashes and line breaks are not allowed", realm)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("sip: digest nonce key: %w", err)
	}
	own := make(map[string]string, len(users))
	for u, p := range users {
		if u == "" || p == "" {
			return nil, errors.New("sip: digest users need a name and a password")
		}
		own[u] = p
	}
	return &digestAuth{realm: realm, users: own, key: key}, nil
}

// nonce returns a nonce for src issued at t.
func (a *digestAuth) nonce(src netip.Addr, t time.Time) string {
	var b [8 + nonceMACLen]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.Unix()))
	copy(b[8:], a.mac(b[:8], src))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (a *digestAuth) mac(stamp []byte, src netip.Addr) []byte {
	m := hmac.New(sha256.New, a.key)
	m.Write(stamp)
	ip := src.Unmap().As16()
	m.Write(ip[:])
	m.Write([]byte(a.realm))
	return m.Sum(nil)[:nonceMACLen]
}

// checkNonce reports whether nonce was issued here to src within
// nonceLifetime of now.
func (a *digestAuth) checkNonce(nonce string, src netip.Addr, now time.Time) error {
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != 8+nonceMACLen {
		return errBadNonce
	}
	if !hmac.Equal(b[8:], a.mac(b[:8], src)) {
		return errBadNonce
	}
	issued := time.Unix(int64(binary.BigEndian.Uint64(b[:8])), 0)
	if age := now.Sub(issued); age > nonceLifetime || age < -time.Minute {
		return errStaleNonce
	}
	return nil
}

// challenge returns a WWW-Authenticate value with a fresh nonce for src;
// stale tells the caller its nonce expired but its password was right
// (RFC 2617 §3.2.1), so it may retry without asking its user.
func (a *digestAuth) challenge(src netip.Addr, now time.Time, stale bool) string {
	h := fmt.Sprintf(`Digest realm="%s", nonce="%s", algorithm=MD5, qop="auth"`, a.realm, a.nonce(src, now))
	if stale {
		h += ", stale=true"
	}
	return h
}

// verify checks an Authorization header value of a request with method
// from src. It returns the user name when the credentials are right, and
// otherwise errNoCredentials, errMalformedCredentials, errBadNonce,
// errStaleNonce or errBadCredentials.
func (a *digestAuth) verify(method, authorization string, src netip.Addr, now time.Time) (string, error) {
	if authorization == "" {
		return "", errNoCredentials
	}
	cr, err := parseCredentials(authorization)
	if err != nil {
		return "", err
	}
	switch {
	case cr.username == "" || cr.nonce == "" || cr.uri == "" || cr.response == "":
		return "", fmt.Errorf("%w: username, nonce, uri and response are required", errMalformedCredentials)
	case cr.algorithm != "" && !strings.EqualFold(cr.algorithm, "MD5"):
		return "", fmt.Errorf("%w: algorithm %q not supported", errMalformedCredentials, cr.algorithm)
	case cr.qop != "" && cr.qop != "auth":
		return "", fmt.Errorf("%w: qop %q not supported", errMalformedCredentials, cr.qop)
	case cr.qop == "auth" && (cr.cnonce == "" || cr.nc == ""):
		return "", fmt.Errorf("%w: qop=auth needs cnonce and nc", errMalformedCredentials)
	case cr.realm != a.realm:
		return "", errBadNonce // credentials for another challenge: challenge afresh
	}
	if err := a.checkNonce(cr.nonce, src, now); err != nil {
		return "", err
	}
	password, known := a.users[cr.username]
	if !known {
		password = "\x00" // still hash, so unknown users take as long as known ones
	}
	want := digestResponse(cr.username, a.realm, password, method, cr.uri, cr.nonce, cr.nc, cr.cnonce, cr.qop)
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(cr.response))) || !known {
		return "", errBadCredentials
	}
	return cr.username, nil
}

// digestResponse computes the request-digest of RFC 2617 §3.2.2.1 for
// algorithm MD5, with qop "auth" or none.
func digestResponse(user, realm, password, method, uri, nonce, nc, cnonce, qop string) string {
	ha1 := md5Hex(user + ":" + realm + ":" + password)
	ha2 := md5Hex(method + ":" + uri)
	if qop == "" {
		return md5Hex(ha1 + ":" + nonce + ":" + ha2)
	}
	return md5Hex(ha1 + ":" + nonce + ":" + nc + ":" + cnonce + ":" + qop + ":" + ha2)
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// credentials are the parameters of a Digest Authorization header.
type credentials struct {
	username, realm, nonce, uri, response, algorithm, cnonce, qop, nc string
}

// parseCredentials parses `Digest k=v, k="v", ...`.
func parseCredentials(h string) (credentials, error) {
	var cr credentials
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	if !strings.EqualFold(scheme, "Digest") {
		return cr, fmt.Errorf("%w: scheme is not Digest", errMalformedCredentials)
	}
	seen := 0
	for s := rest; ; {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			break
		}
		if seen++; seen > maxDigestParams {
			return cr, fmt.Errorf("%w: more than %d parameters", errMalformedCredentials, maxDigestParams)
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return cr, fmt.Errorf("%w: parameter without a value", errMalformedCredentials)
		}
		key := strings.ToLower(strings.TrimSpace(s[:eq]))
		s = strings.TrimLeft(s[eq+1:], " \t")
		var val string
		if strings.HasPrefix(s, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				b.WriteByte(s[i])
			}
			if i >= len(s) {
				return cr, fmt.Errorf("%w: unterminated quoted value", errMalformedCredentials)
			}
			val, s = b.String(), s[i+1:]
		} else {
			end := strings.IndexAny(s, ", \t")
			if end < 0 {
				end = len(s)
			}
			val, s = s[:end], s[end:]
		}
		switch key {
		case "username":
			cr.username = val
		case "realm":
			cr.realm = val
		case "nonce":
			cr.nonce = val
		case "uri":
			cr.uri = val
		case "response":
			cr.response = val
		case "algorithm":
			cr.algorithm = val
		case "cnonce":
			cr.cnonce = val
		case "qop":
			cr.qop = strings.ToLower(val)
		case "nc":
			cr.nc = val
		}
	}
	return cr, nil
}
