package fetch

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxHeuristic bounds the freshness guessed from Last-Modified alone.
const maxHeuristic = time.Hour

// freshness is what a response's headers allow a cache to do with it.
type freshness struct {
	store    bool          // false: no-store
	lifetime time.Duration // how long it is fresh from now (0: revalidate on every use)
}

// freshnessOf reads a response's caching headers (RFC 9111, as a shared
// cache): no-store is not stored; no-cache is stored but revalidated on
// every use; s-maxage, else max-age, else Expires minus Date gives the
// lifetime; without any of them 10% of the time since Last-Modified (at
// most an hour) does. Age is taken off. private is not honoured: every call
// the cache serves belongs to the same operator.
func freshnessOf(h http.Header, now time.Time) freshness {
	f := freshness{store: true}
	var maxAge, sMaxAge time.Duration = -1, -1
	noCache := false
	explicit := false
	for _, line := range h.Values("Cache-Control") {
		for _, d := range strings.Split(line, ",") {
			name, value, _ := strings.Cut(strings.TrimSpace(d), "=")
			value = strings.Trim(strings.TrimSpace(value), `"`)
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store":
				f.store = false
			case "no-cache":
				noCache = true
			case "max-age":
				explicit = true
				maxAge = seconds(value)
			case "s-maxage":
				explicit = true
				sMaxAge = seconds(value)
			}
		}
	}
	if len(h.Values("Cache-Control")) == 0 && strings.Contains(strings.ToLower(h.Get("Pragma")), "no-cache") {
		noCache = true
	}
	if !f.store || noCache {
		return f
	}
	date := now
	if d, err := http.ParseTime(h.Get("Date")); err == nil {
		date = d
	}
	switch {
	case sMaxAge >= 0:
		f.lifetime = sMaxAge
	case maxAge >= 0:
		f.lifetime = maxAge
	case explicit:
		// An invalid max-age makes the response stale.
	case h.Get("Expires") != "":
		if e, err := http.ParseTime(h.Get("Expires")); err == nil {
			f.lifetime = e.Sub(date)
		}
	default:
		if lm, err := http.ParseTime(h.Get("Last-Modified")); err == nil && date.After(lm) {
			f.lifetime = min(date.Sub(lm)/10, maxHeuristic)
		}
	}
	if age := seconds(h.Get("Age")); age > 0 {
		f.lifetime -= age
	}
	f.lifetime = max(f.lifetime, 0)
	return f
}

// seconds parses a delta-seconds value; anything else is -1.
func seconds(s string) time.Duration {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	const most = int64(365 * 24 * time.Hour / time.Second)
	return time.Duration(min(n, most)) * time.Second
}
