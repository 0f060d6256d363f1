package gateway

import (
	"strings"
	"time"

	"github.com/callstream/callstream/internal/call"
	"github.com/callstream/callstream/internal/callstatus"
	"github.com/callstream/callstream/internal/logsafe"
	"github.com/callstream/callstream/internal/sip"
)

// finalStatus maps how an incoming call ended to its last status
// callback: completed (with how long it was answered) once answered; else
// canceled when the caller gave up, busy for a 486 or 600 refusal,
// no-answer for a 480 or 408 (a Hangup before the answer sends 480), and
// failed for anything else (the app failed: 500, or another refusal).
func finalStatus(st call.Stats) (string, time.Duration) {
	if !st.AnsweredAt.IsZero() {
		return callstatus.Completed, time.Since(st.AnsweredAt)
	}
	reason := st.EndReason
	switch {
	case st.EndCause == sip.EndCancel || strings.HasSuffix(reason, " cancelled"):
		return callstatus.Canceled, -1
	case strings.HasPrefix(reason, "rejected 486 "), strings.HasPrefix(reason, "rejected 600 "):
		return callstatus.Busy, -1
	case strings.HasPrefix(reason, "rejected 480 "), strings.HasPrefix(reason, "rejected 408 "),
		!strings.HasPrefix(reason, "rejected "):
		return callstatus.NoAnswer, -1
	}
	return callstatus.Failed, -1
}

// setCallStatusURL sends the call callSid's status events from now on to
// rawURL too (by method), as its app's answer asked: the first URL a call
// is given stays, later ones are ignored. A URL that fails the checks is
// warned about and the call goes on; the URL policy is applied when the
// events are sent (a refusal is warned about and counted once).
func (g *Gateway) setCallStatusURL(callSid, rawURL, method string) {
	v, ok := g.statusCalls.Load(callSid)
	if !ok {
		return // the call is ending
	}
	log := g.log.With("call_sid", callSid)
	set, err := v.(*callstatus.Call).Target(rawURL, method)
	switch {
	case err != nil:
		log.Warn("status callback header ignored", "url", logsafe.URL(rawURL), "err", err)
	case set:
		log.Info("status callback for this call", "url", logsafe.URL(rawURL))
	default:
		log.Debug("status callback header ignored: the call has one", "url", logsafe.URL(rawURL))
	}
}
