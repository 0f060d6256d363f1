package flow

import (
	"errors"
	"fmt"
	"testing"

	"github.com/callstream/callstream/internal/sip"
)

// How a Dial's call was refused maps to Twilio's DialCallStatus.
func TestDialStatus(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&sip.DialError{Code: 486, Reason: "Busy Here"}, DialBusy},
		{fmt.Errorf("dial: %w", &sip.DialError{Code: 600, Reason: "Busy Everywhere"}), DialBusy},
		{&sip.DialError{Code: 603, Reason: "Decline"}, DialBusy},
		{&sip.DialError{Code: 480, Reason: "Temporarily Unavailable"}, DialNoAnswer},
		{&sip.DialError{Code: 408, Reason: "Request Timeout"}, DialNoAnswer},
		{&sip.DialError{Code: 404, Reason: "Not Found"}, DialFailed},
		{&sip.DialError{Code: 503, Reason: "Service Unavailable"}, DialFailed},
		{errors.New("no route"), DialFailed},
		{nil, DialFailed},
	} {
		if got := dialStatus(tc.err); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.err, got, tc.want)
		}
	}
}
