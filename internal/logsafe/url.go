// Package logsafe keeps secrets and floods out of the gateway's logs: URL
// and Text strip credentials and query strings from what a log site writes,
// and Handler is a slog.Handler that does the same, and more, as a safety
// net for every record above DEBUG: long values are cut, attributes whose
// key names a secret are redacted, and URLs lose their userinfo, query and
// fragment.
package logsafe

import "strings"

// URL returns the URL s fit for a log line: without its userinfo
// ("user:password@"), query string and fragment, e.g.
// "wss://bot.example.com/media" for "wss://u:p@bot.example.com/media?token=x".
// A "sip:" or "sips:" URI loses its password and headers. Text that is not
// a URL loses everything from its first '?' or '#'.
func URL(s string) string {
	out, _ := cleanURL(s)
	return out
}

// Text returns s with every URL in it ("scheme://…", up to the next space
// or quote) cleaned as URL does: for error texts, which often quote the
// URL they failed on. s itself is returned when it holds nothing to clean.
func Text(s string) string {
	out, _ := cleanText(s)
	return out
}

// cleanURL does URL's work and reports whether anything was removed. It
// allocates only when userinfo is cut out of the middle of s.
func cleanURL(s string) (string, bool) {
	changed := false
	rest := 0 // where the path (or opaque part) starts
	if i := strings.Index(s, "://"); i > 0 && isScheme(s[:i]) {
		host := i + 3
		end := host + strings.IndexAny(s[host:], "/?#")
		if end < host {
			end = len(s)
		}
		if at := strings.LastIndexByte(s[host:end], '@'); at >= 0 {
			s = s[:host] + s[host+at+1:]
			end -= at + 1
			changed = true
		}
		rest = end
	} else if sip, ok := sipPassword(s); ok {
		s, changed = sip, true
	}
	if q := strings.IndexAny(s[rest:], "?#"); q >= 0 {
		s = s[:rest+q]
		changed = true
	}
	return s, changed
}

// sipPassword removes the password of a "sip:user:password@host" URI.
func sipPassword(s string) (string, bool) {
	var n int
	switch {
	case hasPrefixFold(s, "sip:"):
		n = 4
	case hasPrefixFold(s, "sips:"):
		n = 5
	default:
		return s, false
	}
	at := strings.IndexByte(s[n:], '@')
	if at < 0 {
		return s, false
	}
	user := s[n : n+at]
	colon := strings.IndexByte(user, ':')
	if colon < 0 {
		return s, false
	}
	return s[:n+colon] + s[n+at:], true
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// isScheme reports whether s is a URL scheme: a letter, then letters,
// digits, '+', '-' or '.'.
func isScheme(s string) bool {
	if s == "" || !isLetter(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isSchemeChar(s[i]) {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

func isSchemeChar(c byte) bool {
	return isLetter(c) || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'
}

// endsURL reports whether c ends a URL inside text.
func endsURL(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '"', '\'', '`', '<', '>':
		return true
	}
	return false
}

// cleanText does Text's work and reports whether anything was removed. It
// does not allocate when nothing is.
func cleanText(s string) (string, bool) {
	var b strings.Builder
	used := false // b holds s[:done], cleaned
	done := 0
	from := 0 // where to look for the next "://"
	for {
		i := strings.Index(s[from:], "://")
		if i < 0 {
			break
		}
		i += from
		start := i
		for start > 0 && isSchemeChar(s[start-1]) {
			start--
		}
		for start < i && !isLetter(s[start]) {
			start++
		}
		end := i + 3
		for end < len(s) && !endsURL(s[end]) {
			end++
		}
		from = end
		// Punctuation that ends a sentence or a "URL: cause" is not the URL's.
		for end > i+3 && strings.IndexByte(".,;:!)", s[end-1]) >= 0 {
			end--
		}
		if start == i {
			continue // no scheme before "://"
		}
		clean, changed := cleanURL(s[start:end])
		if !changed {
			continue
		}
		if !used {
			used = true
			b.Grow(len(s))
		}
		b.WriteString(s[done:start])
		b.WriteString(clean)
		done = end // the punctuation after it is written with what follows
	}
	if !used {
		return s, false
	}
	b.WriteString(s[done:])
	return b.String(), true
}
