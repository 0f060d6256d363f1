package scenario

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"

	"github.com/callstream/callstream/internal/call"
	"github.com/callstream/callstream/internal/limit"
)

// sessionState is where a session is in its life.
type sessionState uint8

const (
	stateRunning     sessionState = iota
	stateTerminating              // Terminating dispatched, everything closing
	stateTerminated               // the loop stops
)

// session is one run of the scenario: one JavaScript runtime, one event
// loop goroutine that runs every callback, and the calls, sockets, players
// and timers the script made. Go-side events (SIP, media, WebSocket, timers)
// reach the script only through post.
type session struct {
	rt     *Runtime
	id     string // sessionId
	token  string // the access URL's secret path element
	log    *slog.Logger
	lim    Limits
	ctx    context.Context // cancelled when the session has ended
	cancel context.CancelFunc

	qmu     sync.Mutex
	queue   []func()
	spare   []func()
	qclosed bool
	wake    chan struct{} // cap 1: the loop's doorbell

	ended chan struct{} // closed when the loop has stopped (calls hung up, sockets closed)
	own   *call.Call    // the call that started the session (nil: none); set before the loop starts
	letGo chan struct{} // closed when the session has released own (Runtime.Release)
	done  chan struct{} // closed when every goroutine of the session has returned
	wg    sync.WaitGroup

	// Read by the HTTP handlers.
	access    *limit.Buckets[struct{}] // requests to the access URL
	allowWS   atomic.Bool
	liveCalls atomic.Int32
	httpBusy  atomic.Int32  // Net requests in flight
	httpDone  chan struct{} // cap 1: a Net request has finished
	incoming  atomic.Int32  // incoming sockets open now
	closing   atomic.Bool

	clock *mediaClock

	// Loop goroutine only.
	vm          *goja.Runtime
	wd          watchdog
	depth       int
	broken      bool        // a fatal script error: no more JavaScript runs
	loading     bool        // the prelude or the script's top level runs
	rejected    []rejection // promises rejected without a handler, reported after the callback
	state       sessionState
	finalEvents bool // Terminating/Terminated may be dispatched
	app         *eventTarget
	units       map[*goja.Object]any
	calls       []*jsCall
	sockets     []*jsSocket
	players     []*player
	// voicesWarned holds the unknown TTS voices warned about; ttsWarned
	// is set once the missing TTS program has been warned about.
	voicesWarned map[string]bool
	ttsWarned    bool
	recorders    []*recorder
	callFlows    []*callFlow
	callRelays   []*callRelay
	timers       map[int64]*jsTimer
	nextTimer    int64
	customData   string
	idle         *time.Timer
	idleGen      uint64
	nextID       uint64
}

func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func newSession(rt *Runtime, customData string) *session {
	ctx, cancel := context.WithCancel(context.Background())
	s := &session{
		rt:         rt,
		id:         newToken(),
		token:      newToken(),
		lim:        rt.cfg.Limits,
		ctx:        ctx,
		cancel:     cancel,
		wake:       make(chan struct{}, 1),
		httpDone:   make(chan struct{}, 1),
		access:     limit.NewBuckets[struct{}](accessRate, accessBurst),
		ended:      make(chan struct{}),
		letGo:      make(chan struct{}),
		done:       make(chan struct{}),
		units:      map[*goja.Object]any{},
		timers:     map[int64]*jsTimer{},
		customData: customData,
	}
	s.log = rt.log.With("session_id", s.id)
	s.clock = newMediaClock(s)
	return s
}

// post queues f to run on the session's loop. It never blocks and reports
// false once the session has ended.
func (s *session) post(f func()) bool {
	s.qmu.Lock()
	if s.qclosed {
		s.qmu.Unlock()
		return false
	}
	s.queue = append(s.queue, f)
	s.qmu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return true
}

// take returns the queued jobs.
func (s *session) take() []func() {
	s.qmu.Lock()
	jobs := s.queue
	s.queue = s.spare[:0]
	s.spare = nil
	s.qmu.Unlock()
	return jobs
}

