package fetch

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/callstream/callstream/internal/limit"
	"github.com/callstream/callstream/internal/logsafe"
)

// Defaults of a Client.
const (
	DefaultMaxRedirects = 10
	DefaultDialTimeout  = 10 * time.Second
	// DefaultTimeout bounds a whole request, body included, whatever its
	// context allows.
	DefaultTimeout = 30 * time.Second
	// maxResponseHeader bounds the header of every response.
	maxResponseHeader = 64 << 10
	// idleConnTimeout closes a kept-alive connection to an app after this
	// long unused: a busy gateway reuses its connections, and those a burst
	// of calls opened do not outlive it by long.
	idleConnTimeout = 10 * time.Second
)

// Config configures a Client. The zero value of every field means its
// default.
type Config struct {
	// Policy decides which addresses may be dialed (nil: a policy with no
	// lists, which refuses only the always-refused addresses).
	Policy *Policy
	// Trusted is the operator's app URL (--app): requests and dials to its
	// origin (scheme, host and port; ws and wss count as http and https)
	// are trusted like the app itself and not checked. "" trusts nothing.
	Trusted string
	// Refusals counts refused fetches and dials as limit.URLPolicy.
	Refusals limit.Counter
	// TLS configures https requests (nil: the system's roots).
	TLS *tls.Config
	// DialTimeout bounds a TCP connect (default 10 s).
	DialTimeout time.Duration
	// Timeout bounds a whole request, body included (default 30 s).
	Timeout time.Duration
	// MaxRedirects bounds the redirects one request follows (default 10).
	MaxRedirects int
}

// Client is the gateway's HTTP client and dialer for its apps: requests to
// the trusted origin go out unchecked, every other request and dial goes
// through the policy. Safe for concurrent use.
type Client struct {
	cfg     Config
	policy  *Policy
	trusted origin
	checked *net.Dialer // dials through the policy
	direct  *net.Dialer // dials the trusted origin
	checkT  *http.Transport
	directT *http.Transport
	http    *http.Client

	// Background work (cache downloads) runs under ctx; Close cancels it
	// and waits.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	bgMu   sync.Mutex
	closed bool // under bgMu
}

// New returns a client with cfg's defaults filled in.
func New(cfg Config) *Client {
	if cfg.Policy == nil {
		cfg.Policy = NewPolicy(PolicyConfig{})
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxRedirects <= 0 {
		cfg.MaxRedirects = DefaultMaxRedirects
	}
	c := &Client{cfg: cfg, policy: cfg.Policy}
	c.trusted, _ = originOf(cfg.Trusted)
	c.checked = &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second, ControlContext: c.control}
	c.direct = &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	c.checkT = newTransport(c.checked.DialContext, cfg.TLS)
	c.directT = newTransport(c.direct.DialContext, cfg.TLS)
	c.http = &http.Client{Transport: router{c}, CheckRedirect: c.checkRedirect, Timeout: cfg.Timeout}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

func newTransport(dial func(ctx context.Context, network, addr string) (net.Conn, error), tc *tls.Config) *http.Transport {
	return &http.Transport{
		// No proxy: the policy checks the address really dialed, and a
		// proxy would be the only address it ever saw.
		Proxy:                  nil,
		DialContext:            dial,
		TLSClientConfig:        tc.Clone(),
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           100,
		MaxIdleConnsPerHost:    16,
		IdleConnTimeout:        idleConnTimeout,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: maxResponseHeader,
	}
}

// Policy returns the client's policy (to add the gateway's listeners as
// they are bound).
func (c *Client) Policy() *Policy { return c.policy }

// control checks the address a connection is about to be made to: the
// resolved IP and port, once per address tried.
func (c *Client) control(_ context.Context, _, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q is not an IP address and port", ErrRefused, address)
	}
	return c.policy.Check(ap)
}

// router sends requests to the trusted origin through the direct
// transport, every other one through the checked one. It decides again on
// every redirect hop.
type router struct{ c *Client }

func (r router) RoundTrip(req *http.Request) (*http.Response, error) {
	if r.c.isTrusted(req.URL) {
		return r.c.directT.RoundTrip(req)
	}
	return r.c.checkT.RoundTrip(req)
}

