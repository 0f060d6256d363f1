// Package limit holds the gateway's bounds on what peers may do: the one
// Limits struct every bound is a field of (with its default and its flag),
// per-source token buckets, a rate-limited warning logger, and the names of
// refusals as they are counted in metrics.
package limit

import (
	"flag"
	"time"
)

// Limits bounds what callers, apps and HTTP clients may make the gateway do.
// The zero value of a field means its default (see Defaults); a negative
// value switches the bound off.
type Limits struct {
	// WSMessage is the largest WebSocket message read from an app or an
	// incoming scenario socket; a larger one closes the socket with 1009.
	WSMessage int64
	// PendingMarks bounds the Twilio-dialect marks waiting for their audio
	// per stream; past it the oldest is answered at once.
	PendingMarks int
	// SIPConns bounds the SIP TCP and TLS connections open at once; it is
	// lowered to a quarter of the process's open-file limit.
	SIPConns int
	// SIPIdle closes a SIP TCP or TLS connection that carried nothing this
	// long and carries no call.
	SIPIdle time.Duration
	// MaxCalls bounds the calls at once; past it INVITEs get 503 with Retry-After.
	MaxCalls int
	// InviteRate is the INVITEs per second one source address may send
	// (token bucket); past it INVITEs get 503 with Retry-After.
	InviteRate float64
	// InviteBurst is the INVITEs a source may send at once before InviteRate applies.
	InviteBurst int
	// MaxCallDuration hangs up an answered call this long after its answer.
	MaxCallDuration time.Duration
	// HoldTimeout hangs up a call held (the caller sends no media) this long.
	HoldTimeout time.Duration
	// SessionMinSE is the shortest session interval (RFC 4028 Min-SE) accepted.
	SessionMinSE time.Duration
	// Sessions bounds the scenario sessions at once.
	Sessions int
	// SessionRate is the scenario sessions per second POST /scenarios may start.
	SessionRate float64
	// ScenarioHeap is the heap one scenario session may grow the process by
	// within one callback; a session that exceeds it ends.
	ScenarioHeap int64
	// HTTPConns bounds the HTTP connections open at once, per listener.
	HTTPConns int
}

// Defaults returns the limits the zero Limits means.
func Defaults() Limits {
	return Limits{
		WSMessage:       1 << 20,
		PendingMarks:    1000,
		SIPConns:        1000,
		SIPIdle:         2 * time.Minute,
		MaxCalls:        1000,
		InviteRate:      20,
		InviteBurst:     40,
		MaxCallDuration: 4 * time.Hour,
		HoldTimeout:     time.Hour,
		SessionMinSE:    90 * time.Second,
		Sessions:        500,
		SessionRate:     10,
		ScenarioHeap:    64 << 20,
		HTTPConns:       1000,
	}
}

// WithDefaults returns l with every zero field set to its default.
func (l Limits) WithDefaults() Limits {
	d := Defaults()
	fill(&l.WSMessage, d.WSMessage)
	fill(&l.PendingMarks, d.PendingMarks)
	fill(&l.SIPConns, d.SIPConns)
	fill(&l.SIPIdle, d.SIPIdle)
	fill(&l.MaxCalls, d.MaxCalls)
	fill(&l.InviteRate, d.InviteRate)
	fill(&l.InviteBurst, d.InviteBurst)
	fill(&l.MaxCallDuration, d.MaxCallDuration)
	fill(&l.HoldTimeout, d.HoldTimeout)
	fill(&l.SessionMinSE, d.SessionMinSE)
	fill(&l.Sessions, d.Sessions)
	fill(&l.SessionRate, d.SessionRate)
	fill(&l.ScenarioHeap, d.ScenarioHeap)
	fill(&l.HTTPConns, d.HTTPConns)
	return l
}

type number interface {
	~int | ~int64 | ~float64
}

func fill[T number](v *T, d T) {
	if *v == 0 {
		*v = d
	}
}

// On reports whether a bound is switched on (positive); after WithDefaults
// only a negative value is off.
func On[T number](v T) bool { return v > 0 }

// Register binds the limits' command-line flags to l, each with its default
// as the flag's default. On the command line 0 switches a bound off; call
// FromFlags after parsing to turn the parsed values into Limits.
func (l *Limits) Register(fs *flag.FlagSet) {
	*l = Defaults()
	fs.Int64Var(&l.WSMessage, "ws-max-message", l.WSMessage, "largest WebSocket message read from an app, in bytes; a larger one closes the socket with 1009; 0: off")
	fs.IntVar(&l.PendingMarks, "max-pending-marks", l.PendingMarks, "Twilio-dialect marks waiting for their audio per stream; past it the oldest is answered at once; 0: off")
	fs.IntVar(&l.SIPConns, "sip-tcp-max-conns", l.SIPConns, "SIP TCP/TLS connections at once (lowered to a quarter of the open-file limit); 0: off")
	fs.DurationVar(&l.SIPIdle, "sip-tcp-idle", l.SIPIdle, "close a SIP TCP/TLS connection idle this long that carries no call; 0: off")
	fs.IntVar(&l.MaxCalls, "max-calls", l.MaxCalls, "calls at once; past it INVITEs get 503 with Retry-After; 0: off")
	fs.Float64Var(&l.InviteRate, "invite-rate", l.InviteRate, "INVITEs per second per source address; past it 503 with Retry-After; 0: off")
	fs.IntVar(&l.InviteBurst, "invite-burst", l.InviteBurst, "INVITEs a source address may send at once before --invite-rate applies; 0: off")
	fs.DurationVar(&l.MaxCallDuration, "max-call-duration", l.MaxCallDuration, "hang up an answered call after this long; 0: off")
	fs.DurationVar(&l.HoldTimeout, "hold-timeout", l.HoldTimeout, "hang up a call that stays on hold this long; 0: off")
	fs.DurationVar(&l.SessionMinSE, "session-min-se", l.SessionMinSE, "shortest SIP session-timer interval accepted (RFC 4028 Min-SE); 0: off")
	fs.IntVar(&l.Sessions, "max-sessions", l.Sessions, "scenario sessions at once; 0: off")
	fs.Float64Var(&l.SessionRate, "session-rate", l.SessionRate, "scenario sessions per second POST /scenarios may start; 0: off")
	fs.Int64Var(&l.ScenarioHeap, "scenario-heap", l.ScenarioHeap, "heap one scenario callback may add, in bytes; a session past it ends; 0: off")
	fs.IntVar(&l.HTTPConns, "http-max-conns", l.HTTPConns, "HTTP connections at once per listener; 0: off")
}

// FromFlags returns the limits parsed by Register's flags, with the command
// line's 0 ("no limit") turned into the negative value Limits uses for off.
func (l Limits) FromFlags() Limits {
	off(&l.WSMessage)
	off(&l.PendingMarks)
	off(&l.SIPConns)
	off(&l.SIPIdle)
	off(&l.MaxCalls)
	off(&l.InviteRate)
	off(&l.InviteBurst)
	off(&l.MaxCallDuration)
	off(&l.HoldTimeout)
	off(&l.SessionMinSE)
	off(&l.Sessions)
	off(&l.SessionRate)
	off(&l.ScenarioHeap)
	off(&l.HTTPConns)
	return l
}

func off[T number](v *T) {
	if *v == 0 {
		*v = -1
	}
}
