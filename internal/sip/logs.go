package sip

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// maxAttrLen bounds every attribute value (and message) the SIP edge logs:
// peers choose most of what ends up in these lines.
const maxAttrLen = 200

// dropReportPeriod is how often a flood of dropped SIP is summed up in one
// WARN line.
const dropReportPeriod = 5 * time.Second

// boundedHandler passes records on with every string value cut to
// maxAttrLen bytes and unprintable text escaped, so no peer can make a log
// line large or forge one.
type boundedHandler struct {
	next slog.Handler
}

// newBoundedLogger wraps log's handler with the bounds.
func newBoundedLogger(log *slog.Logger) *slog.Logger {
	if _, ok := log.Handler().(boundedHandler); ok {
		return log
	}
	return slog.New(boundedHandler{next: log.Handler()})
}

func (h boundedHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h boundedHandler) Handle(ctx context.Context, r slog.Record) error {
	fits := len(r.Message) <= maxAttrLen && printable(r.Message)
	if fits {
		r.Attrs(func(a slog.Attr) bool {
			fits = attrFits(a)
			return fits
		})
	}
	if fits {
		return h.next.Handle(ctx, r)
	}
	out := slog.NewRecord(r.Time, r.Level, boundText(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(boundAttr(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h boundedHandler) WithAttrs(as []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i] = boundAttr(a)
	}
	return boundedHandler{next: h.next.WithAttrs(out)}
}

func (h boundedHandler) WithGroup(name string) slog.Handler {
	return boundedHandler{next: h.next.WithGroup(boundText(name))}
}

// attrFits reports whether a needs no bounding: a short printable string
// or a value that is not text.
func attrFits(a slog.Attr) bool {
	v := a.Value
	switch v.Kind() {
	case slog.KindString:
		s := v.String()
		return len(s) <= maxAttrLen && printable(s)
	case slog.KindAny, slog.KindLogValuer, slog.KindGroup:
		return false
	}
	return true
}

// boundAttr returns a with its value bounded.
func boundAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, boundText(v.String()))
	case slog.KindGroup:
		gs := v.Group()
		out := make([]slog.Attr, len(gs))
		for i, g := range gs {
			out[i] = boundAttr(g)
		}
		return slog.Attr{Key: a.Key, Value: slog.GroupValue(out...)}
	case slog.KindAny:
		switch x := v.Any().(type) {
		case nil:
			return a
		case error:
			return slog.String(a.Key, boundText(x.Error()))
		case []byte:
			return slog.String(a.Key, boundText(string(x)))
		case fmt.Stringer:
			return slog.String(a.Key, boundText(x.String()))
		default:
			return slog.String(a.Key, boundText(fmt.Sprint(x)))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}

// boundText escapes unprintable text and cuts it to maxAttrLen bytes,
// saying how long it was.
func boundText(s string) string {
	if !printable(s) {
		if len(s) > 4*maxAttrLen {
			s = s[:4*maxAttrLen] // escaping only grows it
		}
		q := strconv.QuoteToASCII(s)
		s = q[1 : len(q)-1]
	}
	if len(s) <= maxAttrLen {
		return s
	}
	suffix := "...(" + strconv.Itoa(len(s)) + " bytes)"
	cut := maxAttrLen - len(suffix)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + suffix
}

// printable reports whether s is valid UTF-8 without control characters.
func printable(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// dropReport sums up SIP the server dropped (unparseable or malformed
// messages) in one WARN line per period, naming the count and the last
// source, however many messages a flood brings. Safe for concurrent use.
type dropReport struct {
	log    *slog.Logger
	msg    string
	period time.Duration

	mu     sync.Mutex
	count  uint64 // since the last line
	total  uint64
	last   netip.AddrPort
	timer  *time.Timer // armed while a count waits for its line
	closed bool
}

func newDropReport(log *slog.Logger, msg string, period time.Duration) *dropReport {
	return &dropReport{log: log, msg: msg, period: period}
}

// add counts one dropped message from src; the line goes out at the end of
// the period.
func (d *dropReport) add(src netip.AddrPort) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.count++
	d.total++
	if src.IsValid() {
		d.last = src
	}
	if d.timer == nil && !d.closed {
		d.timer = time.AfterFunc(d.period, d.flush)
	}
}

// flush logs what was counted since the last line.
func (d *dropReport) flush() {
	d.mu.Lock()
	n, total, last := d.count, d.total, d.last
	d.count = 0
	d.timer = nil
	d.mu.Unlock()
	if n == 0 {
		return
	}
	src := ""
	if last.IsValid() {
		src = last.String()
	}
	d.log.Warn(d.msg, "count", n, "total", total, "last_source", src, "period", d.period.String())
}

// close stops the timer and logs what is still counted.
func (d *dropReport) close() {
	d.mu.Lock()
	d.closed = true
	if d.timer != nil {
		d.timer.Stop()
	}
	d.mu.Unlock()
	d.flush()
}

// sipgoHandler is the log handler given to sipgo. sipgo logs what peers do
// wrong at ERROR, often with the whole message: here an unparseable or
// malformed message becomes a DEBUG line (bounded) and a count in a WARN
// summary; errors that peers cause routinely (resets, failed writes to a
// vanished peer) go to DEBUG; anything else keeps its level but goes out
// at most once a second per message.
type sipgoHandler struct {
	next  slog.Handler // bounded
	state *sipgoLogState
}

// sipgoLogState is shared by a sipgoHandler and the handlers its With
// calls derive.
type sipgoLogState struct {
	unparseable *dropReport
	malformed   *dropReport
	source      func() netip.AddrPort // the source of the message being read

	mu     sync.Mutex
	limits map[string]*lineLimit // by message
}

// maxSipgoLimits bounds the messages rate-limited separately; the rest
// share one limit.
const maxSipgoLimits = 64

// sipgoDebug are sipgo's messages about routine peer failures, logged at
// DEBUG only.
var sipgoDebug = map[string]bool{
	"Read error":                                                  true, // a peer reset or a TLS handshake failed
	"Failed to pong keep alive":                                   true,
	"send '100 Trying' response failed":                           true,
	"Failed to send stateless 400 for malformed request":          true,
	"Client tx failed to handle response":                         true,
	"send ACK request failed":                                     true,
	"connection pool not clean cleanup":                           true,
	"Closing connection returned error":                           true,
	"Non existing client tx was removed":                          true,
	"Non existing server tx was removed":                          true,
	"client transport error detected. Waiting for retransmission": true,
	"ACK loop retransimission. Resending after T2":                true,
	"SIP request handler not found":                               true,
	"unsupported message, skip it":                                true,
}

// newSipgoLogger returns the logger to hand sipgo: records go to log
// (bounded); source tells the source of the message being read.
func newSipgoLogger(log *slog.Logger, source func() netip.AddrPort) (*slog.Logger, *sipgoLogState) {
	bounded := newBoundedLogger(log)
	st := &sipgoLogState{
		unparseable: newDropReport(bounded, "unparseable SIP dropped", dropReportPeriod),
		malformed:   newDropReport(bounded, "malformed SIP request dropped", dropReportPeriod),
		source:      source,
		limits:      map[string]*lineLimit{},
	}
	return slog.New(sipgoHandler{next: bounded.Handler(), state: st}), st
}

// close logs the last summaries and stops their timers.
func (st *sipgoLogState) close() {
	st.unparseable.close()
	st.malformed.close()
}

func (h sipgoHandler) Enabled(ctx context.Context, l slog.Level) bool {
	// Records at INFO and above are looked at even when they will not be
	// logged: they may need counting.
	return l >= slog.LevelInfo || h.next.Enabled(ctx, l)
}

func (h sipgoHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level < slog.LevelInfo {
		return h.next.Handle(ctx, r)
	}
	switch {
	case r.Message == "failed to parse":
		h.state.unparseable.add(h.state.source())
		return h.debug(ctx, r, "unparseable SIP")
	case r.Message == "Server tx failed to handle request":
		h.state.malformed.add(h.state.source())
		return h.debug(ctx, r, "malformed SIP request")
	case sipgoDebug[r.Message]:
		return h.debug(ctx, r, r.Message)
	}
	ok, held := h.state.limiter(r.Message).allow(time.Now())
	if !ok {
		return nil
	}
	if held > 0 {
		r = r.Clone()
		r.AddAttrs(slog.Uint64("suppressed", held))
	}
	return h.next.Handle(ctx, r)
}

// debug passes r on at DEBUG as msg.
func (h sipgoHandler) debug(ctx context.Context, r slog.Record, msg string) error {
	if !h.next.Enabled(ctx, slog.LevelDebug) {
		return nil
	}
	out := slog.NewRecord(r.Time, slog.LevelDebug, msg, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(a)
		return true
	})
	return h.next.Handle(ctx, out)
}

