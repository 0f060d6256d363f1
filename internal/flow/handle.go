package flow

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/callstream/callstream/flexml"
	"github.com/callstream/callstream/internal/call"
	"github.com/callstream/callstream/internal/logsafe"
	"github.com/callstream/callstream/internal/stream"
)

// Errors of a Handle.
var (
	// ErrNotRunning: the call's document is not running (yet, or any
	// more): it cannot be redirected nor take streams.
	ErrNotRunning = errors.New("the call's FlexML is not running")
	// ErrNoStream: no live unidirectional stream of the call has this
	// name or sid.
	ErrNoStream = errors.New("no live stream of this call has this name")
	// errRedirected is the cause of a document's context a Handle ended.
	errRedirected = errors.New("redirected")
)

// endedBy names what ended a verb's ctx, for its log line: a redirect
// through the Handle, or the caller.
func endedBy(ctx context.Context) string {
	if errors.Is(context.Cause(ctx), errRedirected) {
		return "redirected"
	}
	return "caller hung up"
}

// StreamRefusedError is a stream a Handle could not start (a name in use,
// too many streams, a bad URL); its message says why.
type StreamRefusedError struct{ Reason string }

func (e *StreamRefusedError) Error() string { return "stream not started: " + e.Reason }

// Handle is the hold one running FlexML call gives from outside (the
// REST API): it redirects the call to another document, interrupting the
// verb that runs (a Play, Say, Gather, Pause, Record, a Connect's stream,
// a Dial's bridge) as Twilio's call update does, and starts and stops
// unidirectional streams beside the document. Streams a <Start> forked
// keep running across a redirect. Make one with Interpreter.Prepare.
type Handle struct {
	in                    *Interpreter
	r                     *run
	firstURL, firstMethod string           // the first document
	firstDoc              *flexml.Document // or the first document itself (PrepareDocument)

	mu       sync.Mutex
	running  bool                    // between Run's start and its end
	ended    bool                    // Run has returned
	cancel   context.CancelCauseFunc // interrupts the current document
	pending  *update                 // the latest update not yet taken
	streamMu sync.Mutex              // serialises API stream starts with each other and the run's end
}

// update is one redirect asked through a Handle: a URL to fetch or a
// document given inline.
type update struct {
	method, url string
	doc         *flexml.Document
}

// Prepare returns the handle of c's FlexML run; Handle.Run runs it.
func (in *Interpreter) Prepare(c *call.Call) *Handle {
	return in.PrepareAt(c, in.cfg.App, in.cfg.Method)
}

// PrepareAt is Prepare for a run whose first document is at loc, fetched
// by method (a call placed through the API).
func (in *Interpreter) PrepareAt(c *call.Call, loc, method string) *Handle {
	if method == "" {
		method = http.MethodPost
	}
	h := &Handle{in: in, firstURL: loc, firstMethod: method}
	h.r = &run{
		in:  in,
		c:   c,
		log: c.Logger(),
		req: newRequest(c, in.cfg.AccountSid, in.cfg.AppDialect),
	}
	h.r.streams = newStreamSet(h.r)
	return h
}

// PrepareDocument is Prepare for a run whose first document is doc
// (already parsed and valid), given inline rather than fetched.
func (in *Interpreter) PrepareDocument(c *call.Call, doc *flexml.Document) *Handle {
	h := in.PrepareAt(c, "", "")
	h.firstDoc = doc
	return h
}

// Redirect interrupts the current verb and runs the document at loc
// (absolute http(s) URL) fetched by method (GET or POST; default POST).
func (h *Handle) Redirect(loc, method string) error {
	u, err := url.Parse(loc)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("redirect: %q is not an absolute http(s) URL", logsafe.URL(loc))
	}
	method = strings.ToUpper(method)
	switch method {
	case "":
		method = http.MethodPost
	case http.MethodGet, http.MethodPost:
	default:
		return fmt.Errorf("redirect: method %q: want GET or POST", method)
	}
	return h.push(&update{method: method, url: loc})
}

// RunDocument interrupts the current verb and runs doc (already parsed
// and valid).
func (h *Handle) RunDocument(doc *flexml.Document) error {
	if doc == nil {
		return errors.New("run document: no document")
	}
	return h.push(&update{doc: doc})
}