// goroutine runs f in a goroutine the session waits for.
func (s *session) goroutine(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// main is the session's loop goroutine: it starts the script, then runs
// posted jobs until the session terminates, then releases everything.
func (s *session) main(c *call.Call) {
	defer s.rt.wg.Done()
	s.goroutine(s.clock.run)
	s.start(c)
	for s.state != stateTerminated {
		<-s.wake
		jobs := s.take()
		for i, j := range jobs {
			jobs[i] = nil
			if s.state == stateTerminated {
				break
			}
			j()
		}
		s.qmu.Lock()
		if s.spare == nil {
			s.spare = jobs[:0]
		}
		s.qmu.Unlock()
	}
	s.qmu.Lock()
	s.qclosed = true
	s.queue = nil
	s.qmu.Unlock()
	s.cancel()
	close(s.ended)
	s.wg.Wait()
	s.rt.remove(s)
	s.log.Info("session ended")
	close(s.done)
}

// start builds the runtime, runs the script and dispatches Started and,
// for a call's session, CallAlerting.
func (s *session) start(c *call.Call) {
	s.vm = goja.New()
	s.vm.SetMaxCallStackSize(2048)
	s.wd = watchdog{vm: s.vm, limit: s.lim.CallbackTime, heap: s.rt.heap, hw: s.rt.heap.newWatch(s.vm)}
	s.vm.SetPromiseRejectionTracker(s.trackRejection)
	if err := s.installGlobals(); err != nil {
		s.log.Error("scenario: globals", "err", err)
		s.broken = true
		s.terminate("globals failed")
		return
	}
	if h := s.rt.bounds.ScenarioHeap; limit.On(h) {
		if err := installHeapGuards(s, h); err != nil {
			s.log.Error("scenario: heap guards", "err", err)
			s.broken = true
			s.terminate("globals failed")
			return
		}
	}
	s.loading = true
	if !s.guard(func() error { _, err := s.vm.RunProgram(s.rt.prelude); return err }) {
		s.terminate("prelude failed")
		return
	}
	s.log.Info("session started", "call", c != nil)
	if !s.guard(func() error { _, err := s.vm.RunProgram(s.rt.prog); return err }) {
		s.terminate("script error")
		return
	}
	s.loading = false
	access, secure := s.accessURLs()
	s.dispatch(s.app, evStarted, s.event(evStarted,
		"accessURL", access,
		"accessSecureURL", secure,
		"sessionId", s.id,
		"applicationId", "",
		"accountId", "",
		"logURL", "",
	))
	if c == nil {
		s.armIdle()
		return
	}
	jc := s.addCall(c)
	if jc == nil {
		return
	}
	if jc.outgoing {
		// A call the REST API placed comes to the scenario answered, as an
		// incoming call: its answer() reports it Connected, its reject()
		// hangs it up.
		jc.outgoing, jc.placed, jc.state = false, true, callAlerting
	}
	inv := c.Parties()
	headers := s.vm.NewObject()
	for k, v := range inv.Headers {
		_ = headers.Set(k, v)
	}
	s.dispatch(s.app, evCallAlerting, s.event(evCallAlerting,
		"call", jc.obj,
		"callerid", inv.From,
		"destination", inv.To,
		"displayName", inv.FromDisplay,
		"headers", headers,
		"toURI", inv.ToURI,
		"fromURI", inv.FromURI,
		"scheme", "sip",
		"customData", s.customData,
	))
}

// accessURLs returns the session's access URLs over http and https.
func (s *session) accessURLs() (string, string) {
	base := s.rt.baseURL()
	rest := base
	if i := strings.Index(base, "://"); i >= 0 {
		rest = base[i+3:]
	}
	path := "/request/" + s.token
	secure := "https://" + rest
	if s.rt.cfg.PublicURL == "" && s.rt.cfg.HTTPSAddr != nil {
		if a := s.rt.cfg.HTTPSAddr(); a != "" {
			secure = "https://" + a // the gateway's own TLS listener
		}
	}
	return "http://" + rest + path, secure + path
}

// wsURL returns the session's WebSocket URL (the access URL with ws).
func (s *session) wsURL() string {
	access, _ := s.accessURLs()
	return "ws" + strings.TrimPrefix(access, "http")
}

// newID returns an id for a unit of this session.
func (s *session) newID(kind string) string {
	s.nextID++
	return fmt.Sprintf("%s-%s-%d", kind, s.id[:8], s.nextID)
}

// guard runs f, which calls into JavaScript, under the callback time and
// heap limits. An error is logged with its place and stack; it ends the
// session when it is fatal (see scriptFailed). Promises rejected without a
// handler while f ran are reported when it returns. It reports whether f
// succeeded.
func (s *session) guard(f func() error) bool {
	if s.broken {
		return false
	}
	var err error
	if s.depth > 0 {
		err = f()
	} else {
		s.depth++
		s.wd.arm()
		err = s.recovered(f)
		s.wd.disarm()
		s.depth--
		s.reportRejections()
	}
	if err != nil {
		s.scriptFailed(err)
		return false
	}
	return true
}

// errGoPanic is a Go panic in the runtime's own code under a callback.
var errGoPanic = errors.New("internal error in the scenario runtime")

// recovered runs f and turns a Go panic that escapes goja (a bug of the
// runtime's API, never of the script) into an error, so that the session
// ends and the process lives. The session runs no more JavaScript after
// it: the runtime's state may be inconsistent.
func (s *session) recovered(f func() error) (err error) {
	defer func() {
		if x := recover(); x != nil {
			s.log.Error("scenario runtime bug: a Go panic in an API call; the session ends", "panic", fmt.Sprint(x), "stack", string(debug.Stack()))
			err = fmt.Errorf("%w: %v", errGoPanic, x)
		}
	}()
	return f()
}

// callJS calls cb under the time limit and reports whether it returned normally.
func (s *session) callJS(cb goja.Callable, this goja.Value, args ...goja.Value) bool {
	return s.guard(func() error {
		_, err := cb(this, args...)
		return err
	})
}

// scriptFailed logs a script error with its place and stack. As on
// Voximplant, an exception a callback (a handler, a timer, a promise job)
// does not catch ends that callback only: the session goes on. The session
// ends for a throw while the script loads, a callback interrupted by a
// limit (time, heap) and a Go panic in the runtime.
func (s *session) scriptFailed(err error) {
	if s.broken {
		return
	}
	attrs := describeError(err)
	var ie *goja.InterruptedError
	if !s.loading && !errors.Is(err, errGoPanic) && !errors.Is(err, ErrHeapLimit) && !errors.As(err, &ie) {
		if s.state == stateRunning {
			s.log.Error("scenario error: uncaught exception in a callback; the session goes on", attrs...)
		} else {
			s.log.Error("scenario error while terminating", attrs...)
		}
		return
	}
	s.broken = true
	if errors.Is(err, ErrHeapLimit) {
		s.rt.count(limit.ScenarioHeap)
		s.log.Error("scenario heap limit exceeded: the session ends", append(attrs, "limit", mib(float64(s.rt.bounds.ScenarioHeap)))...)
		s.post(func() { s.terminate("heap limit") })
		return
	}
	if s.state == stateRunning {
		s.log.Error("scenario error: the session ends", attrs...)
		s.post(func() { s.terminate("script error") })
	} else {
		s.log.Error("scenario error while terminating", attrs...)
	}
}

// rejection is a promise rejected without a handler, and where.
type rejection struct {
	p     *goja.Promise
	at    string // file:line:col of the code that rejected it
	stack string
}

// trackRejection is the runtime's promise rejection tracker: a rejection
// without a handler is kept with the place of the rejecting code until
// the callback returns; a handler added before then forgets it.
func (s *session) trackRejection(p *goja.Promise, op goja.PromiseRejectionOperation) {
	switch op {
	case goja.PromiseRejectionReject:
		if len(s.rejected) >= maxPendingRejections {
			return
		}
		at, stack := stackOf(s.vm.CaptureCallStack(0, nil))
		s.rejected = append(s.rejected, rejection{p: p, at: at, stack: stack})
	case goja.PromiseRejectionHandle:
		for i, r := range s.rejected {
			if r.p == p {
				s.rejected = append(s.rejected[:i], s.rejected[i+1:]...)
				break
			}
		}
	}
}

// maxPendingRejections bounds the rejections one callback may leave.
const maxPendingRejections = 64

// reportRejections logs the promises a callback left rejected without a
// handler: the reason, where the rejected value was made when it is an
// Error, and where the promise was rejected.
func (s *session) reportRejections() {
	for i, r := range s.rejected {
		s.rejected[i] = rejection{}
		attrs := []any{"at", r.at, "stack", r.stack}
		reason := r.p.Result()
		msg := "undefined"
		if reason != nil {
			msg = reason.String()
			if o, ok := reason.(*goja.Object); ok {
				if st := o.Get("stack"); !isNothing(st) {
					attrs = append(attrs, "reason_stack", st.String())
					if where := firstPlace(st.String()); where != "" {
						attrs = append(attrs, "origin", where)
					}
				}
			}
		}
		if len(msg) > 500 {
			msg = msg[:500] + "…"
		}
		s.log.Error("scenario error: promise rejected without a handler", append([]any{"err", msg}, attrs...)...)
	}
	s.rejected = s.rejected[:0]
}

// firstPlace returns the first "file:line:col" of a JavaScript stack text.
func firstPlace(stack string) string {
	return stackPlace.FindString(stack)
}

// stackPlace matches a place in a stack text: "scenario.js:4:9".
var stackPlace = regexp.MustCompile(`[^\s()]+:\d+:\d+`)

// describeError returns log attributes for a script error: the error with
// its place (file:line:column), the stack, and the cause.
func describeError(err error) []any {
	var (
		ie  *goja.InterruptedError
		ex  *goja.Exception
		cse *goja.CompilerSyntaxError
	)
	switch {
	case errors.As(err, &ie):
		where, stack := stackOf(ie.Stack())
		cause := fmt.Sprint(ie.Value())
		return []any{"err", cause, "at", where, "stack", stack, "kind", "interrupted"}
	case errors.As(err, &ex):
		where, stack := stackOf(ex.Stack())
		msg := ""
		if v := ex.Value(); v != nil {
			msg = v.String()
		}
		return []any{"err", msg, "at", where, "stack", stack, "kind", "exception"}
	case errors.As(err, &cse):
		where := ""
		if cse.File != nil {
			where = cse.File.Position(cse.Offset).String()
		}
		return []any{"err", cse.Error(), "at", where, "kind", "syntax"}
	}
	return []any{"err", err.Error(), "kind", "error"}
}

// stackOf returns the first script position of a stack and the whole stack
// as text, one frame a line.
func stackOf(frames []goja.StackFrame) (where, stack string) {
	var b strings.Builder
	for i := range frames {
		f := &frames[i]
		p := f.Position()
		if p.Filename == haltFile {
			continue // the heap guard's own frame
		}
		if where == "" && p.Line > 0 {
			where = fmt.Sprintf("%s:%d:%d", p.Filename, p.Line, p.Column)
		}
		b.WriteString("at ")
		if fn := f.FuncName(); fn != "" {
			b.WriteString(fn)
			b.WriteString(" ")
		}
		if p.Line > 0 {
			fmt.Fprintf(&b, "(%s:%d:%d)", p.Filename, p.Line, p.Column)
		} else {
			b.WriteString("(native)")
		}
		b.WriteByte('\n')
	}
	return where, strings.TrimSuffix(b.String(), "\n")
}

// terminate ends the session: Terminating, then every call hung up and
// every socket closed, then Terminated. It runs on the loop.
func (s *session) terminate(reason string) {
	if s.state != stateRunning {
		return
	}
	s.state = stateTerminating
	s.closing.Store(true)
	s.log.Info("session terminating", "reason", reason)
	s.finalEvents = true
	s.dispatch(s.app, evTerminating, s.event(evTerminating))
	s.finalEvents = false
	s.shutdown()
	s.finalEvents = true
	s.dispatch(s.app, evTerminated, s.event(evTerminated))
	s.finalEvents = false
	s.state = stateTerminated
}

// shutdown stops timers, players and recorders, closes the sockets and
// hangs up the calls, and waits (bounded) until they are released.
func (s *session) shutdown() {
	if s.idle != nil {
		s.idle.Stop()
	}
	for _, t := range s.timers {
		t.t.Stop()
	}
	clear(s.timers)
	for _, f := range append([]*callFlow(nil), s.callFlows...) {
		s.stopCallFlow(f)
	}
	for _, p := range append([]*player(nil), s.players...) {
		p.stop()
	}
	for _, r := range s.recorders {
		if _, err := r.finish(); err != nil {
			s.log.Warn("recording not written", "recorder", r.id, "err", err)
		}
	}
	for _, jc := range s.calls {
		jc.stopRecording(false)
	}
	s.clock.stop()
	for _, w := range s.sockets {
		w.shutdown()
	}
	for _, jc := range s.calls {
		c := jc.c
		s.goroutine(func() { c.Hangup("scenario session ended") })
	}
	deadline := time.NewTimer(s.lim.ShutdownWait)
	defer deadline.Stop()
	httpWait := time.NewTimer(httpDrainWait)
	defer httpWait.Stop()
	for _, w := range s.sockets {
		select {
		case <-w.sock.Done():
		case <-deadline.C:
			w.sock.Abort()
			<-w.sock.Done()
		}
	}
	for _, jc := range s.calls {
		select {
		case <-jc.c.Done():
		case <-deadline.C:
			s.log.Warn("call did not end in time")
		}
	}
	// Net requests in flight are delivered; their callbacks do not run.
	for s.httpBusy.Load() > 0 {
		select {
		case <-s.httpDone:
		case <-httpWait.C:
			s.log.Warn("Net requests still in flight when the session ended: cancelled", "requests", s.httpBusy.Load(), "wait", httpDrainWait)
			return
		}
	}
}

// httpDrainWait is how long terminate waits for Net requests in flight.
const httpDrainWait = 2 * time.Second

// armIdle starts the no-call timer: a session without calls for
// NoCallTimeout ends.
func (s *session) armIdle() {
	if s.idle != nil {
		s.idle.Stop()
	}
	s.idleGen++
	gen := s.idleGen
	s.idle = time.AfterFunc(s.lim.NoCallTimeout, func() {
		s.post(func() {
			if gen != s.idleGen || s.liveCalls.Load() > 0 {
				return
			}
			s.log.Warn("session has had no call: terminating", "no_call_timeout", s.lim.NoCallTimeout)
			s.terminate("no call")
		})
	})
}

// disarmIdle stops the no-call timer.
func (s *session) disarmIdle() {
	s.idleGen++
	if s.idle != nil {
		s.idle.Stop()
	}
}

// throw raises err as a JavaScript exception in the running callback.
func (s *session) throw(err error) {
	panic(s.vm.NewGoError(err))
}

// watchdog interrupts a callback that runs longer than limit, and has the
// heap monitor watch it.
type watchdog struct {
	vm    *goja.Runtime
	limit time.Duration
	heap  *heapMonitor // nil: no heap limit (borrowed from the Runtime)
	hw    *heapWatch
	mu    sync.Mutex
	gen   uint64
	armed bool
	t     *time.Timer
}

func (w *watchdog) arm() {
	w.mu.Lock()
	w.gen++
	gen := w.gen
	w.armed = true
	w.mu.Unlock()
	w.heap.watch(w.hw)
	w.t = time.AfterFunc(w.limit, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.armed && w.gen == gen {
			w.vm.Interrupt(fmt.Errorf("%w: a callback ran longer than %s and was interrupted", ErrCallbackTimeout, w.limit))
		}
	})
}

func (w *watchdog) disarm() {
	w.mu.Lock()
	w.armed = false
	w.mu.Unlock()
	w.t.Stop()
	w.heap.unwatch(w.hw)
	w.vm.ClearInterrupt()
}
