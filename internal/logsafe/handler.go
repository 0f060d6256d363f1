package logsafe

import (
	"context"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxValue is the most bytes of a string or byte-slice attribute value a
// record above DEBUG carries; a longer value is cut there and marked with
// its full length.
const MaxValue = 200

// Redacted is the value written instead of an attribute whose key names a
// secret.
const Redacted = "[redacted]"

// Handler is a slog.Handler that makes every record above DEBUG safe to
// keep before it passes it on:
//
//   - an attribute whose key names a secret (token, password,
//     authorization, digit, digits, pin, nonce, secret, cookie, credential,
//     api key, … as a word of the key: "api_token", "accessToken") has its
//     value replaced by Redacted;
//   - every URL ("scheme://…") in a string value, an error's text or the
//     message loses its userinfo, query string and fragment, and a "sip:"
//     URI value its password;
//   - a string (or error text, or byte slice) longer than MaxValue bytes
//     is cut to MaxValue and marked "…[truncated, N bytes]".
//
// Records at DEBUG and below pass as they are: debug logging is for the
// one who runs the gateway and may see the call's details. A record that
// needs no change is passed on as it came, without allocating. Attributes
// given to WithAttrs are made safe once, for the records above DEBUG.
//
// Handler is a safety net behind the log sites, which should not hand it
// secrets in the first place.
type Handler struct {
	raw   slog.Handler // records at DEBUG and below, attributes as given
	safe  slog.Handler // records above DEBUG, attributes made safe
	split bool         // safe and raw differ: some WithAttrs value was changed
}

// NewHandler returns a Handler passing records on to next.
func NewHandler(next slog.Handler) *Handler {
	return &Handler{raw: next, safe: next}
}

// Logger returns l with its handler wrapped in a Handler, or l itself when
// it has one already; nil stays nil.
func Logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return nil
	}
	if _, ok := l.Handler().(*Handler); ok {
		return l
	}
	return slog.New(NewHandler(l.Handler()))
}

// Enabled reports whether the next handler takes records at level.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.raw.Enabled(ctx, level)
}

// Handle makes r safe when it is above DEBUG and passes it on.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level <= slog.LevelDebug {
		return h.raw.Handle(ctx, r)
	}
	if !recordDirty(&r) {
		return h.safe.Handle(ctx, r)
	}
	return h.safe.Handle(ctx, cleanRecord(&r))
}

// WithAttrs returns a Handler whose records carry as, made safe for the
// records above DEBUG.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	if len(as) == 0 {
		return h
	}
	n := &Handler{raw: h.raw.WithAttrs(as), split: h.split}
	clean, changed := cleanAttrs(as)
	switch {
	case changed:
		n.safe = h.safe.WithAttrs(clean)
		n.split = true
	case h.split:
		n.safe = h.safe.WithAttrs(as)
	default:
		n.safe = n.raw
	}
	return n
}

// WithGroup returns a Handler that puts the attributes that follow in the
// group name.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	n := &Handler{raw: h.raw.WithGroup(name), split: h.split}
	n.safe = n.raw
	if h.split {
		n.safe = h.safe.WithGroup(name)
	}
	return n
}

// recordDirty reports whether r needs a change.
func recordDirty(r *slog.Record) bool {
	if stringDirty(r.Message) {
		return true
	}
	dirty := false
	r.Attrs(func(a slog.Attr) bool {
		dirty = attrDirty(a)
		return !dirty
	})
	return dirty
}

// cleanRecord returns a copy of r made safe.
func cleanRecord(r *slog.Record) slog.Record {
	msg, _ := cleanString(r.Message)
	out := slog.NewRecord(r.Time, r.Level, msg, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(cleanAttr(a))
		return true
	})
	return out
}

// cleanAttrs returns as made safe, and whether anything changed (as itself
// when nothing did).
func cleanAttrs(as []slog.Attr) ([]slog.Attr, bool) {
	dirty := false
	for _, a := range as {
		if attrDirty(a) {
			dirty = true
			break
		}
	}
	if !dirty {
		return as, false
	}
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = cleanAttr(a)
	}
	return out, true
}

// attrDirty reports whether a needs a change; it does not allocate.
func attrDirty(a slog.Attr) bool {
	if SecretKey(a.Key) {
		return !isRedacted(a.Value)
	}
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return stringDirty(v.String())
	case slog.KindGroup:
		for _, g := range v.Group() {
			if attrDirty(g) {
				return true
			}
		}
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			s, ok := errorText(x)
			return ok && stringDirty(s)
		case []byte:
			return len(x) > MaxValue
		case *url.URL:
			if x != nil {
				return x.User != nil || x.RawQuery != "" || x.ForceQuery || x.Fragment != ""
			}
		}
	}
	return false
}

// cleanAttr returns a made safe.
func cleanAttr(a slog.Attr) slog.Attr {
	if SecretKey(a.Key) {
		if isRedacted(a.Value) {
			return a
		}
		return slog.String(a.Key, Redacted)
	}
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		if s, ok := cleanString(v.String()); ok {
			return slog.String(a.Key, s)
		}
	case slog.KindGroup:
		g, changed := cleanAttrs(v.Group())
		if changed {
			return slog.Attr{Key: a.Key, Value: slog.GroupValue(g...)}
		}
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			if s, ok := errorText(x); ok {
				if c, changed := cleanString(s); changed {
					return slog.String(a.Key, c)
				}
			}
		case []byte:
			if len(x) > MaxValue {
				return slog.String(a.Key, truncate(string(x[:min(len(x), MaxValue+utf8.UTFMax)]), len(x)))
			}
		case *url.URL:
			if x != nil {
				return slog.String(a.Key, URL(x.String()))
			}
		}
	}
	return a
}

func isRedacted(v slog.Value) bool {
	return v.Kind() == slog.KindString && v.String() == Redacted
}

// errorText returns err's text; ok is false when Error panics (a nil
// pointer in a non-nil error).
func errorText(err error) (s string, ok bool) {
	defer func() {
		if recover() != nil {
			s, ok = "", false
		}
	}()
	return err.Error(), true
}

// stringDirty reports whether s needs a change; it does not allocate.
func stringDirty(s string) bool {
	if len(s) > MaxValue {
		return true
	}
	if _, ok := sipPassword(s); ok {
		return true
	}
	if strings.Contains(s, "://") {
		_, changed := cleanText(s)
		return changed
	}
	return false
}

// cleanString returns s with its URLs cleaned and cut to MaxValue, and
// whether that changed it.
func cleanString(s string) (string, bool) {
	changed := false
	if t, ok := sipPassword(s); ok {
		s, changed = t, true
	}
	if t, ok := cleanText(s); ok {
		s, changed = t, true
	}
	if len(s) > MaxValue {
		s, changed = truncate(s, len(s)), true
	}
	return s, changed
}

// Cut returns s when it has at most n bytes; else its first n bytes (on a
// rune boundary) marked "…[truncated, N bytes]" with its full length. For
// a log site that logs a peer's text, e.g. an unknown event name.
func Cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return cut(s, n, len(s))
}

// truncate cuts s to MaxValue bytes and marks it with n, the full length.
func truncate(s string, n int) string { return cut(s, MaxValue, n) }

func cut(s string, limit, n int) string {
	at := min(max(limit, 0), len(s))
	for at > 0 && at < len(s) && !utf8.RuneStart(s[at]) {
		at--
	}
	return s[:at] + "…[truncated, " + strconv.Itoa(n) + " bytes]"
}