func (h *Handle) push(u *update) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.running || h.ended || h.r.c.Context().Err() != nil {
		return ErrNotRunning
	}
	h.pending = u // a later update replaces one not yet taken
	if h.cancel != nil {
		h.cancel(errRedirected)
	}
	return nil
}

// beginDocument returns the context one document runs in: it ends with
// ctx, or when an update interrupts it.
func (h *Handle) beginDocument(ctx context.Context) (context.Context, context.CancelFunc) {
	dctx, cancel := context.WithCancelCause(ctx)
	h.mu.Lock()
	h.cancel = cancel
	if h.pending != nil {
		cancel(errRedirected)
	}
	h.mu.Unlock()
	return dctx, func() { cancel(nil) }
}

// take returns the pending update, if any, and clears it.
func (h *Handle) take() *update {
	h.mu.Lock()
	defer h.mu.Unlock()
	u := h.pending
	h.pending = nil
	return u
}

func (h *Handle) setRunning(on bool) {
	// No API stream start is under way once the run has ended (its
	// streams are closed after this).
	h.streamMu.Lock()
	defer h.streamMu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	if on {
		h.running = true
		return
	}
	h.ended = true
	h.pending = nil
}

// StreamSpec is a unidirectional stream started through a Handle.
type StreamSpec struct {
	URL            string // ws:// or wss://
	Name           string // default: its sid
	Track          flexml.Track
	StatusCallback string // optional: Twilio's stream events are posted there
	Params         []flexml.Parameter
}

// StreamInfo describes one live stream of a call.
type StreamInfo struct {
	Sid, Name     string
	Host          string // the app's host (and port)
	Tracks        []string
	Dialect       string
	Bidirectional bool
	FramesSent    uint64
	QueueDepth    int // media frames waiting to be sent
	// Latency is the latest sampled time a frame spent in the gateway
	// before its write to the app ended (0 before the first sample).
	Latency time.Duration
}

// StartStream starts a unidirectional stream on the call, beside its
// document, through the same engine as <Start><Stream>.
func (h *Handle) StartStream(s StreamSpec) (StreamInfo, error) {
	h.streamMu.Lock()
	defer h.streamMu.Unlock()
	h.mu.Lock()
	ok := h.running && !h.ended && h.r.c.Context().Err() == nil
	h.mu.Unlock()
	if !ok {
		return StreamInfo{}, ErrNotRunning
	}
	v := &flexml.Stream{URL: s.URL, Name: s.Name, Track: s.Track, StatusCallback: s.StatusCallback, Parameters: s.Params}
	sid := newStreamSid()
	if v.Name == "" {
		v.Name = sid
	}
	ls, err := h.r.streams.startErr(h.r.c.Context(), v, false, sid)
	if err != nil {
		return StreamInfo{}, err
	}
	return ls.info(h.in.cfg.Dialect.Name()), nil
}

// StopStream stops the unidirectional stream called name (or with that
// sid): it sends stop and closes.
func (h *Handle) StopStream(name string) error {
	if !h.r.streams.stopNamed(name, "API") {
		return ErrNoStream
	}
	return nil
}

// Streams returns the call's live streams.
func (h *Handle) Streams() []StreamInfo {
	ss := h.r.streams
	ss.mu.Lock()
	live := append([]*liveStream(nil), ss.live...)
	ss.mu.Unlock()
	out := make([]StreamInfo, 0, len(live))
	for _, l := range live {
		if l.sock == nil {
			continue
		}
		out = append(out, l.info(h.in.cfg.Dialect.Name()))
	}
	return out
}

func (l *liveStream) info(dialect string) StreamInfo {
	st := l.sock.Stats()
	return StreamInfo{Sid: l.sid, Name: l.name, Host: l.host, Tracks: l.tracks, Dialect: dialect,
		Bidirectional: l.bidi, FramesSent: st.MediaSent, QueueDepth: st.QueuedFrames, Latency: st.FrameLatency}
}

// trackStrings names tracks as stream messages do.
func trackStrings(ts []stream.Track) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.String()
	}
	return out
}
