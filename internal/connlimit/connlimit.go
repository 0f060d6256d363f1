// Package connlimit bounds the connections a stream listener (SIP over TCP
// or TLS, HTTP) holds: at most Max at once (a connection over the bound is
// closed as soon as it is accepted), an idle timeout for connections that
// are not pinned by a call, and an Accept that backs off and retries on
// transient errors (no file descriptors left) instead of failing, so that
// no flood of connections ends the listener.
package connlimit

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/callstream/callstream/internal/limit"
)

// Accept back-off after a transient error: 5 ms doubling to 1 s.
const (
	minBackoff = 5 * time.Millisecond
	maxBackoff = time.Second
)

// Config configures a Listener. The zero value bounds nothing but still
// retries transient accept errors.
type Config struct {
	// Max is the most connections open at once (<= 0: no bound).
	Max int
	// Idle closes a connection that read nothing for this long, unless its
	// remote address is pinned (<= 0: never). Leave it 0 for a server that
	// sets its own deadlines (net/http).
	Idle time.Duration
	// Name names the listener in logs ("sip-tcp", "http").
	Name string
	// Counter counts refusals: Full (a connection over Max), IdleClosed and
	// AcceptError name what is counted.
	Counter     limit.Counter
	Full        limit.Refusal
	IdleClosed  limit.Refusal
	AcceptError limit.Refusal
	Logger      *slog.Logger
}

// Listener wraps a net.Listener with the bounds of Config.
type Listener struct {
	net.Listener
	cfg  Config
	warn *limit.Warner

	open   atomic.Int64
	closed atomic.Bool

	mu     sync.Mutex
	pinned map[string]int // remote address -> pins
}

// Wrap returns l bounded by cfg.
func Wrap(l net.Listener, cfg Config) *Listener {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Listener{
		Listener: l,
		cfg:      cfg,
		warn:     limit.NewWarner(cfg.Logger.With("listener", cfg.Name), slog.LevelWarn, 5*time.Second),
		pinned:   map[string]int{},
	}
}

// Accept returns the next connection within the bounds. Transient errors
// (EMFILE, ENFILE, ECONNABORTED, …) are logged (rate-limited), counted and
// retried after a back-off; Accept returns an error only once the listener
// is closed.
func (l *Listener) Accept() (net.Conn, error) {
	backoff := time.Duration(0)
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if l.closed.Load() || errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			if backoff == 0 {
				backoff = minBackoff
			} else {
				backoff = min(2*backoff, maxBackoff)
			}
			limit.Count(l.cfg.Counter, l.cfg.AcceptError)
			l.warn.Log("accept failed; retrying", "err", err, "retry_in", backoff, "open", l.open.Load(), "hint", hint(err))
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if l.cfg.Max > 0 && l.open.Load() >= int64(l.cfg.Max) {
			limit.Count(l.cfg.Counter, l.cfg.Full)
			_ = c.Close()
			l.warn.Log("connection refused: too many open", "max", l.cfg.Max)
			continue
		}
		l.open.Add(1)
		return &conn{Conn: c, l: l, remote: c.RemoteAddr().String()}, nil
	}
}

// hint says what an accept error usually means.
func hint(err error) string {
	switch {
	case errors.Is(err, syscall.EMFILE), errors.Is(err, syscall.ENFILE):
		return "no file descriptors left: raise the open-file limit or lower the connection bounds"
	}
	return ""
}

// Close closes the listener; open connections stay open.
func (l *Listener) Close() error {
	l.closed.Store(true)
	return l.Listener.Close()
}

// Open returns the connections open now.
func (l *Listener) Open() int { return int(l.open.Load()) }

// Pin keeps connections from remote (host:port, as RemoteAddr().String()
// gives it) open however long they idle, until the returned func is called
// (once per Pin).
func (l *Listener) Pin(remote string) (unpin func()) {
	l.mu.Lock()
	l.pinned[remote]++
	l.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			if l.pinned[remote]--; l.pinned[remote] <= 0 {
				delete(l.pinned, remote)
			}
			l.mu.Unlock()
		})
	}
}

func (l *Listener) isPinned(remote string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.pinned[remote] > 0
}

// conn counts itself out of its listener once closed and enforces the idle
// timeout on reads.
type conn struct {
	net.Conn
	l      *Listener
	remote string
	once   sync.Once
}

func (c *conn) Read(b []byte) (int, error) {
	idle := c.l.cfg.Idle
	if idle <= 0 {
		return c.Conn.Read(b)
	}
	for {
		_ = c.Conn.SetReadDeadline(time.Now().Add(idle))
		n, err := c.Conn.Read(b)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
		if n > 0 {
			return n, nil
		}
		if c.l.isPinned(c.remote) {
			continue // a call lives on this connection: it may idle
		}
		limit.Count(c.l.cfg.Counter, c.l.cfg.IdleClosed)
		c.l.cfg.Logger.Debug("idle connection closed", "listener", c.l.cfg.Name, "remote", c.remote, "idle", idle)
		_ = c.Close()
		return 0, net.ErrClosed
	}
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.open.Add(-1) })
	return err
}

// FileLimit returns the process's soft limit of open files (0 if unknown).
func FileLimit() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	if r.Cur > 1<<30 {
		return 1 << 30
	}
	return int(r.Cur)
}
