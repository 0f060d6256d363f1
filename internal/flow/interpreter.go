// Package flow runs FlexML documents on calls: it fetches the app's
// document, validates it whole with package flexml, and runs its verbs in
// order, driving the call through package call and streams through package
// stream.
package flow

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/callstream/callstream/flexml"
	"github.com/callstream/callstream/internal/call"
	"github.com/callstream/callstream/internal/fetch"
	"github.com/callstream/callstream/internal/limit"
	"github.com/callstream/callstream/internal/logsafe"
	"github.com/callstream/callstream/internal/records"
	"github.com/callstream/callstream/internal/sip"
	"github.com/callstream/callstream/internal/stream"
	"github.com/callstream/callstream/internal/tts"
	"github.com/callstream/callstream/internal/webhook"
)

// Defaults of the interpreter.
const (
	DefaultTimeout       = 5 * time.Second
	DefaultMaxStreams    = 4
	DefaultMaxRedirects  = 10
	APIVersion           = "2.0"
	streamCloseWait      = 3 * time.Second
	defaultStatusTimeout = 5 * time.Second
)

// Config configures the interpreter.
type Config struct {
	App     string // http(s) URL or file path of the first document
	Method  string // POST (JSON body) or GET (query parameters)
	Timeout time.Duration
	// Fetch fetches documents after the first, Play audio and status
	// callbacks, and dials streams, through the gateway's URL policy
	// (default: a client with the default policy that trusts App's origin).
	Fetch *fetch.Client
	// PlayCache bounds the decoded Play audio kept for reuse by later calls
	// (default 64 MiB; negative: none kept).
	PlayCache int64
	// TTS speaks Say verbs; nil skips them with a warning.
	TTS *tts.Synth
	// Records keeps the recordings of Record verbs (nil: a Record is
	// skipped with an error). BaseURL returns the scheme and host the
	// gateway's HTTP listener is reached at, which a recording's URL
	// starts with (nil: http://127.0.0.1).
	Records      *records.Store
	BaseURL      func() string
	Dialect      stream.Dialect
	MaxStreams   int           // unidirectional streams per call (default 4)
	Queue        time.Duration // audio queued towards a slow app (default 2 s)
	PlayoutLimit time.Duration // app audio queued ahead on a bidirectional stream (default 60 s)
	AccountSid   string
	// AppDialect encodes requests to the app: CarrierX's JSON (default) or
	// Twilio's signed forms, with AuthToken (none: unsigned).
	AppDialect webhook.Dialect
	AuthToken  string
	WSTLS      *tls.Config // wss:// streams (nil: the system's roots)
	Logger     *slog.Logger
	// Metrics, when set, counts stream and app events.
	Metrics Metrics
	// StatusCallback, when set, takes the status callback URL an app's
	// answer to a document request gives its call (HeaderStatusCallback).
	StatusCallback StatusCallbackFunc
	// PSTNTrunk is the SIP host[:port] a <Dial><Number> calls through
	// (sip:NUMBER@PSTNTrunk); empty: numbers cannot be dialled.
	PSTNTrunk string
	// CallerID is the From user of a <Dial> whose document gives no
	// callerId and whose caller has no user part (default "callstream").
	CallerID string

	// Stream bounds and reconnect of every stream the interpreter opens.
	WSMaxMessage int64         // largest message read from an app (0: 1 MiB; negative: no bound)
	PendingMarks int           // Twilio marks pending per stream (0: 1,000; negative: no bound)
	Reconnect    time.Duration // how long a dropped stream is reconnected for (0: 5 s; negative: never)
	Refusals     limit.Counter // counts the bounds streams hit
}

// Metrics receives stream and app events for the gateway's metrics;
// implementations must not block.
type Metrics interface {
	// StreamStarted counts a stream that started on sock; sock's counters
	// may be read while it runs.
	StreamStarted(dialect string, sock *stream.Socket)
	// StreamConnected observes how long a stream's WebSocket took to open.
	StreamConnected(dialect string, d time.Duration)
	// StreamEnded counts a stream whose socket has ended and released
	// everything (its counters are final), with the error that ended it
	// (nil for a clean close; wrapping stream.ErrDial when it never opened).
	StreamEnded(dialect string, sock *stream.Socket, err error)
	// AppFetched observes one request for a document from the app: how
	// long it took and whether it failed (network, timeout, HTTP status,
	// size).
	AppFetched(d time.Duration, err error)
	// Observer gets the streams' sampled frame latencies and queue depths.
	stream.Observer
}

// Interpreter runs FlexML for calls. One Interpreter serves every call.
type Interpreter struct {
	cfg   Config
	fetch *fetch.Client
	cache *fetch.Cache // Play audio by URL and call format
	// dialer places a <Dial>'s call (set once by UseDialer; nil: Dial fails).
	dialer atomic.Pointer[func(sip.DialConfig) *call.Call]
}

