// Package callstatus sends call status callbacks: each call's events
// (initiated, ringing, in-progress, then completed, busy, no-answer, failed
// or canceled) go to the gateway-wide URL (--status-callback) and to the
// call's own URL when its app gave one (Call.Target), in order per call and
// per URL, encoded in the app dialect (CarrierX: JSON; Twilio: a signed
// form), from bounded queues shared by every call and URL, with retries and
// back-off. Sending never blocks a call: an event that finds its queue full
// is dropped, counted and warned about.
package callstatus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callstream/callstream/internal/fetch"
	"github.com/callstream/callstream/internal/limit"
	"github.com/callstream/callstream/internal/logsafe"
	"github.com/callstream/callstream/internal/webhook"
)

// The call statuses, as Twilio names them.
const (
	Initiated  = "initiated"
	Ringing    = "ringing"
	InProgress = "in-progress"
	Completed  = "completed"
	Busy       = "busy"
	NoAnswer   = "no-answer"
	Failed     = "failed"
	Canceled   = "canceled"
)

// Defaults of a Notifier.
const (
	DefaultQueue   = 1024                   // events waiting, over all calls
	DefaultTries   = 3                      // sends of one event before it is given up
	DefaultBackoff = 500 * time.Millisecond // wait before the second try; doubles after
	DefaultTimeout = 5 * time.Second        // one try
	workers        = 4                      // senders; a call's events all go to one
	closeWait      = 5 * time.Second        // how long Close lets queued events go out
	maxAnswer      = 4 << 10                // bytes of an answer read (and dropped)
	// MaxURL bounds the length of a call's own status callback URL.
	MaxURL = 2048
)

// Config configures a Notifier.
type Config struct {
	URL     string          // where every call's events go (http or https; empty: only calls' own URLs)
	Method  string          // POST (default) or GET, for URL
	Dialect webhook.Dialect // CarrierX's JSON or Twilio's form
	Token   string          // signs requests under the Twilio dialect (none: unsigned)
	Fetch   *fetch.Client   // sends through the gateway's URL policy
	Logger  *slog.Logger
	Queue   int           // events waiting (default DefaultQueue)
	Tries   int           // default DefaultTries
	Backoff time.Duration // default DefaultBackoff
	Timeout time.Duration // default DefaultTimeout
}

// event is one status callback to send.
type event struct {
	fields url.Values
	sid    string
	to     *target
}

// target is one URL a call's events go to, numbered on their own.
type target struct {
	url    string
	method string
	seq    int         // the next event's SequenceNumber (under Call.mu)
	own    bool        // a call's own URL (else the gateway-wide one)
	gaveUp atomic.Bool // the URL policy refused it: its later events are not sent
}

// Notifier sends every call's status callbacks. Its goroutines end with
// Close.
type Notifier struct {
	cfg     Config
	queues  [workers]chan event
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.RWMutex
	closed  bool
	dropped atomic.Uint64
	failed  atomic.Uint64
	warn    *limit.Warner
}

// Check checks a status callback URL and method ("" is POST).
func Check(rawURL, method string) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("status callback %q: want an http or https URL", logsafe.URL(rawURL))
	}
	switch method {
	case "", http.MethodGet, http.MethodPost:
		return nil
	}
	return fmt.Errorf("status callback method %q: want GET or POST", method)
}

