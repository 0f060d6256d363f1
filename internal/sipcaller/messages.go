package sipcaller

import (
	"context"
	"fmt"

	"github.com/emiago/sipgo/sip"
)

// maxMessages bounds the MESSAGE and INFO requests a call keeps.
const maxMessages = 64

// Message is a MESSAGE or INFO the gateway sent in a call's dialog.
type Message struct {
	Method      string // "MESSAGE" or "INFO"
	ContentType string
	Body        []byte
}

// onInDialog answers a MESSAGE or INFO in a call's dialog with 200 and
// keeps it; outside a known dialog it is 481.
func (c *Client) onInDialog(req *sip.Request, tx sip.ServerTransaction) {
	call := c.dialogCall(req, tx)
	if call == nil {
		return
	}
	m := Message{Method: string(req.Method), Body: append([]byte(nil), req.Body()...)}
	if ct := req.ContentType(); ct != nil {
		m.ContentType = ct.Value()
	}
	call.mu.Lock()
	if len(call.messages) < maxMessages {
		call.messages = append(call.messages, m)
	}
	call.mu.Unlock()
	select {
	case call.msgSig <- struct{}{}:
	default:
	}
	respond(tx, req, sip.StatusOK, "OK")
}

// Messages returns the MESSAGE and INFO requests the gateway sent in the
// call's dialog, in order.
func (c *Call) Messages() []Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Message(nil), c.messages...)
}

// WaitMessages waits until the gateway has sent n MESSAGE or INFO requests
// in the call's dialog and returns them.
func (c *Call) WaitMessages(ctx context.Context, n int) ([]Message, error) {
	for {
		if got := c.Messages(); len(got) >= n {
			return got, nil
		}
		select {
		case <-c.msgSig:
		case <-ctx.Done():
			return c.Messages(), fmt.Errorf("sipcaller: %d of %d in-dialog messages: %w", len(c.Messages()), n, ctx.Err())
		}
	}
}

// SendInDialog sends a MESSAGE or INFO (method) with body of contentType
// and headers (name, value pairs) in the call's dialog and returns the
// gateway's status code.
func (c *Call) SendInDialog(ctx context.Context, method, contentType string, body []byte, headers ...string) (int, error) {
	target := c.dlg.InviteRequest.Recipient
	if ct := c.dlg.InviteResponse.Contact(); ct != nil {
		target = ct.Address
	}
	req := sip.NewRequest(sip.RequestMethod(method), *target.Clone())
	req.AppendHeader(sip.NewHeader("Content-Type", contentType))
	for i := 0; i+1 < len(headers); i += 2 {
		req.AppendHeader(sip.NewHeader(headers[i], headers[i+1]))
	}
	req.SetBody(body)
	res, err := c.dlg.Do(ctx, req)
	if err != nil {
		return 0, fmt.Errorf("sipcaller: %s: %w", method, err)
	}
	return res.StatusCode, nil
}