// New returns an interpreter with defaults filled in.
func New(cfg Config) *Interpreter {
	if cfg.Method == "" {
		cfg.Method = http.MethodPost
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Fetch == nil {
		cfg.Fetch = fetch.New(fetch.Config{Trusted: cfg.App})
	}
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = DefaultMaxStreams
	}
	if cfg.Queue <= 0 {
		cfg.Queue = stream.DefaultQueue
	}
	if cfg.PlayoutLimit <= 0 {
		cfg.PlayoutLimit = stream.DefaultPlayoutLimit
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cache := cfg.Fetch.NewCache(fetch.CacheConfig{
		MaxBytes: cfg.PlayCache,
		MaxFetch: maxAudio,
		Timeout:  2 * cfg.Timeout,
	})
	return &Interpreter{cfg: cfg, fetch: cfg.Fetch, cache: cache}
}

// run is the state of one call's FlexML execution.
type run struct {
	in      *Interpreter
	c       *call.Call
	log     *slog.Logger
	req     Request
	docURL  string // where the running document came from
	streams *streamSet
}

// Run runs the app's FlexML on c until the document ends (then it hangs
// up) or the call ends. It returns nil for a call that ended normally.
func (in *Interpreter) Run(ctx context.Context, c *call.Call) error {
	return in.Prepare(c).Run(ctx)
}

// Run runs the app's FlexML on the handle's call, as Interpreter.Run; the
// handle redirects it meanwhile.
func (h *Handle) Run(ctx context.Context) error {
	r, c := h.r, h.r.c
	defer r.streams.closeAll()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The call ending cancels the run (no goroutine waits for it).
	defer context.AfterFunc(c.Context(), cancel)()
	h.setRunning(true)
	defer h.setRunning(false)

	method, loc, results := h.firstMethod, h.firstURL, Results{}
	inline := h.firstDoc // a document given through the handle
	for hops := 0; ; hops++ {
		if hops > DefaultMaxRedirects {
			r.fail(fmt.Errorf("%w: more than %d redirects", errInvalidApp, DefaultMaxRedirects), loc)
			return nil
		}
		dctx, endDoc := h.beginDocument(ctx)
		doc, err := inline, error(nil)
		if doc == nil {
			r.req.Results = results
			doc, err = r.load(dctx, method, loc)
		}
		var next *redirect
		if err == nil {
			next, err = r.exec(dctx, doc)
		}
		endDoc()
		if ctx.Err() != nil || c.Context().Err() != nil {
			return nil
		}
		if u := h.take(); u != nil {
			// Interrupted from outside: the next document replaces this
			// one, whatever it was doing.
			r.streams.stopBidi()
			r.log.Info("flexml: redirected", "url", logsafe.URL(u.url), "inline", u.doc != nil)
			hops, inline = -1, u.doc
			method, loc, results = u.method, u.url, Results{}
			continue
		}
		if err != nil {
			if errors.Is(err, call.ErrEnded) {
				return nil
			}
			if doc == nil {
				r.fail(err, loc)
				return nil
			}
			r.log.Error("flexml: verb failed", "url", logsafe.URL(loc), "err", err)
			c.Hangup(reasonAppError)
			return nil
		}
		if next == nil {
			return nil
		}
		inline = nil
		method, loc, results = next.Method, next.URL, next.Results
	}
}

// load fetches and parses one document.
func (r *run) load(ctx context.Context, method, loc string) (*flexml.Document, error) {
	if r.c.Answered() {
		r.req.CallStatus = "in-progress"
	}
	started := time.Now()
	b, err := r.in.fetchDocument(ctx, method, loc, &r.req)
	if m := r.in.cfg.Metrics; m != nil && isURL(loc) && ctx.Err() == nil {
		// A fetch the call's end cut short is not the app's failure.
		m.AppFetched(time.Since(started), err)
	}
	if err != nil {
		return nil, err
	}
	r.docURL = loc
	// Errors and warnings name the document by its URL without the query.
	doc, err := flexml.Parse(logsafe.URL(loc), b)
	if err != nil {
		return nil, fmt.Errorf("%w: invalid FlexML: %w", errInvalidApp, err)
	}
	for _, w := range doc.Warnings {
		r.log.Warn("flexml warning", "url", logsafe.URL(loc), "warning", w.Error())
	}
	r.warnDial(doc, loc)
	return doc, nil
}

// What callers are told when the app fails. The cause, the URL and what
// the app sent are for the operator's log only: a caller may be anyone.
const (
	reasonAppUnavailable = "application unavailable" // not reached, non-2xx, timed out
	reasonAppError       = "application error"       // an invalid document, too many redirects, a verb that failed
)

// errInvalidApp is wrapped by a document the app sent that cannot run.
var errInvalidApp = errors.New("invalid app document")

// fail ends the call after the app could not give a usable document:
// before answer with a SIP 500, after answer by hanging up. The caller
// gets a generic reason; the log line has the CallSid, the URL (without its
// query string) and the cause.
func (r *run) fail(err error, loc string) {
	r.log.Error("flexml: app failed", "url", logsafe.URL(loc), "err", err)
	reason := reasonAppUnavailable
	if errors.Is(err, errInvalidApp) {
		reason = reasonAppError
	}
	if r.c.Answered() {
		r.c.Hangup(reason)
		return
	}
	_ = r.c.Reject(500, reason)
}

// redirect is where a Redirect verb, or a verb's action, sends the call:
// the next document's request, with the verb's results.
type redirect struct {
	Method, URL string
	Results     Results
}

// exec runs the verbs of one document. It returns the next document's
// request after a Redirect or a verb's action, or nil when the call is
// over.
func (r *run) exec(ctx context.Context, doc *flexml.Document) (*redirect, error) {
	for _, v := range doc.Verbs {
		if ctx.Err() != nil {
			return nil, call.ErrEnded
		}
		switch v := v.(type) {
		case *flexml.Start:
			// Streams attach before the answer so the caller's first frame is theirs.
			for _, s := range v.Streams {
				r.streams.start(ctx, s, false)
			}
			if err := r.c.Answer(); err != nil {
				return nil, err
			}
		case *flexml.Stop:
			for _, s := range v.Streams {
				r.streams.stop(s.Name)
			}
		case *flexml.Connect:
			if err := r.streams.connect(ctx, v.Stream); err != nil {
				return nil, err
			}
		case *flexml.Pause:
			if err := r.c.Answer(); err != nil {
				return nil, err
			}
			if pause(ctx, v.Length) != nil {
				return nil, call.ErrEnded
			}
		case *flexml.Play:
			if err := r.playVerb(ctx, v); err != nil {
				return nil, err
			}
		case *flexml.Dtmf:
			if err := r.sendDigits(ctx, v.Digits); err != nil {
				return nil, err
			}
		case *flexml.Gather:
			next, err := r.gather(ctx, v)
			if err != nil || next != nil {
				return next, err
			}
		case *flexml.Say:
			if err := r.say(ctx, v); err != nil {
				return nil, err
			}
		case *flexml.Dial:
			next, err := r.dial(ctx, v)
			if err != nil || next != nil {
				return next, err
			}
		case *flexml.Record:
			next, err := r.record(ctx, v)
			if err != nil || next != nil {
				return next, err
			}
		case *flexml.Hangup:
			r.c.Hangup("hangup verb")
			return nil, nil
		case *flexml.Reject:
			if r.c.Answered() {
				r.c.Hangup("reject verb after answer")
				return nil, nil
			}
			_ = r.c.Reject(v.Code, v.Reason)
			return nil, nil
		case *flexml.Redirect:
			u, err := resolve(r.docURL, v.URL)
			if err != nil {
				return nil, fmt.Errorf("redirect %q: %w", v.URL, err)
			}
			return &redirect{Method: v.Method, URL: u}, nil
		default:
			return nil, fmt.Errorf("%s: verb %s cannot run", r.docURL, v.VerbName())
		}
	}
	if ctx.Err() != nil {
		// Interrupted in its last verb: not the end of the document.
		return nil, call.ErrEnded
	}
	r.c.Hangup("end of document")
	return nil, nil
}

// playVerb runs a Play verb: it sends its digits, or plays its audio. A
// Play that fails is logged and the document goes on; it returns an error
// only when the call or ctx has ended.
func (r *run) playVerb(ctx context.Context, v *flexml.Play) error {
	if v.Digits != "" {
		return r.sendDigits(ctx, v.Digits)
	}
	if err := r.play(ctx, v); err != nil {
		if errors.Is(err, call.ErrEnded) || ctx.Err() != nil {
			return call.ErrEnded
		}
		r.log.Error("play failed", "url", logsafe.URL(v.URL), "err", err)
	}
	return nil
}

// play plays a Play verb's audio file (WAV or MP3, see decodeAudio) Loop
// times: by URL from the Play cache, which keeps it converted for each
// call format and shares it with every call playing it; by path (a
// document read from a file) read for this call.
func (r *run) play(ctx context.Context, v *flexml.Play) error {
	if err := r.c.Answer(); err != nil {
		return err
	}
	loc, err := resolve(r.docURL, v.URL)
	if err != nil {
		return fmt.Errorf("play: %w", err)
	}
	f := r.c.Format()
	var audio []byte
	if isURL(loc) {
		audio, err = r.in.cache.GetVariant(ctx, loc, f.String(), func(rd io.Reader) ([]byte, error) {
			return decodeAudio(rd, f)
		}, r.log)
	} else {
		audio, err = openAudio(loc, f)
	}
	if err != nil {
		return fmt.Errorf("play %s: %w", logsafe.URL(loc), err)
	}
	return r.c.PlayAudio(ctx, audio, f, v.Loop)
}

// baseURL is the scheme and host recording URLs start with.
func (in *Interpreter) baseURL() string {
	if in.cfg.BaseURL != nil {
		if u := in.cfg.BaseURL(); u != "" {
			return strings.TrimRight(u, "/")
		}
	}
	return "http://127.0.0.1"
}
