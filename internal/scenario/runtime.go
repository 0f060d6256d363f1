package scenario

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
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
	"github.com/callstream/callstream/internal/sip"
)

//go:embed prelude.js
var preludeSource string

// Runtime runs a JavaScript call scenario: a session per inbound call (it
// implements the gateway's Controller) and per POST /scenarios. Sessions
// are independent: each has its own JavaScript runtime and event loop, and
// a failing session ends alone.
type Runtime struct {
	cfg     Config
	log     *slog.Logger
	name    string
	prog    *goja.Program
	prelude *goja.Program

	mu       sync.Mutex
	fetch    *fetch.Client                   // Net requests, players' audio, WebSocket dials
	cache    *fetch.Cache                    // players' audio by URL
	ownFetch bool                            // fetch was made here: Close closes it
	dial     func(sip.DialConfig) *call.Call // places outgoing calls; nil: none
	closed   bool
	sessions map[string]*session // by access token
	records  map[string]string   // recording file name -> path
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
		cfg.RecordDir = os.TempDir()
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
	prog, err := compileScript(filepath.Base(name), src)
	if err != nil {
		return nil, err
	}
	prelude, err := goja.Compile("prelude.js", preludeSource, false)
	if err != nil {
		return nil, fmt.Errorf("scenario prelude: %w", err)
	}
	rt := &Runtime{
		cfg:      cfg,
		log:      cfg.Logger.With("scenario", filepath.Base(name)),
		name:     filepath.Base(name),
		prog:     prog,
		prelude:  prelude,
		sessions: map[string]*session{},
		records:  map[string]string{},
	}
	own := cfg.Fetch == nil
	if own {
		cfg.Fetch = fetch.New(fetch.Config{})
	}
	rt.useFetch(cfg.Fetch, cfg.PlayCache, own)
	return rt, nil
}

// UseFetch makes c the client of every session's Net requests, players
// and WebSockets, with a player cache of playCache bytes (0: the default;
// negative: none); the gateway calls it with its client, which holds the
// URL policy. Call it before the first session starts.
func (rt *Runtime) UseFetch(c *fetch.Client, playCache int64) {
	rt.useFetch(c, playCache, false)
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
// file:line:column.
func compileScript(name, src string) (*goja.Program, error) {
	tree, err := parser.ParseFile(nil, name, src, 0)
	if err != nil {
		var list parser.ErrorList
		if errors.As(err, &list) && len(list) > 0 {
			p := list[0].Position
			return nil, fmt.Errorf("%w: %s:%d:%d: SyntaxError: %s", ErrScript, p.Filename, p.Line, p.Column, list[0].Message)
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrScript, name, err)
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
	if err != nil {
		return err
	}
	select {
	case <-c.Done():
	case <-s.ended:
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

// Start starts a session without a call (what POST /scenarios does);
// customData is what VoxEngine.customData() returns.
func (rt *Runtime) Start(customData string) (SessionInfo, error) {
	s, err := rt.start(customData, nil)
	if err != nil {
		return SessionInfo{}, err
	}
	return s.info(), nil
}

func (rt *Runtime) start(customData string, c *call.Call) (*session, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.closed {
		return nil, ErrClosed
	}
	s := newSession(rt, customData)
	if c != nil {
		s.log = s.log.With("call_sid", c.Sid())
	}
	rt.sessions[s.token] = s
	rt.wg.Add(1)
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

// addRecord makes a recording file downloadable under /records/name.
func (rt *Runtime) addRecord(name, path string) string {
	rt.mu.Lock()
	rt.records[name] = path
	rt.mu.Unlock()
	return rt.baseURL() + "/records/" + name
}

func (rt *Runtime) record(name string) (string, bool) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	p, ok := rt.records[name]
	return p, ok
}
