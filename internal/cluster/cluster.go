// Package cluster makes any node of a callstream fleet serve any API
// request: a request about a call another node holds (its CallSid carries
// that node's tag, see nodeid) is forwarded to that node, and a
// cluster-wide listing asks every node for its calls. The fleet is a list
// of id=URL entries, or a DNS name whose addresses are the nodes (their ids
// then learned from each one's GET /node).
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/callstream/callstream/internal/api"
	"github.com/callstream/callstream/internal/nodeid"
)

// Bounds of the requests one node makes of another.
const (
	// ForwardTimeout bounds a forwarded request, answer included.
	ForwardTimeout = 10 * time.Second
	// ListTimeout bounds one node's answer to a cluster-wide listing.
	ListTimeout = 5 * time.Second
	// maxAnswer bounds the body of a node's answer read or passed on.
	maxAnswer = 16 << 20
)

// dnsPrefix starts a fleet given as a DNS name: dns:NAME:PORT.
const dnsPrefix = "dns:"

// Peer is another node of the fleet.
type Peer struct {
	ID  string // its node id (--node-id)
	URL string // the base URL of its HTTP API, without a trailing slash
}

// Cluster is this node's view of its fleet. Its methods are safe for
// concurrent use; it owns no goroutine: every request to a peer is made
// on behalf of, and within, an API request.
type Cluster struct {
	self   string
	static []Peer    // the --peers list, without this node; nil with dns
	dns    *dnsPeers // the DNS name's nodes; nil with a list
	client *http.Client
	log    *slog.Logger
}

// New returns the fleet of node self given by spec (see Parse); nil when
// spec is empty (a node alone). log gets a line per forwarded request
// (DEBUG) and per node that did not answer (WARN).
func New(self, spec string, log *slog.Logger) (*Cluster, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := nodeid.Check(self); err != nil {
		return nil, err
	}
	c := &Cluster{self: self, log: log, client: &http.Client{
		Transport: &http.Transport{
			Proxy:               nil, // nodes talk directly
			MaxIdleConnsPerHost: 8,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 5 * time.Second,
			ForceAttemptHTTP2:   true,
		},
		// A node answers itself; a redirect is passed on as it is.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	if rest, ok := strings.CutPrefix(strings.TrimSpace(spec), dnsPrefix); ok {
		name, port, err := parseDNS(rest)
		if err != nil {
			return nil, err
		}
		c.dns = &dnsPeers{name: name, port: port, c: c}
		return c, nil
	}
	peers, err := Parse(self, spec)
	if err != nil {
		return nil, err
	}
	c.static = peers
	return c, nil
}

// Parse reads a fleet given as comma-separated id=URL entries, URL being
// that node's HTTP API base (http://10.0.0.2:8080). It returns the peers
// of node self: an entry for self is skipped. Ids are checked with
// nodeid.CheckFleet, self included: two ids with one tag are refused,
// naming both.
func Parse(self, spec string) ([]Peer, error) {
	var (
		peers []Peer
		ids   = []string{self}
	)
	for i, entry := range strings.Split(spec, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			return nil, fmt.Errorf("entry %d is empty: want id=URL entries separated by commas, or dns:NAME:PORT", i+1)
		}
		if strings.HasPrefix(entry, dnsPrefix) {
			return nil, fmt.Errorf("entry %d (%s): a DNS name is the whole fleet, not one of a list of id=URL entries", i+1, entry)
		}
		id, raw, ok := strings.Cut(entry, "=")
		if !ok {
			return nil, fmt.Errorf("entry %d (%q): want id=URL, e.g. b=http://10.0.0.3:8080", i+1, entry)
		}
		id = strings.TrimSpace(id)
		if err := nodeid.Check(id); err != nil {
			return nil, fmt.Errorf("entry %d: %w", i+1, err)
		}
		base, err := baseURL(raw)
		if err != nil {
			return nil, fmt.Errorf("entry %d (node %s): %w", i+1, id, err)
		}
		if id == self {
			continue // this node, in a list shared by the fleet
		}
		ids = append(ids, id)
		peers = append(peers, Peer{ID: id, URL: base})
	}
	if err := nodeid.CheckFleet(ids); err != nil {
		return nil, err
	}
	return peers, nil
}

// baseURL checks a node's HTTP API base URL and returns it without a
// trailing slash.
func baseURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if !strings.HasPrefix(raw, "http://") && !strings.HasPrefix(raw, "https://") {
		return "", fmt.Errorf("URL %q: want http:// or https:// and the node's HTTP address", raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("URL %q: %w", raw, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("URL %q: want http:// or https://", raw)
	case u.Host == "":
		return "", fmt.Errorf("URL %q has no host", raw)
	case u.User != nil:
		return "", fmt.Errorf("URL %q holds credentials: nodes pass on the caller's API token instead", u.Redacted())
	case u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("URL %q: a base URL has no query nor fragment", raw)
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

// parseDNS reads NAME:PORT.
func parseDNS(s string) (name, port string, err error) {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return "", "", fmt.Errorf("dns:%s: want dns:NAME:PORT, PORT being the nodes' HTTP port", s)
	}
	name, port = s[:i], s[i+1:]
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("dns:%s: port %q is not a number from 1 to 65535", s, port)
	}
	if strings.ContainsAny(name, "/?#@ ") {
		return "", "", fmt.Errorf("dns:%s: %q is not a host name", s, name)
	}
	return name, port, nil
}

// Node returns this node's id.
func (c *Cluster) Node() string { return c.self }

// Peers returns the other nodes of the fleet as now known (with a DNS
// name: resolved again when the last answer is old).
func (c *Cluster) Peers(ctx context.Context) []Peer {
	if c.dns != nil {
		return c.dns.get(ctx, false)
	}
	return c.static
}

// holder returns the peer whose id's tag is tag; with a DNS name, a tag
// of no known node asks the DNS again (at most every few seconds).
func (c *Cluster) holder(ctx context.Context, tag string) (Peer, bool) {
	find := func(peers []Peer) (Peer, bool) {
		for _, p := range peers {
			if nodeid.Tag(p.ID) == tag {
				return p, true
			}
		}
		return Peer{}, false
	}
	if p, ok := find(c.Peers(ctx)); ok || c.dns == nil {
		return p, ok
	}
	return find(c.dns.get(ctx, true))
}

// ids names the known nodes, this one first, for error messages.
func (c *Cluster) ids(ctx context.Context) string {
	ids := []string{c.self}
	for _, p := range c.Peers(ctx) {
		ids = append(ids, p.ID)
	}
	return strings.Join(ids, ", ")
}

// peerError says a node did not answer, without repeating the request's
// URL.
func peerError(p Peer, err error, timeout time.Duration) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("node %s (%s) did not answer within %s", p.ID, p.URL, timeout)
	}
	return fmt.Errorf("node %s (%s) did not answer: %w", p.ID, p.URL, err)
}

// ensure Cluster is what the API asks of a fleet.
var _ api.Fleet = (*Cluster)(nil)
