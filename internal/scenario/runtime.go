package scenario

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/dop251/goja"
	"github.com/dop251/goja/parser"

	"github.com/callstream/callstream/internal/call"
	"github.com/callstream/callstream/internal/fetch"
	"github.com/callstream/callstream/internal/limit"
	"github.com/callstream/callstream/internal/records"
	"github.com/callstream/callstream/internal/sip"
	"github.com/callstream/callstream/internal/tts"
)

//go:embed prelude.js
var preludeSource string

// sessionsRetryAfter is the Retry-After of a POST /scenarios refused
// because the sessions are full.
const sessionsRetryAfter = 5 * time.Second

// Runtime runs a JavaScript call scenario: a session per inbound call (it
// implements the gateway's Controller) and per POST /scenarios. Sessions
// are independent: each has its own JavaScript runtime and event loop, and
// a failing session ends alone. At most Bounds.Sessions run at once.
type Runtime struct {
	cfg       Config
	log       *slog.Logger
	name      string
	prog      *goja.Program
	prelude   *goja.Program
	bounds    limit.Limits             // cfg.Bounds with its defaults
	startRate *limit.Buckets[struct{}] // POST /scenarios; nil: no bound
	warn      *limit.Warner            // refusals, at most one line a second
	heap      *heapMonitor             // nil when ScenarioHeap is off (owned)
	records   *records.Store           // owned

	mu       sync.Mutex
	fetch    *fetch.Client                   // Net requests, players' audio, WebSocket dials
	cache    *fetch.Cache                    // players' audio by URL
	ownFetch bool                            // fetch was made here: Close closes it
	synth    *tts.Synth                      // say and createTTSPlayer
	ownSynth bool                            // synth was made here: Close closes it
	dial     func(sip.DialConfig) *call.Call // places outgoing calls; nil: none
	closed   bool
	sessions map[string]*session // by access token
	wg       sync.WaitGroup
}

// SessionInfo describes a running session.
type SessionInfo struct {
	ID              string // sessionId
	AccessURL       string // http://host/request/<token>
	AccessSecureURL string // the same with https
	WebSocketURL    string // the access URL with ws, for incoming sockets
	Calls           int    // calls in the session now
}

// New reads and compiles the scenario. A syntax error is returned with its
// file, line and column.
func New(cfg Config) (*Runtime, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Limits = cfg.Limits.withDefaults()
	if cfg.TTSCommand == "" {
		cfg.TTSCommand = "espeak-ng"
	}
	if cfg.RecordDir == "" {
		cfg.RecordDir = filepath.Join(os.TempDir(), "callstream")
	}
	if cfg.RecordTTL == 0 {
		cfg.RecordTTL = records.DefaultTTL
	}
	src := cfg.Source
	name := cfg.File
	if src == "" {
		if cfg.File == "" {
			return nil, fmt.Errorf("%w: no scenario file", ErrScript)
		}
		b, err := os.ReadFile(cfg.File)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrScript, err)
		}
		src = string(b)
	}
	if name == "" {
		name = "scenario.js"
	}
	bounds := cfg.Bounds.WithDefaults()
	prog, err := compileScript(filepath.Base(name), src, limit.On(bounds.ScenarioHeap))
	if err != nil {
		return nil, err
	}
	prelude, err := goja.Compile("prelude.js", preludeSource, false)
	if err != nil {
		return nil, fmt.Errorf("scenario prelude: %w", err)
	}
	log := cfg.Logger.With("scenario", filepath.Base(name))
	store, err := records.Open(cfg.RecordDir, cfg.RecordTTL, log)
	if err != nil {
		return nil, err
	}
	rt := &Runtime{
		cfg:      cfg,
		log:      log,
		name:     filepath.Base(name),
		prog:     prog,
		prelude:  prelude,
		bounds:   bounds,
		warn:     limit.NewWarner(log, slog.LevelWarn, time.Second),
		records:  store,
		sessions: map[string]*session{},
	}
	if r := rt.bounds.SessionRate; limit.On(r) {
		rt.startRate = limit.NewBuckets[struct{}](r, int(math.Ceil(r)))
	}
	if h := rt.bounds.ScenarioHeap; limit.On(h) {
		rt.heap = newHeapMonitor(h)
	}
	own := cfg.Fetch == nil
	if own {
		cfg.Fetch = fetch.New(fetch.Config{})
	}
	rt.useFetch(cfg.Fetch, cfg.PlayCache, own)
	rt.synth, rt.ownSynth = tts.New(tts.Config{Command: cfg.TTSCommand, Logger: log}), true
	return rt, nil
}