func (h sipgoHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return sipgoHandler{next: h.next.WithAttrs(as), state: h.state}
}

func (h sipgoHandler) WithGroup(name string) slog.Handler {
	return sipgoHandler{next: h.next.WithGroup(name), state: h.state}
}

// limiter returns the limiter of lines with message msg.
func (st *sipgoLogState) limiter(msg string) *lineLimit {
	st.mu.Lock()
	defer st.mu.Unlock()
	l, ok := st.limits[msg]
	if ok {
		return l
	}
	if len(st.limits) >= maxSipgoLimits {
		msg = "" // past the bound, other messages share one limit
		if l, ok = st.limits[msg]; ok {
			return l
		}
	}
	l = &lineLimit{}
	st.limits[msg] = l
	return l
}

// lineLimit lets one line through per second and counts the others.
type lineLimit struct {
	last       atomic.Int64 // unix ns of the last line let through
	suppressed atomic.Uint64
}

// allow reports whether a line may go out now, and how many were held
// back since the last one.
func (l *lineLimit) allow(now time.Time) (bool, uint64) {
	last := l.last.Load()
	if now.UnixNano()-last < int64(time.Second) || !l.last.CompareAndSwap(last, now.UnixNano()) {
		l.suppressed.Add(1)
		return false, 0
	}
	return true, l.suppressed.Swap(0)
}