// checkRedirect bounds the redirects and checks each redirect URL before
// it is followed: its scheme, and its host when that is an IP address
// (names are checked when they are dialed, after resolution).
func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > c.cfg.MaxRedirects {
		return fmt.Errorf("fetch: stopped after %d redirects", c.cfg.MaxRedirects)
	}
	o, err := originOf(req.URL.String())
	if err != nil {
		return err
	}
	if o == c.trusted {
		return nil
	}
	host, port, _ := net.SplitHostPort(o.hostport)
	if a, err := netip.ParseAddr(host); err == nil {
		p, _ := netip.ParseAddrPort(net.JoinHostPort(a.String(), port))
		return c.policy.Check(p)
	}
	return nil
}

// Do sends req through the policy (unless it goes to the trusted origin)
// and returns the response, whose body the caller reads with a bound and
// closes. A refusal is counted, and logged on log with the URL without its
// query string; the error wraps ErrRefused. URLs in returned errors carry
// no query string.
func (c *Client) Do(req *http.Request, log *slog.Logger) (*http.Response, error) {
	resp, err := c.http.Do(req)
	if err == nil {
		return resp, nil
	}
	first := logsafe.URL(req.URL.String())
	hop := first
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = logsafe.URL(ue.URL)
		hop = ue.URL
	}
	if errors.Is(err, ErrRefused) {
		c.refused(log, hop, first, err)
	}
	return nil, err
}

// Dialer returns the function that dials rawURL's host for a WebSocket
// client (gorilla/websocket's NetDialContext): through the policy, unless
// rawURL is on the trusted origin. A refusal is counted and logged on log,
// with rawURL (without its query) as "url": log should not carry one.
func (c *Client) Dialer(log *slog.Logger, rawURL string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := c.checked
	if o, err := originOf(rawURL); err == nil && o == c.trusted {
		d = c.direct
	}
	shown := logsafe.URL(rawURL)
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil && errors.Is(err, ErrRefused) {
			c.refused(log, shown, shown, err)
		}
		return conn, err
	}
}

// refused counts and logs one refusal.
func (c *Client) refused(log *slog.Logger, target, first string, err error) {
	limit.Count(c.cfg.Refusals, limit.URLPolicy)
	if log == nil {
		return
	}
	var why any = err
	var re *RefusedError
	if errors.As(err, &re) {
		why = re.Error()
	}
	args := []any{"url", target, "err", why}
	if first != target {
		args = append(args, "redirected_from", first)
	}
	log.Warn("fetch refused by the URL policy", args...)
}

// CloseIdleConnections closes the connections kept for reuse.
func (c *Client) CloseIdleConnections() {
	c.checkT.CloseIdleConnections()
	c.directT.CloseIdleConnections()
}

// Close cancels the client's background work (cache downloads), waits for
// it and closes idle connections. Requests made after Close still work;
// cache downloads fail with ErrClosed.
func (c *Client) Close() {
	c.bgMu.Lock()
	c.closed = true
	c.bgMu.Unlock()
	c.cancel()
	c.wg.Wait()
	c.CloseIdleConnections()
}

// isTrusted reports whether u is on the trusted origin.
func (c *Client) isTrusted(u *url.URL) bool {
	if c.trusted == (origin{}) {
		return false
	}
	o, err := originOfURL(u)
	return err == nil && o == c.trusted
}

// origin is a URL's scheme family and host:port, as compared for trust.
type origin struct {
	secure   bool   // https or wss
	hostport string // lower-case host and explicit port
}

func originOf(raw string) (origin, error) {
	if raw == "" {
		return origin{}, errors.New("fetch: no URL")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return origin{}, fmt.Errorf("fetch: %w", err)
	}
	return originOfURL(u)
}

func originOfURL(u *url.URL) (origin, error) {
	var o origin
	port := u.Port()
	switch strings.ToLower(u.Scheme) {
	case "http", "ws":
		if port == "" {
			port = "80"
		}
	case "https", "wss":
		o.secure = true
		if port == "" {
			port = "443"
		}
	default:
		return origin{}, fmt.Errorf("fetch: scheme %q: want http, https, ws or wss", u.Scheme)
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return origin{}, errors.New("fetch: URL has no host")
	}
	o.hostport = net.JoinHostPort(host, port)
	return o, nil
}
