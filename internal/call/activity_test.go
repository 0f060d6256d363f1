package call

import (
	"testing"
	"time"

	"github.com/callstream/callstream/internal/limit"
	"github.com/callstream/callstream/internal/sip"
)

// The once-a-second check ends a call for the right bound, counting the
// right refusal, and leaves every other call alone.
func TestCheckBounds(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	cfg := Config{RTPTimeout: 30 * time.Second, MaxCallDuration: 4 * time.Hour, HoldTimeout: time.Hour}
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	for name, tc := range map[string]struct {
		cfg     Config
		a       activity
		reason  string
		refusal limit.Refusal
	}{
		"talking": {cfg, activity{now: at(time.Hour), answeredAt: t0, lastPacket: at(time.Hour - 20*time.Millisecond), direction: sip.DirSendRecv, offerAt: t0}, "", ""},
		"max duration": {cfg, activity{now: at(4 * time.Hour), answeredAt: t0, lastPacket: at(4*time.Hour - time.Second), direction: sip.DirSendRecv},
			reasonMaxDuration, limit.CallDuration},
		"max duration beats hold": {cfg, activity{now: at(4 * time.Hour), answeredAt: t0, direction: sip.DirInactive, heldSince: at(3*time.Hour + 30*time.Minute)},
			reasonMaxDuration, limit.CallDuration},
		"max duration off":                       {Config{RTPTimeout: 30 * time.Second, MaxCallDuration: -1}, activity{now: at(100 * time.Hour), answeredAt: t0, lastPacket: at(100 * time.Hour), direction: sip.DirSendRecv}, "", ""},
		"held, within the timeout":               {cfg, activity{now: at(50 * time.Minute), answeredAt: t0, direction: sip.DirInactive, heldSince: at(time.Minute)}, "", ""},
		"held too long":                          {cfg, activity{now: at(61 * time.Minute), answeredAt: t0, direction: sip.DirInactive, heldSince: at(time.Minute)}, reasonHoldTimeout, limit.HoldTimeout},
		"held recvonly too long":                 {cfg, activity{now: at(61 * time.Minute), answeredAt: t0, direction: sip.DirRecvOnly, heldSince: at(time.Minute)}, reasonHoldTimeout, limit.HoldTimeout},
		"held, hold timeout off":                 {Config{RTPTimeout: 30 * time.Second}, activity{now: at(61 * time.Minute), answeredAt: t0, direction: sip.DirInactive, heldSince: at(time.Minute)}, "", ""},
		"held and silent: no rtp timeout":        {cfg, activity{now: at(10 * time.Minute), answeredAt: t0, direction: sip.DirInactive, heldSince: at(time.Second)}, "", ""},
		"sendonly hold with music is not a hold": {cfg, activity{now: at(2 * time.Hour), answeredAt: t0, lastPacket: at(2 * time.Hour), direction: sip.DirSendOnly, heldSince: time.Time{}}, "", ""},
		"no rtp since the answer":                {cfg, activity{now: at(31 * time.Second), answeredAt: t0, direction: sip.DirSendRecv}, "rtp timeout (30s without media)", ""},
		"rtp stopped":                            {cfg, activity{now: at(time.Minute), answeredAt: t0, lastPacket: at(29 * time.Second), direction: sip.DirSendRecv}, "rtp timeout (30s without media)", ""},
		"resumed from hold just now":             {cfg, activity{now: at(time.Hour), answeredAt: t0, lastPacket: at(time.Minute), direction: sip.DirSendRecv, offerAt: at(time.Hour - time.Second)}, "", ""},
		"outgoing call, silent":                  {cfg, activity{now: at(31 * time.Second), answeredAt: t0}, "rtp timeout (30s without media)", ""},
	} {
		t.Run(name, func(t *testing.T) {
			hit := checkBounds(tc.cfg, tc.a)
			switch {
			case tc.reason == "" && hit != nil:
				t.Fatalf("ended the call: %q", hit.reason)
			case tc.reason == "":
			case hit == nil:
				t.Fatalf("call not ended, want %q", tc.reason)
			case hit.reason != tc.reason || hit.refusal != tc.refusal:
				t.Fatalf("ended with %q counting %q, want %q counting %q", hit.reason, hit.refusal, tc.reason, tc.refusal)
			case hit.msg == "" || len(hit.attrs) == 0:
				t.Fatalf("no log line for %q", hit.reason)
			}
		})
	}
}
