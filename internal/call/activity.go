package call

import (
	"fmt"
	"time"

	"github.com/callstream/callstream/internal/limit"
	"github.com/callstream/callstream/internal/sip"
)

// End reasons of calls a bound hung up.
const (
	reasonMaxDuration    = "max call duration reached"
	reasonHoldTimeout    = "hold timeout"
	reasonSessionExpired = "session timer expired"
)

// activity is what the once-a-second check looks at.
type activity struct {
	now        time.Time
	answeredAt time.Time
	lastPacket time.Time // the caller's last RTP packet (zero: none yet)
	direction  string    // the caller's latest offer's direction ("": not known, an outgoing call)
	offerAt    time.Time // when that offer came
	heldSince  time.Time // when the caller put the call on hold (zero: not held)
}

// boundHit is a bound that ends a call: its end reason, the refusal
// counted ("" for none) and the warning logged with its attributes.
type boundHit struct {
	reason  string
	refusal limit.Refusal
	msg     string
	attrs   []any
}

// checkBounds says which bound, if any, ends the call now: the maximum
// duration since the answer; for a held call (the caller's latest offer
// sends nothing) the hold timeout, and no RTP timeout, since a held caller
// is not idle; else the RTP timeout, counted from the last packet, the
// answer, or the offer that took the call back from hold, whichever is
// latest. A bound of zero or less is off.
func checkBounds(cfg Config, a activity) *boundHit {
	if bound := cfg.MaxCallDuration; bound > 0 {
		if d := a.now.Sub(a.answeredAt); d >= bound {
			return &boundHit{reasonMaxDuration, limit.CallDuration, "max call duration reached: hanging up",
				[]any{"duration", d.Round(time.Millisecond).String(), "max_call_duration", bound.String()}}
		}
	}
	if a.direction == sip.DirInactive || a.direction == sip.DirRecvOnly {
		if bound := cfg.HoldTimeout; bound > 0 && !a.heldSince.IsZero() {
			if held := a.now.Sub(a.heldSince); held >= bound {
				return &boundHit{reasonHoldTimeout, limit.HoldTimeout, "caller held the call too long: hanging up",
					[]any{"held", held.Round(time.Millisecond).String(), "hold_timeout", bound.String()}}
			}
		}
		return nil
	}
	last := a.lastPacket
	if last.IsZero() {
		last = a.answeredAt
	}
	if a.offerAt.After(last) {
		last = a.offerAt
	}
	if idle := a.now.Sub(last); cfg.RTPTimeout > 0 && idle > cfg.RTPTimeout {
		return &boundHit{fmt.Sprintf("rtp timeout (%s without media)", cfg.RTPTimeout), "", "no RTP from caller: hanging up",
			[]any{"idle", idle.Round(time.Millisecond), "rtp_timeout", cfg.RTPTimeout}}
	}
	return nil
}

// checkActivity runs once a second on the media clock (no timer of the
// call's own) and hangs the call up when a bound says so.
func (c *Call) checkActivity() {
	if c.bounded.Load() {
		return
	}
	a := activity{now: time.Now(), answeredAt: c.mediaAt, lastPacket: c.recv.LastPacket()}
	if c.inv != nil {
		a.direction, a.offerAt = c.inv.RemoteDirection()
		if a.direction == sip.DirInactive || a.direction == sip.DirRecvOnly {
			a.heldSince = c.inv.HeldSince()
		}
	}
	hit := checkBounds(c.cfg, a)
	if hit == nil || !c.bounded.CompareAndSwap(false, true) {
		return
	}
	c.log.Warn(hit.msg, hit.attrs...)
	if hit.refusal != "" {
		limit.Count(c.cfg.Refusals, hit.refusal)
	}
	// The BYE goes out from a goroutine of the call's: the media clock
	// must not wait on SIP.
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.Hangup(hit.reason)
	}()
}