// New checks cfg and starts a Notifier.
func New(cfg Config) (*Notifier, error) {
	if cfg.URL != "" {
		if err := Check(cfg.URL, cfg.Method); err != nil {
			return nil, err
		}
	}
	if cfg.Method == "" {
		cfg.Method = http.MethodPost
	}
	if cfg.Fetch == nil {
		return nil, errors.New("status callback: no fetch client")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Queue <= 0 {
		cfg.Queue = DefaultQueue
	}
	if cfg.Tries <= 0 {
		cfg.Tries = DefaultTries
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	n := &Notifier{cfg: cfg, warn: limit.NewWarner(cfg.Logger, slog.LevelWarn, time.Second)}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	per := max(1, cfg.Queue/workers)
	for i := range n.queues {
		n.queues[i] = make(chan event, per)
		n.wg.Add(1)
		go n.run(n.queues[i])
	}
	return n, nil
}

// Dropped returns how many events found their queue full.
func (n *Notifier) Dropped() uint64 { return n.dropped.Load() }

// Failed returns how many events were given up after every try.
func (n *Notifier) Failed() uint64 { return n.failed.Load() }

// Close stops taking events, lets the queued ones go out for a few
// seconds, then cuts the rest and waits for its goroutines.
func (n *Notifier) Close() {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.closed = true
	for _, q := range n.queues {
		close(q)
	}
	n.mu.Unlock()
	done := make(chan struct{})
	go func() { n.wg.Wait(); close(done) }()
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		n.cancel()
		<-done
	}
	n.cancel()
}

// Call is the status of one call: it numbers the call's events and
// sends them. Its methods are safe for concurrent use; a nil *Call sends
// nothing.
type Call struct {
	n        *Notifier
	sid      string
	mu       sync.Mutex
	fields   url.Values // the call's request fields
	targets  []*target  // the gateway-wide URL (if any), then the call's own
	own      bool       // the call's own URL is set
	pend     []string   // events before the fields were known
	answered bool       // in-progress was sent
	over     bool       // the final event was sent
}

// Call starts the status of the call sid; Begin gives its fields.
func (n *Notifier) Call(sid string) *Call {
	if n == nil {
		return nil
	}
	c := &Call{n: n, sid: sid}
	if n.cfg.URL != "" {
		c.targets = []*target{{url: n.cfg.URL, method: n.cfg.Method}}
	}
	return c
}

// Target makes rawURL (absolute) the call's own status callback URL, with
// method ("" is POST): the call's events from now on go there too,
// numbered from 0 apart from the gateway-wide ones, starting with ringing
// unless the call was answered already. The first URL set stays: a later
// one is ignored (set reports false). A URL or method that fails Check, or
// a URL over MaxURL, is an error and sets nothing.
func (c *Call) Target(rawURL, method string) (set bool, err error) {
	if c == nil {
		return false, errors.New("status callback: no notifier")
	}
	if len(rawURL) > MaxURL {
		return false, fmt.Errorf("status callback URL of %d bytes: the bound is %d", len(rawURL), MaxURL)
	}
	method = strings.ToUpper(method)
	if err := Check(rawURL, method); err != nil {
		return false, err
	}
	if method == "" {
		method = http.MethodPost
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.own || c.over {
		return false, nil
	}
	c.own = true
	t := &target{url: rawURL, method: method, own: true}
	c.targets = append(c.targets, t)
	if c.fields != nil && !c.answered {
		c.sendToLocked(t, Ringing, -1)
	}
	return true, nil
}

// Begin gives the call's request fields (in the app dialect, without
// CallStatus) and sends initiated and ringing, after any event sent
// before it.
func (c *Call) Begin(fields url.Values) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fields = fields
	c.sendLocked(Initiated, -1)
	c.sendLocked(Ringing, -1)
	for _, s := range c.pend {
		c.answered = c.answered || s == InProgress
		c.sendLocked(s, -1)
	}
	c.pend = nil
}

// Answered sends in-progress. It must not block: the call runs it while
// it answers.
func (c *Call) Answered() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.fields == nil {
		c.pend = append(c.pend, InProgress)
		return
	}
	c.answered = true
	c.sendLocked(InProgress, -1)
}

// End sends the call's final status, once: Completed with answered, how
// long the call was answered (CallDuration, in whole seconds rounded up),
// or how an unanswered call ended with a negative answered (no
// CallDuration).
func (c *Call) End(status string, answered time.Duration) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.over || c.fields == nil {
		return
	}
	c.over = true
	c.sendLocked(status, answered)
}

// sendLocked queues one event to each of the call's URLs; answered >= 0
// adds CallDuration.
func (c *Call) sendLocked(status string, answered time.Duration) {
	for _, t := range c.targets {
		c.sendToLocked(t, status, answered)
	}
}