// Shared is what a gateway shares with the runtime, which is built before
// it: its limits (WSMessage bounds the sessions' WebSocket messages), its
// refusal counter, and its outbound client (which holds the URL policy)
// with the Play cache's size (0: the default; negative: none).
type Shared struct {
	Limits    limit.Limits
	Refusals  limit.Counter
	Fetch     *fetch.Client
	PlayCache int64
	// TTS, when set, is the gateway's speech synthesizer, used instead of
	// the runtime's own when both run the same program (TTSCommand).
	TTS *tts.Synth
}

// UseGateway takes what the gateway shares. Call it before the runtime
// serves anything.
func (rt *Runtime) UseGateway(sh Shared) {
	rt.mu.Lock()
	rt.cfg.WSMaxMessage = sh.Limits.WithDefaults().WSMessage
	rt.cfg.Refusals = sh.Refusals
	rt.mu.Unlock()
	if sh.Fetch != nil {
		rt.useFetch(sh.Fetch, sh.PlayCache, false)
	}
	if sh.TTS != nil && sh.TTS.Command() == rt.cfg.TTSCommand {
		// The same program: one synthesizer, one cache, one set of
		// counters for FlexML and scenarios.
		rt.mu.Lock()
		old, own := rt.synth, rt.ownSynth
		rt.synth, rt.ownSynth = sh.TTS, false
		rt.mu.Unlock()
		if own {
			old.Close()
		}
	}
}

// synthesizer returns the speech synthesizer of say and createTTSPlayer.
func (rt *Runtime) synthesizer() *tts.Synth {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.synth
}

func (rt *Runtime) useFetch(c *fetch.Client, playCache int64, own bool) {
	cache := c.NewCache(fetch.CacheConfig{
		MaxBytes: playCache,
		MaxFetch: rt.cfg.Limits.FetchSize,
		Timeout:  fetch.DefaultTimeout,
		Decode: func(r io.Reader) ([]byte, error) {
			return decodeClipFrom(r, int(rt.cfg.Limits.FetchSize))
		},
	})
	rt.mu.Lock()
	prev, prevOwn := rt.fetch, rt.ownFetch
	rt.fetch, rt.cache, rt.ownFetch = c, cache, own
	rt.mu.Unlock()
	if prevOwn && prev != c {
		prev.Close()
	}
}

// fetcher returns the client and the player cache.
func (rt *Runtime) fetcher() (*fetch.Client, *fetch.Cache) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.fetch, rt.cache
}

// compileScript compiles a scenario; a syntax error names its place as
// file:line:column. With noBigInt, a BigInt literal is an error (the heap
// guards cannot bound BigInt arithmetic).
func compileScript(name, src string, noBigInt bool) (*goja.Program, error) {
	tree, err := parser.ParseFile(nil, name, src, 0)
	if err != nil {
		var list parser.ErrorList
		if errors.As(err, &list) && len(list) > 0 {
			p := list[0].Position
			return nil, fmt.Errorf("%w: %s:%d:%d: SyntaxError: %s", ErrScript, p.Filename, p.Line, p.Column, list[0].Message)
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrScript, name, err)
	}
	if idx, ok := bigIntLiteral(tree); noBigInt && ok {
		return nil, fmt.Errorf("%w: %s: BigInt is not available in scenarios: one BigInt operation can allocate more memory than any limit allows", ErrScript, tree.File.Position(int(idx)-tree.File.Base()))
	}
	prog, err := goja.CompileAST(tree, false)
	if err != nil {
		var cse *goja.CompilerSyntaxError
		if errors.As(err, &cse) && cse.File != nil {
			return nil, fmt.Errorf("%w: %s: SyntaxError: %s", ErrScript, cse.File.Position(cse.Offset), cse.Message)
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrScript, name, err)
	}
	return prog, nil
}

// Run runs one inbound call: it starts a session, which gets
// AppEvents.Started and AppEvents.CallAlerting, and returns when the call
// ends or the session ends. The session may outlive the call (its sockets
// stay open until the script closes them or the session ends).
func (rt *Runtime) Run(ctx context.Context, c *call.Call) error {
	s, err := rt.start(rt.cfg.CustomData, c)
	if errors.Is(err, ErrTooManySessions) {
		// Counted and logged by start; the caller may try again later.
		_ = c.Reject(503, "scenario sessions full")
		return nil
	}
	if err != nil {
		return err
	}
	select {
	case <-c.Done():
	case <-s.ended:
	case <-s.letGo:
		// Released (Release): the call goes on without the session.
	case <-ctx.Done():
		// The dialog ended (or the gateway is stopping): let the call
		// record why before the gateway closes it.
		t := time.NewTimer(time.Second)
		defer t.Stop()
		select {
		case <-c.Done():
		case <-s.ended:
		case <-t.C:
		}
	}
	return nil
}

