package sipcaller

import (
	"context"
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Reply is a final response to a request outside a call (OPTIONS).
type Reply struct {
	Code   int               // SIP status code
	Reason string            // reason phrase of the status line
	Header map[string]string // response headers: lower-case name -> first value
}

// Options sends an OPTIONS probe to target (host[:port], UDP), as a load
// balancer or a dispatcher does, and returns the final response.
func (c *Client) Options(ctx context.Context, target string) (*Reply, error) {
	host, port, err := splitTarget(target)
	if err != nil {
		return nil, err
	}
	req := sip.NewRequest(sip.OPTIONS, sip.Uri{Scheme: "sip", Host: host, Port: port})
	req.AppendHeader(sip.NewHeader("User-Agent", "callstream-caller"))
	req.SetTransport("UDP")
	res, err := c.dua.Client.Do(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("sipcaller: OPTIONS %s: %w", target, err)
	}
	r := &Reply{Code: res.StatusCode, Reason: res.Reason, Header: make(map[string]string)}
	for _, h := range res.Headers() {
		name := strings.ToLower(h.Name())
		if _, ok := r.Header[name]; !ok {
			r.Header[name] = h.Value()
		}
	}
	return r, nil
}