// sendToLocked queues one event to t.
func (c *Call) sendToLocked(t *target, status string, answered time.Duration) {
	f := make(url.Values, len(c.fields)+5)
	for k, v := range c.fields {
		f[k] = v
	}
	now := time.Now().UTC()
	f.Set("CallStatus", status)
	f.Set("SequenceNumber", strconv.Itoa(t.seq))
	if c.n.cfg.Dialect == webhook.Twilio {
		f.Set("Timestamp", now.Format(time.RFC1123Z))
		f.Set("CallbackSource", "call-progress-events")
	} else {
		f.Set("Timestamp", now.Format(time.RFC3339Nano))
	}
	if answered >= 0 {
		f.Set("CallDuration", strconv.FormatInt(int64((answered+time.Second-1)/time.Second), 10))
	}
	t.seq++
	c.n.enqueue(event{fields: f, sid: c.sid, to: t})
}

// enqueue hands ev to its call's sender without blocking.
func (n *Notifier) enqueue(ev event) {
	h := fnv.New32a()
	_, _ = h.Write([]byte(ev.sid))
	q := n.queues[h.Sum32()%workers]
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.closed {
		n.dropped.Add(1)
		return
	}
	select {
	case q <- ev:
	default:
		n.dropped.Add(1)
		n.warn.Log("status callback dropped: the queue is full", "call_sid", ev.sid,
			"status", ev.fields.Get("CallStatus"), "dropped_total", n.dropped.Load())
	}
}

// run sends the events of one queue in order.
func (n *Notifier) run(q chan event) {
	defer n.wg.Done()
	for ev := range q {
		if n.ctx.Err() != nil {
			n.dropped.Add(1) // Close ran out of time: the rest are cut
			continue
		}
		if ev.to.gaveUp.Load() {
			n.failed.Add(1) // its URL was refused: the refusal was warned about once
			continue
		}
		n.deliver(ev)
	}
}

// deliver sends ev, trying again after a network error, a 5xx or a 429,
// with a doubling back-off.
func (n *Notifier) deliver(ev event) {
	log := n.cfg.Logger.With("call_sid", ev.sid)
	wait := n.cfg.Backoff
	var err error
	for try := 1; try <= n.cfg.Tries; try++ {
		var again bool
		again, err = n.send(ev)
		if err == nil || !again {
			break
		}
		if try == n.cfg.Tries {
			break
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-n.ctx.Done():
			t.Stop()
			try = n.cfg.Tries
		}
		wait *= 2
	}
	if err != nil {
		n.failed.Add(1)
		if ev.to.own && errors.Is(err, fetch.ErrRefused) {
			// The fetch client warned (with the call and the URL) and
			// counted the refusal; the call's later events skip this URL.
			ev.to.gaveUp.Store(true)
			return
		}
		log.Warn("status callback failed", "url", logsafe.URL(ev.to.url), "own", ev.to.own,
			"status", ev.fields.Get("CallStatus"), "err", err)
		return
	}
	log.Debug("status callback sent", "status", ev.fields.Get("CallStatus"))
}

// send makes one try; again reports whether a failure is worth another.
func (n *Notifier) send(ev event) (again bool, err error) {
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.Timeout)
	defer cancel()
	req, err := n.request(ctx, ev.to, ev.fields)
	if err != nil {
		return false, err
	}
	resp, err := n.cfg.Fetch.Do(req, n.cfg.Logger.With("call_sid", ev.sid))
	if err != nil {
		return !errors.Is(err, fetch.ErrRefused), err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswer))
	resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return false, nil
	}
	err = fmt.Errorf("HTTP %d", resp.StatusCode)
	return resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests, err
}

// request encodes one event to t in the app dialect.
func (n *Notifier) request(ctx context.Context, t *target, fields url.Values) (*http.Request, error) {
	if n.cfg.Dialect == webhook.Twilio || t.method == http.MethodGet {
		token := ""
		if n.cfg.Dialect == webhook.Twilio {
			token = n.cfg.Token
		}
		return webhook.NewRequest(ctx, t.method, t.url, token, fields)
	}
	obj := make(map[string]string, len(fields))
	for k := range fields {
		obj[k] = fields.Get(k)
	}
	body, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}
