package flexml

import (
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// defaultPause is the length of a <Pause> without a length attribute.
const defaultPause = time.Second

// rejectReasons lists the reasons RejectCode knows, for messages.
const rejectReasons = "redirect, forbidden, rejected, not-found, busy-here, bad-gateway, unavailable, " +
	"busy, decline, does-not-exist, unwanted, intermediary-rejected"

// RejectCode returns the SIP status code that <Reject reason="..."> sends,
// and false if reason is not one FlexML defines. Reasons are lower case.
func RejectCode(reason string) (code int, ok bool) {
	switch reason {
	case "redirect":
		return 302, true
	case "forbidden", "rejected":
		return 403, true
	case "not-found":
		return 404, true
	case "busy-here":
		return 486, true
	case "bad-gateway":
		return 502, true
	case "unavailable":
		return 503, true
	case "busy":
		return 600, true
	case "decline":
		return 603, true
	case "does-not-exist":
		return 604, true
	case "unwanted":
		return 607, true
	case "intermediary-rejected":
		return 608, true
	}
	return 0, false
}

// parseTrack normalises a track or audio_track value.
func parseTrack(s string) (Track, bool) {
	switch s {
	case "inbound", "inbound_track":
		return TrackInbound, true
	case "outbound", "outbound_track":
		return TrackOutbound, true
	case "both", "both_tracks":
		return TrackBoth, true
	case "mixed":
		return TrackMixed, true
	}
	return "", false
}

// parseSeconds parses a non-negative decimal number of seconds, such as
// "2", "1.5" or ".25", exactly (no floating point). Digits past the
// nanosecond are dropped. Signs, exponents and values that overflow a
// time.Duration are refused.
func parseSeconds(s string) (time.Duration, bool) {
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" && frac == "" || hasDot && frac == "" || !allDigits(whole) || !allDigits(frac) {
		return 0, false
	}
	var sec int64
	for _, c := range []byte(whole) {
		sec = sec*10 + int64(c-'0')
		if sec > math.MaxInt64/int64(time.Second) {
			return 0, false
		}
	}
	var ns int64
	for i := range 9 {
		ns *= 10
		if i < len(frac) {
			ns += int64(frac[i] - '0')
		}
	}
	d := sec*int64(time.Second) + ns
	if d < 0 {
		return 0, false
	}
	return time.Duration(d), true
}

// parseCount parses a whole number >= 0.
func parseCount(s string) (int, bool) {
	if s == "" || !allDigits(s) {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil
}

func allDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// checkStreamURL checks a Stream url: ws or wss, or relative, with no query.
// It returns the trimmed URL, or a message saying what is wrong.
func checkStreamURL(v string) (string, string) {
	v = trimSpace(v)
	if v == "" {
		return "", `attribute "url" must not be empty`
	}
	if strings.Contains(v, "?") {
		return "", `attribute "url" takes no parameters (found "?"); use <Parameter> children instead`
	}
	u, err := url.Parse(v)
	if err != nil {
		return "", `attribute "url" is not a valid URL: ` + strconv.Quote(v)
	}
	if u.Fragment != "" || strings.Contains(v, "#") {
		return "", `attribute "url" must not contain a fragment ("#")`
	}
	if u.Scheme == "" {
		return v, ""
	}
	switch strings.ToLower(u.Scheme) {
	case "ws", "wss":
	default:
		return "", `attribute "url" has scheme ` + strconv.Quote(u.Scheme) + `; want ws, wss or a relative URL`
	}
	if u.Host == "" {
		return "", `attribute "url" has no host`
	}
	return v, ""
}

// checkHTTPURL checks an http or https URL that may be relative. It returns
// the trimmed URL, or the end of a message saying what is wrong.
func checkHTTPURL(v string) (string, string) {
	v = trimSpace(v)
	if v == "" {
		return "", "must not be empty"
	}
	u, err := url.Parse(v)
	if err != nil {
		return "", "is not a valid URL"
	}
	if u.Scheme == "" {
		return v, ""
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
	default:
		return "", "has scheme " + strconv.Quote(u.Scheme) + "; want http, https or a relative URL"
	}
	if u.Host == "" {
		return "", "has no host"
	}
	return v, ""
}

// checkPlayURL checks the body of <Play>: an http or https URL, or a path.
// It returns a message saying what is wrong, or "".
func checkPlayURL(v string) string {
	scheme := urlScheme(v)
	if scheme == "" {
		return "" // a file path
	}
	switch strings.ToLower(scheme) {
	case "http", "https":
	default:
		return "URL " + strconv.Quote(v) + " has scheme " + strconv.Quote(scheme) +
			"; want http, https or a file path"
	}
	u, err := url.Parse(v)
	if err != nil {
		return "URL " + strconv.Quote(v) + " is not a valid URL"
	}
	if u.Host == "" {
		return "URL " + strconv.Quote(v) + " has no host"
	}
	return ""
}

// urlScheme returns the scheme that starts s, or "" if s has none. A
// single letter before ':' is taken as a drive letter, not a scheme.
func urlScheme(s string) string {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		case c == ':' && i > 1:
			return s[:i]
		default:
			return ""
		}
	}
	return ""
}
