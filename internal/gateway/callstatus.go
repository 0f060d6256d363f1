package gateway

import (
	"strings"
	"time"

	"github.com/callstream/callstream/internal/call"
	"github.com/callstream/callstream/internal/callstatus"
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