// UseDialer makes dial the way sessions place outgoing calls
// (VoxEngine.callSIP, callPSTN); the gateway calls it with its Dial.
func (rt *Runtime) UseDialer(dial func(sip.DialConfig) *call.Call) {
	rt.mu.Lock()
	rt.dial = dial
	rt.mu.Unlock()
}

func (rt *Runtime) dialer() func(sip.DialConfig) *call.Call {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.dial
}

// count counts one refusal.
func (rt *Runtime) count(r limit.Refusal) {
	rt.mu.Lock()
	c := rt.cfg.Refusals
	rt.mu.Unlock()
	limit.Count(c, r)
}

// Start starts a session without a call (what POST /scenarios does);
// customData is what VoxEngine.customData() returns.
func (rt *Runtime) Start(customData string) (SessionInfo, error) {
	s, err := rt.start(customData, nil)
	if err != nil {
		return SessionInfo{}, err
	}
	return s.info(), nil
}

// start starts a session, for the call c or (nil) without one. Over
// Bounds.Sessions it returns ErrTooManySessions, counted and logged.
func (rt *Runtime) start(customData string, c *call.Call) (*session, error) {
	rt.mu.Lock()
	if rt.closed {
		rt.mu.Unlock()
		return nil, ErrClosed
	}
	if n, max := len(rt.sessions), rt.bounds.Sessions; limit.On(max) && n >= max {
		rt.mu.Unlock()
		rt.count(limit.Sessions)
		args := []any{"max_sessions", max}
		if c != nil {
			args = append(args, "call_sid", c.Sid())
		}
		rt.warn.Log("scenario session refused: too many sessions", args...)
		return nil, fmt.Errorf("%w: %d run already, at most %d at once", ErrTooManySessions, n, max)
	}
	s := newSession(rt, customData)
	s.own = c
	if c != nil {
		s.log = s.log.With("call_sid", c.Sid())
	}
	rt.sessions[s.token] = s
	rt.wg.Add(1)
	rt.mu.Unlock()
	go s.main(c)
	return s, nil
}

func (s *session) info() SessionInfo {
	access, secure := s.accessURLs()
	return SessionInfo{
		ID:              s.id,
		AccessURL:       access,
		AccessSecureURL: secure,
		WebSocketURL:    s.wsURL(),
		Calls:           int(s.liveCalls.Load()),
	}
}

// remove forgets a session that has ended.
func (rt *Runtime) remove(s *session) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.sessions[s.token] == s {
		delete(rt.sessions, s.token)
	}
}

// session returns the running session with the access token.
func (rt *Runtime) session(token string) *session {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.sessions[token]
}

// Sessions lists the running sessions, oldest id order not guaranteed.
func (rt *Runtime) Sessions() []SessionInfo {
	rt.mu.Lock()
	list := make([]*session, 0, len(rt.sessions))
	for _, s := range rt.sessions {
		list = append(list, s)
	}
	rt.mu.Unlock()
	out := make([]SessionInfo, 0, len(list))
	for _, s := range list {
		out = append(out, s.info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Close ends every session (hanging up their calls, closing their sockets)
// and waits for them. New sessions are refused afterwards.
func (rt *Runtime) Close() error {
	rt.mu.Lock()
	rt.closed = true
	list := make([]*session, 0, len(rt.sessions))
	for _, s := range rt.sessions {
		list = append(list, s)
	}
	rt.mu.Unlock()
	for _, s := range list {
		s.post(func() { s.terminate("runtime closing") })
	}
	rt.wg.Wait()
	rt.mu.Lock()
	c, own := rt.fetch, rt.ownFetch
	rt.mu.Unlock()
	if own {
		c.Close()
	} else {
		c.CloseIdleConnections()
	}
	rt.mu.Lock()
	synth, ownSynth := rt.synth, rt.ownSynth
	rt.mu.Unlock()
	if ownSynth {
		synth.Close()
	}
	rt.records.Close()
	rt.heap.close()
	return nil
}

// baseURL is the scheme and host access URLs start with.
func (rt *Runtime) baseURL() string {
	if rt.cfg.PublicURL != "" {
		return strings.TrimRight(rt.cfg.PublicURL, "/")
	}
	if rt.cfg.HTTPAddr != nil {
		if a := rt.cfg.HTTPAddr(); a != "" {
			return "http://" + a
		}
	}
	return "http://127.0.0.1"
}
