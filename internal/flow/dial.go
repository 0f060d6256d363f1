package flow

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/callstream/callstream/flexml"
	"github.com/callstream/callstream/internal/call"
	"github.com/callstream/callstream/internal/logsafe"
	"github.com/callstream/callstream/internal/sip"
)

// How a <Dial>'s call went: its DialCallStatus, as Twilio names them.
const (
	DialCompleted = "completed" // answered and bridged
	DialBusy      = "busy"      // refused busy (486, 600, 603)
	DialNoAnswer  = "no-answer" // not answered within timeout (or 408, 480, 487)
	DialFailed    = "failed"    // not placed, or refused otherwise
	DialCanceled  = "canceled"  // the caller hung up while it rang
)

// errNoTrunk is why a <Number> cannot be dialled.
var errNoTrunk = errors.New("<Number> needs a PSTN trunk: serve --pstn-trunk HOST[:PORT]")

// UseDialer makes dial the way <Dial> places its calls: the gateway's
// Dial, which owns the calls it returns (their CallSid, metrics and
// release). Without it every Dial fails.
func (in *Interpreter) UseDialer(dial func(sip.DialConfig) *call.Call) {
	in.dialer.Store(&dial)
}

// dialOutcome is what a <Dial> reports to its action.
type dialOutcome struct {
	status  string
	sid     string        // the second call's CallSid; "" when it was not placed
	bridged time.Duration // how long both calls were connected
	// recording holds the Recording fields when the bridge was recorded.
	recording Results
}

// dial runs a <Dial>: it answers the caller (unless answerOnBridge), calls
// the target, and bridges the two calls until either hangs up, the caller
// presses * (hangupOnStar) or timeLimit passes. With an action it returns
// the action request with DialCallStatus, DialCallDuration and
// DialCallSid; otherwise nil and the document goes on. It returns
// call.ErrEnded when the caller hung up.
func (r *run) dial(ctx context.Context, d *flexml.Dial) (*redirect, error) {
	if d.AnswerOnBridge && !r.c.Answered() {
		if err := r.c.Ring(); err != nil && !errors.Is(err, call.ErrEnded) {
			r.log.Debug("dial: ringing the caller", "err", err)
		}
	} else if err := r.c.Answer(); err != nil {
		return nil, err
	}
	res := r.placeDial(ctx, d)
	secs := int(math.Round(res.bridged.Seconds()))
	r.log.Info("dial ended", "dial_call_status", res.status, "dial_call_duration", secs, "dial_call_sid", res.sid)
	if ctx.Err() != nil {
		return nil, call.ErrEnded
	}
	if d.Action == "" {
		return nil, nil
	}
	dur := strconv.Itoa(secs)
	results := res.recording
	results.DialCallStatus, results.DialCallDuration = &res.status, &dur
	if res.sid != "" {
		results.DialCallSid = &res.sid
	}
	return r.action(d.Action, d.Method, results)
}

// placeDial places the Dial's call, waits for its answer and bridges it.
func (r *run) placeDial(ctx context.Context, d *flexml.Dial) dialOutcome {
	dc, err := r.dialConfig(d)
	if err != nil {
		r.log.Error("dial refused: "+err.Error(), "line", d.Line)
		return dialOutcome{status: DialFailed}
	}
	dialer := r.in.dialer.Load()
	if dialer == nil {
		r.log.Error("dial refused: this gateway places no calls", "line", d.Line)
		return dialOutcome{status: DialFailed}
	}
	out := (*dialer)(dc)
	res := dialOutcome{sid: out.Sid()}
	r.log.Info("dial: calling", "to", logsafe.URL(dc.Target), "from", dc.From, "dial_call_sid", res.sid,
		"timeout", d.Timeout.String())
	ring := time.NewTimer(d.Timeout)
	defer ring.Stop()
	select {
	case <-out.Connected():
	case <-out.Done():
		res.status = dialStatus(out.DialErr())
		r.log.Info("dial: not answered", "dial_call_status", res.status, "reason", out.EndReason())
		return res
	case <-ring.C:
		out.Hangup("no answer")
		res.status = DialNoAnswer
		return res
	case <-ctx.Done():
		out.Hangup(endedBy(ctx))
		res.status = DialCanceled
		return res
	}
	if d.AnswerOnBridge {
		if err := r.c.Answer(); err != nil {
			out.Hangup("caller not answered")
			r.log.Warn("dial: the caller could not be answered", "err", err)
			res.status = DialFailed
			return res
		}
	}
	res.status = DialCompleted
	res.bridged = r.bridge(ctx, out, d, &res.recording)
	return res
}

