package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/callstream/callstream/internal/api"
	"github.com/callstream/callstream/internal/nodeid"
)

// Bounds of a fleet found by DNS.
const (
	// dnsTTL is how long the nodes found are used before the name is
	// resolved again.
	dnsTTL = 30 * time.Second
	// dnsRetry is the least time between two resolutions a CallSid of an
	// unknown node asks for.
	dnsRetry = 2 * time.Second
	// lookupTimeout bounds a resolution and each node's GET /node.
	lookupTimeout = 3 * time.Second
	// maxNodeAnswer bounds the body of GET /node.
	maxNodeAnswer = 4 << 10
)

// dnsPeers are the nodes behind a DNS name: its A and AAAA records, each
// asked for its id (GET /node on the nodes' HTTP port).
type dnsPeers struct {
	name, port string
	c          *Cluster
	// lookup resolves name (net.DefaultResolver when nil).
	lookup func(ctx context.Context, name string) ([]net.IPAddr, error)

	mu       sync.Mutex
	peers    []Peer
	resolved time.Time     // when peers were found; zero: never
	running  chan struct{} // closed when the resolution under way ends
}

// get returns the nodes found, resolving the name again when the last
// answer is older than dnsTTL, or (again) when it is older than dnsRetry.
// Callers that come while a resolution runs wait for it.
func (d *dnsPeers) get(ctx context.Context, again bool) []Peer {
	d.mu.Lock()
	age := time.Since(d.resolved)
	if !d.resolved.IsZero() && (age < dnsRetry || !again && age < dnsTTL) {
		defer d.mu.Unlock()
		return d.peers
	}
	running := d.running
	if running == nil {
		running = make(chan struct{})
		d.running = running
		d.mu.Unlock()
		// Its answer serves every caller: one caller going away does not
		// cut it short.
		peers := d.resolve(context.WithoutCancel(ctx))
		d.mu.Lock()
		d.peers, d.resolved, d.running = peers, time.Now(), nil
		d.mu.Unlock()
		close(running)
		return peers
	}
	d.mu.Unlock()
	select {
	case <-running:
	case <-ctx.Done():
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.peers
}

// resolve finds the nodes behind the name and their ids; a node that does
// not say its id is left out (and logged), as is one whose id's tag
// another id has.
func (d *dnsPeers) resolve(ctx context.Context) []Peer {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	lookup := d.lookup
	if lookup == nil {
		lookup = net.DefaultResolver.LookupIPAddr
	}
	addrs, err := lookup(ctx, d.name)
	if err != nil {
		d.c.log.Warn("cluster: resolving the fleet's DNS name failed", "name", d.name, "error", err)
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.peers // keep the nodes known
	}
	found := make([]Peer, len(addrs))
	var wg sync.WaitGroup
	for i, a := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			base := "http://" + net.JoinHostPort(a.String(), d.port)
			id, err := d.c.nodeID(ctx, base)
			if err != nil {
				d.c.log.Debug("cluster: an address of the fleet's DNS name gave no node id", "name", d.name, "url", base, "error", err)
				return
			}
			found[i] = Peer{ID: id, URL: base}
		}()
	}
	wg.Wait()
	peers := make([]Peer, 0, len(found))
	ids := []string{d.c.self}
	for _, p := range found {
		if p.ID == "" || p.ID == d.c.self {
			continue
		}
		if err := nodeid.CheckFleet(append(ids, p.ID)); err != nil {
			d.c.log.Warn("cluster: a node of the fleet's DNS name is left out", "name", d.name, "url", p.URL, "error", err)
			continue
		}
		ids = append(ids, p.ID)
		peers = append(peers, p)
	}
	return peers
}

// nodeID asks the node at base for its id (GET /node).
func (c *Cluster) nodeID(ctx context.Context, base string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+api.NodePath, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxNodeAnswer))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s answered %d", api.NodePath, resp.StatusCode)
	}
	var n struct {
		NodeID string `json:"node_id"`
	}
	if err := json.Unmarshal(body, &n); err != nil {
		return "", fmt.Errorf("GET %s: %w", api.NodePath, err)
	}
	if err := nodeid.Check(n.NodeID); err != nil {
		return "", fmt.Errorf("GET %s: %w", api.NodePath, err)
	}
	return n.NodeID, nil
}
