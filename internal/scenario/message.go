package scenario

import (
	"context"
	"fmt"
	"time"

	"github.com/dop251/goja"

	"github.com/callstream/callstream/internal/sip"
)

// maxInDialogPending bounds the MESSAGE and INFO requests of one call
// waiting for their answer.
const maxInDialogPending = 8

// inDialogTimeout bounds the wait for the answer to a MESSAGE or INFO.
const inDialogTimeout = 10 * time.Second

// sendInDialog is call.sendMessage (MESSAGE, text/plain) and call.sendInfo
// (INFO with the script's MIME type): the request goes in the call's dialog
// in the background; a failure is logged. A body over sip.MaxMessageBody, a
// bad MIME type or too many requests waiting throw.
func (jc *jsCall) sendInDialog(api, method, contentType string, body goja.Value) {
	s := jc.s
	text := ""
	if !isNothing(body) {
		text = body.String()
	}
	switch {
	case len(text) > sip.MaxMessageBody:
		s.throw(fmt.Errorf("%s: the body is %d bytes, at most %d may be sent in a SIP %s", api, len(text), sip.MaxMessageBody, method))
	case contentType == "" || len(contentType) > 128:
		s.throw(fmt.Errorf("%s: the MIME type must be given, at most 128 bytes", api))
	case jc.inDialog >= maxInDialogPending:
		s.throw(fmt.Errorf("%s: %d requests of this call wait for their answer already", api, maxInDialogPending))
	}
	if jc.ended || jc.state != callConnected {
		s.log.Warn(api+": the call is not connected: nothing sent", "state", jc.state)
		return
	}
	jc.inDialog++
	c := jc.c
	s.goroutine(func() {
		ctx, cancel := context.WithTimeout(s.ctx, inDialogTimeout)
		err := c.SendInDialog(ctx, method, contentType, []byte(text))
		cancel()
		if err != nil {
			s.log.Warn(api+" failed", "err", err)
		} else {
			s.log.Debug(api+" answered", "bytes", len(text))
		}
		s.post(func() { jc.inDialog-- })
	})
}

// Events of the MESSAGE and INFO requests a caller sends.
const (
	evMessageReceived = "Call.MessageReceived"
	evInfoReceived    = "Call.InfoReceived"
)

// maxInDialogQueued bounds the received MESSAGE and INFO requests of one
// call waiting for the loop; more are dropped with a warning.
const maxInDialogQueued = 32

// watchInDialog dispatches the MESSAGE and INFO requests the caller sends:
// MessageReceived {text, headers} and InfoReceived {mimeType, body, headers}.
func (jc *jsCall) watchInDialog() {
	s := jc.s
	jc.c.OnInDialog(func(r sip.InDialogRequest) {
		if jc.queued.Add(1) > maxInDialogQueued {
			jc.queued.Add(-1)
			s.rt.warn.Log("scenario: in-dialog request dropped: too many waiting", "call_sid", jc.c.Sid(), "method", r.Method)
			return
		}
		s.post(func() {
			jc.queued.Add(-1)
			if jc.ended {
				return
			}
			headers := s.vm.NewObject()
			for k, v := range r.Headers {
				_ = headers.Set(k, v)
			}
			if r.Method == "MESSAGE" {
				s.dispatch(jc.et, evMessageReceived, jc.event(evMessageReceived, "text", string(r.Body), "headers", headers))
				return
			}
			s.dispatch(jc.et, evInfoReceived, jc.event(evInfoReceived, "mimeType", r.ContentType, "body", string(r.Body), "headers", headers))
		})
	})
}
