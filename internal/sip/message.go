package sip

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// MaxMessageBody bounds the body of a MESSAGE or INFO the gateway sends in
// a call's dialog: over UDP the whole request must stay 200 bytes under a
// 1500-byte packet (RFC 3261 §18.1.1, RFC 3428 §8), and its headers take
// about 550 bytes.
const MaxMessageBody = 700

// ErrBodyTooLarge is a MESSAGE or INFO body over MaxMessageBody.
var ErrBodyTooLarge = errors.New("sip: message body too large")

// SendInDialog sends a MESSAGE or INFO (method) with body of contentType in
// the answered call's dialog and waits for the final response, which must
// be a 2xx.
func (c *Invite) SendInDialog(ctx context.Context, method, contentType string, body []byte) error {
	m := sip.RequestMethod(strings.ToUpper(method))
	if m != sip.MESSAGE && m != sip.INFO {
		return fmt.Errorf("sip: %s is not sent in a dialog by the gateway (MESSAGE or INFO)", method)
	}
	if len(body) > MaxMessageBody {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrBodyTooLarge, len(body), MaxMessageBody)
	}
	if contentType == "" || strings.ContainsAny(contentType, "\r\n") {
		return fmt.Errorf("sip: %s: bad content type %q", m, contentType)
	}
	if err := c.begin(); err != nil {
		return err
	}
	defer c.ops.Done()
	c.mu.Lock()
	err := c.inDialogLocked()
	c.mu.Unlock()
	if err != nil {
		return err
	}
	req := c.newInDialogRequest(m)
	req.AppendHeader(sip.NewHeader("Content-Type", contentType))
	req.SetBody(body)
	res, err := c.dlg.Do(ctx, req)
	if errors.Is(err, sip.ErrUDPMTUCongestion) {
		return fmt.Errorf("%w: %s with its headers does not fit one UDP packet (%d body bytes): %w", ErrBodyTooLarge, m, len(body), err)
	}
	if err != nil {
		return fmt.Errorf("sip: %s: %w", m, err)
	}
	if !res.IsSuccess() {
		return fmt.Errorf("sip: %s answered %d %s", m, res.StatusCode, res.Reason)
	}
	c.log.Debug("in-dialog request answered", "method", string(m), "bytes", len(body))
	return nil
}

// MaxInDialogBody bounds the body of a MESSAGE or INFO the gateway takes in
// a call's dialog; a longer one is answered 413.
const MaxInDialogBody = 4096

// InDialogRequest is a MESSAGE or INFO the caller sent in the dialog.
type InDialogRequest struct {
	Method      string            // "MESSAGE" or "INFO"
	ContentType string            // the Content-Type
	Body        []byte            // at most MaxInDialogBody bytes
	Headers     map[string]string // the X- headers, lower-case names
}

// OnRequest registers fn, called (from the request's goroutine, after the
// 200 OK) for every MESSAGE and INFO the caller sends in the dialog. A
// request without fn registered is answered 200 all the same.
func (c *Invite) OnRequest(fn func(InDialogRequest)) {
	c.mu.Lock()
	c.onRequest = fn
	c.mu.Unlock()
}

// onInDialog routes a MESSAGE or INFO to its call's dialog.
func (s *Server) onInDialog(req *sip.Request, tx sip.ServerTransaction) {
	inv := s.lookup(req)
	if inv == nil {
		s.respond(req, tx, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	inv.received(req, tx)
}

// received answers an in-dialog MESSAGE or INFO and hands it on.
func (c *Invite) received(req *sip.Request, tx sip.ServerTransaction) {
	body := req.Body()
	if len(body) > MaxInDialogBody {
		c.log.Warn("in-dialog request refused: body too large", "method", string(req.Method), "bytes", len(body), "max", MaxInDialogBody)
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusRequestEntityTooLarge, "Request Entity Too Large", nil))
		return
	}
	_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	c.mu.Lock()
	fn := c.onRequest
	c.mu.Unlock()
	if fn == nil {
		return
	}
	r := InDialogRequest{Method: string(req.Method), Body: append([]byte(nil), body...), Headers: map[string]string{}}
	if ct := req.ContentType(); ct != nil {
		r.ContentType = ct.Value()
	}
	for _, h := range req.Headers() {
		if name := strings.ToLower(h.Name()); strings.HasPrefix(name, "x-") && len(r.Headers) < 32 {
			r.Headers[name] = h.Value()
		}
	}
	fn(r)
}
