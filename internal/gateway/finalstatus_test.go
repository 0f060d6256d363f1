package gateway

import (
	"testing"
	"time"

	"github.com/callstream/callstream/internal/call"
	"github.com/callstream/callstream/internal/callstatus"
	"github.com/callstream/callstream/internal/sip"
)

func TestFinalStatus(t *testing.T) {
	for _, tc := range []struct {
		st   call.Stats
		want string
	}{
		{call.Stats{AnsweredAt: time.Now().Add(-1500 * time.Millisecond), EndReason: "caller hung up"}, callstatus.Completed},
		{call.Stats{EndCause: sip.EndCancel, EndReason: "caller cancelled"}, callstatus.Canceled},
		{call.Stats{EndReason: "rejected 486 Busy Here"}, callstatus.Busy},
		{call.Stats{EndReason: "rejected 600 busy"}, callstatus.Busy},
		{call.Stats{EndReason: "rejected 480 no answer"}, callstatus.NoAnswer},
		{call.Stats{EndReason: "hangup verb"}, callstatus.NoAnswer},
		{call.Stats{EndReason: "rejected 500 application unavailable"}, callstatus.Failed},
		{call.Stats{EndReason: "rejected 503 shutting down"}, callstatus.Failed},
	} {
		got, d := finalStatus(tc.st)
		if got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.st.EndReason, got, tc.want)
		}
		if (got == callstatus.Completed) != (d >= 0) || got == callstatus.Completed && d < 1500*time.Millisecond {
			t.Errorf("%s: duration %s", got, d)
		}
	}
}
