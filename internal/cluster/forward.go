package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/callstream/callstream/internal/api"
	"github.com/callstream/callstream/internal/nodeid"
)

// passedHeaders are the request headers a forwarded request keeps: the
// fleet shares its API tokens, so the caller's credentials are good at
// every node.
var passedHeaders = []string{"Authorization", "Content-Type", "Accept"}

// Forward serves r at the node that holds the call sid when that is
// another node of the fleet, and reports whether it answered r. It leaves
// to this node (false) a sid that carries no tag or this node's tag, and
// a request another node forwarded (ForwardedByHeader): that one is
// answered as this node would, so a request never goes round. A sid whose
// tag is no node's is answered 404; a node that does not answer, 502.
func (c *Cluster) Forward(w http.ResponseWriter, r *http.Request, sid string) bool {
	tag, ok := nodeid.TagOf(sid)
	if !ok || tag == nodeid.Tag(c.self) || r.Header.Get(api.ForwardedByHeader) != "" {
		return false
	}
	p, ok := c.holder(r.Context(), tag)
	if !ok {
		api.WriteError(w, api.NotFound(fmt.Sprintf("the call %s belongs to no node of this fleet (its node tag %s is none of %s)", sid, tag, c.ids(r.Context()))))
		return true
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, api.MaxBody))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			api.WriteError(w, api.ErrBodyTooLarge)
		} else {
			api.WriteError(w, &api.FieldError{Message: "reading the request body: " + err.Error()})
		}
		return true
	}
	ctx, cancel := context.WithTimeout(r.Context(), ForwardTimeout)
	defer cancel()
	target := p.URL + r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	out, err := http.NewRequestWithContext(ctx, r.Method, target, bytes.NewReader(body))
	if err != nil {
		api.WriteError(w, fmt.Errorf("forwarding to node %s: %w", p.ID, err)) // 500
		return true
	}
	for _, h := range passedHeaders {
		if v := r.Header.Values(h); len(v) > 0 {
			out.Header[h] = v
		}
	}
	out.Header.Set(api.ForwardedByHeader, c.self)
	resp, err := c.client.Do(out)
	if err != nil {
		err = peerError(p, err, ForwardTimeout)
		c.log.Warn("api: forwarding failed", "call_sid", sid, "node", p.ID, "method", r.Method, "error", err)
		api.WriteError(w, api.BadGateway(err.Error()))
		return true
	}
	defer resp.Body.Close()
	for _, h := range []string{"Content-Type", "X-Content-Type-Options", "Retry-After"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	n, err := io.Copy(w, io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		c.log.Warn("api: forwarded answer cut short", "call_sid", sid, "node", p.ID, "bytes", n, "error", err)
		return true
	}
	c.log.Debug("api: forwarded", "call_sid", sid, "node", p.ID, "method", r.Method, "status", resp.StatusCode)
	return true
}

// PeerCalls asks every other node for its live calls (GET /calls), all at
// once, each within ListTimeout, with r's credentials. Their calls come
// back with their node; a node that fails is among the unreachable, with
// why.
func (c *Cluster) PeerCalls(r *http.Request) ([]api.Call, []api.Unreachable) {
	peers := c.Peers(r.Context())
	type answer struct {
		calls []api.Call
		err   error
	}
	answers := make([]answer, len(peers))
	var wg sync.WaitGroup
	for i, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i].calls, answers[i].err = c.peerCalls(r, p)
		}()
	}
	wg.Wait()
	var (
		calls []api.Call
		down  []api.Unreachable
	)
	for i, a := range answers {
		if a.err != nil {
			c.log.Warn("api: a node did not list its calls", "node", peers[i].ID, "error", a.err)
			down = append(down, api.Unreachable{Node: peers[i].ID, Message: a.err.Error()})
			continue
		}
		calls = append(calls, a.calls...)
	}
	return calls, down
}

// peerCalls asks p for its live calls.
func (c *Cluster) peerCalls(r *http.Request, p Peer) ([]api.Call, error) {
	ctx, cancel := context.WithTimeout(r.Context(), ListTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL+"/calls", nil)
	if err != nil {
		return nil, fmt.Errorf("node %s (%s): %w", p.ID, p.URL, err)
	}
	if v := r.Header.Get("Authorization"); v != "" {
		req.Header.Set("Authorization", v)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set(api.ForwardedByHeader, c.self)
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, peerError(p, err, ListTimeout)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, peerError(p, err, ListTimeout)
	}
	if len(body) > maxAnswer {
		return nil, fmt.Errorf("node %s (%s) answered over %d bytes", p.ID, p.URL, maxAnswer)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("node %s (%s) answered %d: %s", p.ID, p.URL, resp.StatusCode, errorMessage(body))
	}
	var list struct {
		Calls []api.Call `json:"calls"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("node %s (%s) answered what is not a list of calls: %w", p.ID, p.URL, err)
	}
	for i := range list.Calls {
		if list.Calls[i].Node == "" {
			list.Calls[i].Node = p.ID
		}
	}
	return list.Calls, nil
}

// errorMessage returns the first message of an API errors body, or the
// start of any other body.
func errorMessage(body []byte) string {
	var e struct {
		Errors []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &e) == nil && len(e.Errors) > 0 {
		return e.Errors[0].Message
	}
	const most = 200
	s := string(bytes.TrimSpace(body))
	if len(s) > most {
		s = s[:most] + "…"
	}
	return s
}
