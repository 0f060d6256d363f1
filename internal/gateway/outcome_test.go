package gateway

import (
	"fmt"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/call"
	"github.com/callstream/callstream/internal/sip"
)

func TestOutcome(t *testing.T) {
	at := time.Now()
	for name, tc := range map[string]struct {
		st      call.Stats
		dialErr error
		want    string
	}{
		"caller hung up":            {call.Stats{AnsweredAt: at, EndCause: sip.EndRemoteBye}, nil, OutcomeRemoteHangup},
		"gateway hung up":           {call.Stats{AnsweredAt: at, EndCause: sip.EndLocalBye}, nil, OutcomeGatewayHangup},
		"no ACK after answer":       {call.Stats{AnsweredAt: at, EndCause: sip.EndError}, nil, OutcomeFailed},
		"caller cancelled":          {call.Stats{EndCause: sip.EndCancel}, nil, OutcomeCancelled},
		"BYE before answer":         {call.Stats{EndCause: sip.EndRemoteBye}, nil, OutcomeCancelled},
		"rejected":                  {call.Stats{EndCause: sip.EndRejected}, nil, OutcomeRejected},
		"dialog failed":             {call.Stats{EndCause: sip.EndError}, nil, OutcomeFailed},
		"outgoing given up":         {call.Stats{}, fmt.Errorf("dial: %w", sip.ErrDialCancelled), OutcomeCancelled},
		"outgoing refused":          {call.Stats{}, &sip.DialError{Code: 486, Reason: "Busy Here"}, OutcomeFailed},
		"outgoing answered, callee": {call.Stats{AnsweredAt: at, EndCause: sip.EndRemoteBye}, nil, OutcomeRemoteHangup},
	} {
		if got := outcome(tc.st, tc.dialErr); got != tc.want {
			t.Errorf("%s: %s, want %s", name, got, tc.want)
		}
	}
}
