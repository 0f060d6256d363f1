package scenario

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dop251/goja"

	"github.com/callstream/callstream/internal/call"
	"github.com/callstream/callstream/internal/fetch"
	"github.com/callstream/callstream/internal/sip"
)

// Kind is what a member of the scenario API is.
type Kind uint8

// The kinds of members.
const (
	KindAny      Kind = iota // a value of no fixed shape (a proxy, null)
	KindFunction             // a function or method
	KindString               // a string constant
	KindNumber               // a number constant
	KindBool                 // a boolean constant
	KindObject               // an object with members of its own
)

// Member is one global or one member of a global or of an object the
// runtime makes (a Call, a Player, ...).
type Member struct {
	Name  string
	Kind  Kind
	Value string   // a constant's value (KindString, KindNumber, KindBool)
	Class bool     // a function that is a constructor of one of the Types
	Items []Member // an object's members, by name
	// NotSupported is why the member exists but refuses to run ("": it
	// runs).
	NotSupported string
}

// Type is an object the runtime makes for a scenario, with its members.
type Type struct {
	Name    string // Call, Player, Recorder, WebSocket
	Members []Member
}

// Surface is the scenario API as a session sees it: the globals the
// runtime adds to JavaScript's own, and the members of the objects its
// functions return.
type Surface struct {
	Globals []Member // by name
	Types   []Type   // by name
}

// unsupportedMember reports whether a member ("VoxEngine.createASR",
// "Call.transferTo") exists only to refuse with a not-supported error, and
// why: the refused functions of apiTable. Tests replace it.
var unsupportedMember = refusedInTable

// refusedInTable looks member up among apiTable's refused functions.
func refusedInTable(member string) (reason string, ok bool) {
	for _, m := range apiTable {
		if m.Path == member && m.Kind == apiFunction && !m.Implemented {
			return m.Hint, true
		}
	}
	return "", false
}

// Global returns the global called name.
func (sf *Surface) Global(name string) (Member, bool) {
	i, ok := slices.BinarySearchFunc(sf.Globals, name, func(m Member, n string) int { return compareStrings(m.Name, n) })
	if !ok {
		return Member{}, false
	}
	return sf.Globals[i], true
}

// Item returns m's member called name.
func (m Member) Item(name string) (Member, bool) {
	i, ok := slices.BinarySearchFunc(m.Items, name, func(x Member, n string) int { return compareStrings(x.Name, n) })
	if !ok {
		return Member{}, false
	}
	return m.Items[i], true
}

func compareStrings(a, b string) int { return strings.Compare(a, b) }

// surfaceTimeout bounds how long making the surface's session may take.
const surfaceTimeout = 10 * time.Second

// APISurface returns the scenario API: it starts a session of an empty
// scenario without a call and without network access, makes one object of
// every type (a Call whose dial fails at once, a Player, a Recorder, a
// WebSocket whose dial is refused) and walks them and the globals.
func APISurface() (*Surface, error) {
	var sf *Surface
	err := sandboxSession("surface.js", "'use strict';\n", "", slog.New(slog.DiscardHandler), func(s *session) {
		sf = s.surface()
	})
	if err != nil {
		return nil, err
	}
	if sf == nil {
		return nil, errors.New("scenario API surface: the session ended before it was walked")
	}
	return sf, nil
}

// SandboxFetch returns a client that refuses every request and dial: the
// network of a session run to inspect a scenario.
func SandboxFetch() *fetch.Client {
	all := []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
	return fetch.New(fetch.Config{Policy: fetch.NewPolicy(fetch.PolicyConfig{Deny: all}), DialTimeout: time.Second, Timeout: time.Second})
}

