package flow

import (
	"net/http"

	"github.com/callstream/callstream/internal/logsafe"
)

// The response headers by which an app's answer to a document request
// gives the call its own status callback URL (relative URLs resolve
// against the document's URL) and method (GET or POST; default POST).
const (
	HeaderStatusCallback       = "Callstream-Status-Callback"
	HeaderStatusCallbackMethod = "Callstream-Status-Callback-Method"
)

// StatusCallbackFunc takes the status callback URL (absolute) and method
// an app's answer gave the call callSid. It must not block.
type StatusCallbackFunc func(callSid, rawURL, method string)

// noteStatusCallback hands the status callback an answer from docURL
// carries to cfg.StatusCallback; a URL that does not resolve is warned
// about.
func (in *Interpreter) noteStatusCallback(callSid, docURL string, h http.Header) {
	raw := h.Get(HeaderStatusCallback)
	if raw == "" || in.cfg.StatusCallback == nil {
		return
	}
	abs, err := resolve(docURL, raw)
	if err != nil {
		in.cfg.Logger.Warn("status callback header ignored: not a URL", "call_sid", callSid, "url", logsafe.URL(raw))
		return
	}
	in.cfg.StatusCallback(callSid, abs, h.Get(HeaderStatusCallbackMethod))
}