// dialConfig is the SIP call a Dial places: its target (a number through
// the PSTN trunk) and the caller id the callee sees: callerId, else the
// caller's own user part, else --caller-id.
func (r *run) dialConfig(d *flexml.Dial) (sip.DialConfig, error) {
	t := d.Target
	dc := sip.DialConfig{Target: t.URI, AuthUser: t.Username, Password: t.Password}
	if t.Number {
		if r.in.cfg.PSTNTrunk == "" {
			return dc, errNoTrunk
		}
		dc.Target = "sip:" + t.URI + "@" + r.in.cfg.PSTNTrunk
	}
	dc.From = d.CallerID
	if dc.From == "" {
		dc.From = r.c.Parties().From
	}
	if dc.From == "" {
		dc.From = r.in.cfg.CallerID
	}
	if dc.From == "" {
		dc.From = "callstream"
	}
	return dc, nil
}

// bridge connects the caller and the answered call out both ways until
// one hangs up, the caller presses * (hangupOnStar) or timeLimit passes,
// and returns how long they were connected. Each side's inbound audio is
// the other's source through a relay, paced by the media clock and kept
// in the listener's codec (the bytes as they came when both speak the
// same one): what the caller hears is its outbound track, which streams
// on the caller carry. With record, the bridge is recorded for as long as
// it lasts and recorded gets the Recording fields.
func (r *run) bridge(ctx context.Context, out *call.Call, d *flexml.Dial, recorded *Results) time.Duration {
	started := time.Now()
	if digits := d.Target.SendDigits; digits != "" {
		if err := out.SendDigits(ctx, digits); err != nil && ctx.Err() == nil {
			r.log.Warn("dial: sendDigits not sent", "err", err)
		}
	}
	// The caller's * is watched for before the bridge is announced: a key
	// pressed as soon as the parties hear each other counts.
	star := make(chan struct{}, 1)
	if d.HangupOnStar {
		defer r.c.OnDTMF(func(digit byte) {
			if digit == '*' {
				select {
				case star <- struct{}{}:
				default:
				}
			}
		})()
	}
	toCallee, toCaller := call.NewRelay(), call.NewRelay()
	out.SetSource(toCallee)
	r.c.AddTap(toCallee)
	out.AddTap(toCaller)
	r.c.SetSource(toCaller)
	var rec *dialRecording
	if d.Record != flexml.DialRecordNone {
		rec = r.startDialRecording(d)
	}
	r.log.Info("dial: bridged", "dial_call_sid", out.Sid(), "codec", r.c.Format().String(), "callee_codec", out.Format().String())
	defer func() {
		r.c.RemoveTap(toCallee)
		r.c.ClearSource(toCaller)
		out.RemoveTap(toCaller)
		out.ClearSource(toCallee)
	}()
	limit := time.NewTimer(d.TimeLimit)
	defer limit.Stop()
	var why string
	select {
	case <-out.Done():
		why = "callee hung up"
	case <-star:
		why = "hangupOnStar"
		out.Hangup("caller pressed *")
	case <-limit.C:
		why = "timeLimit"
		out.Hangup("dial time limit")
	case <-ctx.Done():
		why = endedBy(ctx)
		out.Hangup(why)
	}
	bridged := time.Since(started)
	if rec != nil {
		rec.stop(r, recorded)
	}
	r.log.Info("dial: bridge ended", "ended_by", why, "bridged", bridged.Round(time.Millisecond).String())
	return bridged
}

// dialStatus maps why a Dial's call was not answered to DialCallStatus.
func dialStatus(err error) string {
	var de *sip.DialError
	if errors.As(err, &de) {
		switch de.Code {
		case 486, 600, 603:
			return DialBusy
		case 408, 480, 487:
			return DialNoAnswer
		}
	}
	return DialFailed
}

// warnDial warns, when the document is loaded, of each <Dial><Number>
// that will fail because no PSTN trunk is configured.
func (r *run) warnDial(doc *flexml.Document, loc string) {
	if r.in.cfg.PSTNTrunk != "" {
		return
	}
	for _, v := range doc.Verbs {
		if d, ok := v.(*flexml.Dial); ok && d.Target.Number {
			r.log.Warn("flexml warning", "url", logsafe.URL(loc), "warning",
				fmt.Sprintf("%s:%d:%d: <Dial>: %s; this Dial will end with DialCallStatus=failed",
					doc.Name, d.Target.Line, d.Target.Col, errNoTrunk))
		}
	}
}