// sandboxSession runs the scenario src in a session without a call (with
// customData) whose
// network is refused and whose outgoing calls fail at once, runs job on
// its loop once the top level and Started have run (job does not run if
// the session ends first), and then ends the session and the runtime.
func sandboxSession(name, src, customData string, log *slog.Logger, job func(*session)) error {
	dir, err := os.MkdirTemp("", "callstream-sandbox-")
	if err != nil {
		return fmt.Errorf("scenario sandbox: %w", err)
	}
	defer os.RemoveAll(dir)
	client := SandboxFetch()
	defer client.Close()
	rt, err := New(Config{File: name, Source: src, RecordDir: dir, Fetch: client, Logger: log})
	if err != nil {
		return err
	}
	var (
		mu    sync.Mutex
		calls []*call.Call
	)
	rt.UseDialer(func(dc sip.DialConfig) *call.Call {
		// No port pool and no address: the dial fails before it sends
		// anything, and the dialer refuses should it get that far.
		c := call.Dial(call.Config{Sid: "sandbox", Logger: log}, refusedDialer{}, dc)
		mu.Lock()
		calls = append(calls, c)
		mu.Unlock()
		return c
	})
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range calls {
			_ = c.Close()
		}
	}()
	defer rt.Close()
	s, err := rt.start(customData, nil)
	if err != nil {
		return err
	}
	done := make(chan struct{})
	s.post(func() {
		defer close(done)
		if s.state == stateRunning {
			job(s)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), surfaceTimeout)
	defer cancel()
	select {
	case <-done:
	case <-s.ended:
	case <-ctx.Done():
		return fmt.Errorf("scenario sandbox: %w", ctx.Err())
	}
	s.post(func() { s.terminate("sandbox done") })
	return nil
}

// errSandboxDial is every outgoing call of a sandbox session.
var errSandboxDial = errors.New("scenario sandbox: outgoing calls are refused")

// refusedDialer places no call.
type refusedDialer struct{}

func (refusedDialer) Dial(context.Context, sip.DialConfig) (*sip.Outgoing, error) {
	return nil, errSandboxDial
}

// surface walks the session's globals and one object of every type (loop).
func (s *session) surface() *Surface {
	builtin := map[string]bool{}
	for _, n := range goja.New().GlobalObject().GetOwnPropertyNames() {
		builtin[n] = true
	}
	types := map[string]*goja.Object{
		"Player":   s.newPlayer(nil, true).obj,
		"Recorder": s.newRecorder().obj,
	}
	if v, ok := s.dial("callSIP", sip.DialConfig{Target: "sip:sandbox@sandbox.invalid"}).(*goja.Object); ok {
		types["Call"] = v
	}
	types["WebSocket"] = s.newSocket("ws://127.0.0.1:9/", nil, nil, nil).obj

	sf := &Surface{}
	g := s.vm.GlobalObject()
	for _, name := range g.GetOwnPropertyNames() {
		if builtin[name] {
			continue
		}
		m := s.walk(name, name, g.Get(name), 0)
		if _, ok := types[name]; ok && m.Kind == KindFunction {
			m.Class = true
		}
		sf.Globals = append(sf.Globals, m)
	}
	slices.SortFunc(sf.Globals, func(a, b Member) int { return compareStrings(a.Name, b.Name) })
	for name, obj := range types {
		t := Type{Name: name}
		seen := map[string]bool{}
		for o := obj; o != nil; o = o.Prototype() {
			if o == s.vm.NewObject().Prototype() {
				break // Object.prototype: JavaScript's own
			}
			for _, k := range o.GetOwnPropertyNames() {
				if seen[k] || k == "constructor" {
					continue
				}
				seen[k] = true
				t.Members = append(t.Members, s.walk(name+"."+k, k, o.Get(k), 1))
			}
		}
		slices.SortFunc(t.Members, func(a, b Member) int { return compareStrings(a.Name, b.Name) })
		sf.Types = append(sf.Types, t)
	}
	slices.SortFunc(sf.Types, func(a, b Type) int { return compareStrings(a.Name, b.Name) })
	return sf
}

// walk describes the value v of the member path (named name); objects are
// walked two levels deep.
func (s *session) walk(path, name string, v goja.Value, depth int) Member {
	m := Member{Name: name}
	if reason, ok := unsupportedMember(path); ok {
		m.NotSupported = reason
	}
	if isNothing(v) {
		return m
	}
	if _, ok := goja.AssertFunction(v); ok {
		if _, proxy := v.Export().(goja.Proxy); !proxy {
			m.Kind = KindFunction
			return m
		}
	}
	switch x := v.Export().(type) {
	case string:
		m.Kind, m.Value = KindString, x
		return m
	case int64, float64:
		m.Kind, m.Value = KindNumber, v.String()
		return m
	case bool:
		m.Kind, m.Value = KindBool, v.String()
		return m
	case goja.Proxy:
		return m // any path (VoiceList.Provider.voice)
	}
	o := asObject(v)
	if o == nil || depth >= 2 {
		return m
	}
	m.Kind = KindObject
	for _, k := range o.GetOwnPropertyNames() {
		m.Items = append(m.Items, s.walk(path+"."+k, k, o.Get(k), depth+1))
	}
	slices.SortFunc(m.Items, func(a, b Member) int { return compareStrings(a.Name, b.Name) })
	return m
}
