package scenario

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"

	"github.com/callstream/callstream/internal/call"
	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/sip"
	"github.com/callstream/callstream/internal/stream"
)

// Call states as call.state() returns them.
const (
	callAlerting    = "ALERTING"
	callProgressing = "PROGRESSING" // an outgoing call not answered yet
	callConnected   = "CONNECTED"
	callTerminated  = "TERMINATED"
)

// sink is a unit that receives audio: a Call, a WebSocket, a Recorder.
type sink interface {
	// attach makes src the audio the unit receives; opts describe the
	// stream (for a WebSocket). replaced runs on the loop when something
	// else takes the unit over. detach undoes attach. Loop only.
	attach(src call.Source, opts mediaOpts, replaced func()) (detach func(), err error)
	// format is the format of the frames the unit takes: a call's own
	// format, µ-law for a recorder and a WebSocket's pump.
	format() codec.Format
}

// attachment is what plays to a caller now.
type attachment struct {
	src      call.Source
	replaced func()
}

// jsCall is the JavaScript Call object of one call.
type jsCall struct {
	s   *session
	c   *call.Call
	obj *goja.Object
	et  *eventTarget

	// Loop only.
	state       string
	customData  string
	answering   bool
	ended       bool
	answeredAt  time.Time
	toneCancel  func()
	cur         *attachment
	answerTimer *time.Timer
	recording   *callRecording // call.record in progress

	inDialog int          // MESSAGE and INFO requests waiting for their answer
	queued   atomic.Int32 // received MESSAGE and INFO requests waiting for the loop

	audio    atomic.Bool // AudioStarted fired (the media clock checks)
	outgoing bool        // placed by callSIP/callPSTN
	placed   bool        // placed by the REST API, delivered answered as the session's incoming call
	timedOut bool        // loop only: an outgoing call cancelled for ringing too long
}

// callRelay is one call.sendMediaTo(unit) to a call or a recorder: the
// call's inbound audio through a relay that is the unit's source.
type callRelay struct {
	call   *jsCall
	obj    *goja.Object // the unit
	relay  *call.Relay
	detach func()
}

// callFlow is one call.sendMediaTo(websocket): a flow of the call's audio.
type callFlow struct {
	call *jsCall
	ws   *jsSocket
	tag  string
	flow *stream.Flow
}

// sipReasons are the reason phrases of the codes a scenario rejects with.
var sipReasons = map[int]string{
	403: "Forbidden", 404: "Not Found", 408: "Request Timeout", 480: "Temporarily Unavailable",
	486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here", 500: "Server Internal Error",
	503: "Service Unavailable", 600: "Busy Everywhere", 603: "Decline",
}

// addCall makes the Call object of c and watches the call.
func (s *session) addCall(c *call.Call) *jsCall {
	p := c.Parties()
	jc := &jsCall{s: s, c: c, state: callAlerting, outgoing: p.Outgoing}
	if p.Outgoing {
		jc.state = callProgressing
	}
	vm := s.vm
	obj := vm.NewObject()
	jc.obj = obj
	jc.et = newEventTarget(obj, nil)
	jc.et.methods(vm)
	m := func(name string, fn func(goja.FunctionCall) goja.Value) { _ = obj.Set(name, fn) }
	str := func(v string) func(goja.FunctionCall) goja.Value {
		return func(goja.FunctionCall) goja.Value { return vm.ToValue(v) }
	}
	m("id", str(c.Sid()))
	m("callerid", str(p.From))
	m("number", func(goja.FunctionCall) goja.Value { return vm.ToValue(jc.c.Parties().To) })
	m("displayName", str(p.FromDisplay))
	m("clientType", str("sip"))
	m("state", func(goja.FunctionCall) goja.Value { return vm.ToValue(jc.state) })
	m("incoming", func(goja.FunctionCall) goja.Value { return vm.ToValue(!jc.outgoing) })
	m("headers", func(goja.FunctionCall) goja.Value {
		h := vm.NewObject()
		for k, v := range jc.c.Parties().Headers {
			_ = h.Set(k, v)
		}
		return h
	})
	m("customData", func(fc goja.FunctionCall) goja.Value {
		if v := fc.Argument(0); !isNothing(v) {
			jc.customData = v.String()
		}
		return vm.ToValue(jc.customData)
	})
	m("answer", func(goja.FunctionCall) goja.Value { jc.answer(); return goja.Undefined() })
	m("answerDirect", func(goja.FunctionCall) goja.Value { jc.answer(); return goja.Undefined() })
	m("reject", func(fc goja.FunctionCall) goja.Value {
		code := 486
		if v := fc.Argument(0); !isNothing(v) {
			code = int(v.ToInteger())
		}
		jc.reject(code)
		return goja.Undefined()
	})
	m("decline", func(goja.FunctionCall) goja.Value { jc.reject(603); return goja.Undefined() })
	m("ring", func(goja.FunctionCall) goja.Value {
		if jc.outgoing || jc.state != callAlerting {
			s.log.Warn("call.ring: only an incoming call that is not answered rings", "state", jc.state)
			return goja.Undefined()
		}
		s.goroutine(func() {
			if err := c.Ring(); err != nil {
				s.log.Warn("call.ring failed", "err", err)
			}
		})
		return goja.Undefined()
	})
	m("startEarlyMedia", func(goja.FunctionCall) goja.Value { jc.startEarlyMedia(); return goja.Undefined() })
	m("hangup", func(goja.FunctionCall) goja.Value { jc.hangup(); return goja.Undefined() })
	m("say", func(fc goja.FunctionCall) goja.Value {
		jc.play(ttsSource(fc.Argument(0).String(), s.voiceOf(fc.Argument(1))), false)
		return goja.Undefined()
	})
	m("startPlayback", func(fc goja.FunctionCall) goja.Value {
		jc.play(fetchSource(fc.Argument(0).String()), optBool(fc.Argument(1), "loop"))
		return goja.Undefined()
	})
	m("stopPlayback", func(goja.FunctionCall) goja.Value { jc.stopPlayback(); return goja.Undefined() })
	m("sendMediaTo", func(fc goja.FunctionCall) goja.Value {
		s.sendMedia(obj, fc.Argument(0), fc.Argument(1))
		return goja.Undefined()
	})
	m("stopMediaTo", func(fc goja.FunctionCall) goja.Value {
		s.stopMedia(obj, fc.Argument(0), fc.Argument(1))
		return goja.Undefined()
	})
	m("record", func(fc goja.FunctionCall) goja.Value { jc.record(fc.Argument(0)); return goja.Undefined() })
	m("stopRecording", func(goja.FunctionCall) goja.Value { jc.stopRecording(true); return goja.Undefined() })
	m("handleTones", func(fc goja.FunctionCall) goja.Value {
		jc.handleTones(fc.Argument(0).ToBoolean())
		return goja.Undefined()
	})
	m("sendDigits", func(fc goja.FunctionCall) goja.Value {
		jc.sendDigits(fc.Argument(0).String())
		return goja.Undefined()
	})
	m("sendMessage", func(fc goja.FunctionCall) goja.Value {
		jc.sendInDialog("call.sendMessage", "MESSAGE", "text/plain; charset=utf-8", fc.Argument(0))
		return goja.Undefined()
	})
	m("sendInfo", func(fc goja.FunctionCall) goja.Value {
		jc.sendInDialog("call.sendInfo", "INFO", fc.Argument(0).String(), fc.Argument(1))
		return goja.Undefined()
	})
	s.installRefusedMembers("Call", obj)
	jc.watchInDialog()

	s.units[obj] = jc
	s.calls = append(s.calls, jc)
	s.liveCalls.Add(1)
	s.disarmIdle()
	s.clock.addCall(jc)
	if c.Answered() {
		jc.state = callConnected
		jc.answeredAt = time.Now()
	} else {
		jc.answerTimer = time.AfterFunc(s.lim.AnswerTimeout, func() { s.post(jc.answerExpired) })
	}
	s.goroutine(func() {
		if conn := c.Connected(); conn != nil {
			select {
			case <-conn:
				s.post(jc.connectedOut)
			case <-c.Done():
				// Answered and ended at once: Connected comes first.
				select {
				case <-conn:
					s.post(jc.connectedOut)
				default:
				}
			case <-s.ctx.Done():
				return
			}
		}
		select {
		case <-c.Done():
			s.post(jc.end)
		case <-s.ctx.Done():
		}
	})
	return jc
}

// progress runs on the loop for a provisional response to an outgoing
// call: 180 and 183 fire Ringing.
func (jc *jsCall) progress(code int, reason string) {
	if jc.ended || jc.state != callProgressing {
		return
	}
	jc.s.dispatch(jc.et, evRinging, jc.event(evRinging, "code", code, "reason", reason))
}

// connectedOut runs on the loop when an outgoing call is answered.
func (jc *jsCall) connectedOut() {
	if jc.ended || jc.state != callProgressing {
		return
	}
	if jc.answerTimer != nil {
		jc.answerTimer.Stop()
	}
	jc.state = callConnected
	jc.answeredAt = time.Now()
	headers := jc.s.vm.NewObject()
	h := jc.c.Parties().Headers
	for _, k := range slices.Sorted(maps.Keys(h)) {
		if strings.HasPrefix(k, "x-") {
			_ = headers.Set(k, h[k])
		}
	}
	jc.s.dispatch(jc.et, evConnected, jc.event(evConnected, "headers", headers, "customData", jc.customData))
}

// failure returns the code and reason of Call.Failed for an outgoing call
// that ended unanswered.
func (jc *jsCall) failure() (int, string) {
	err := jc.c.DialErr()
	var de *sip.DialError
	switch {
	case errors.As(err, &de):
		return de.Code, de.Reason
	case jc.timedOut:
		return 408, "Request Timeout"
	case errors.Is(err, sip.ErrDialCancelled), err == nil:
		return 487, "Request Terminated"
	}
	return 408, "Request Timeout"
}

// event makes a call event: {name, call, id, ...fields}.
func (jc *jsCall) event(name string, fields ...any) *goja.Object {
	return jc.s.event(name, append([]any{"call", jc.obj, "id", jc.c.Sid()}, fields...)...)
}

func (jc *jsCall) answer() {
	if jc.outgoing {
		jc.s.log.Debug("call.answer on an outgoing call: the callee answers it")
		return
	}
	if jc.answering || jc.state != callAlerting {
		return
	}
	jc.answering = true
	s, c := jc.s, jc.c
	s.goroutine(func() {
		err := c.Answer()
		s.post(func() { jc.answered(err) })
	})
}

// answered runs on the loop when the answer is done.
func (jc *jsCall) answered(err error) {
	jc.answering = false
	if jc.ended {
		return
	}
	if err != nil {
		jc.s.log.Warn("call.answer failed", "err", err)
		jc.s.dispatch(jc.et, evFailed, jc.event(evFailed, "code", 500, "reason", err.Error()))
		return
	}
	if jc.answerTimer != nil {
		jc.answerTimer.Stop()
	}
	jc.state = callConnected
	jc.answeredAt = time.Now()
	jc.s.dispatch(jc.et, evConnected, jc.event(evConnected, "headers", jc.s.vm.NewObject(), "customData", jc.customData))
}

// answerExpired drops a call nobody answered in time.
func (jc *jsCall) answerExpired() {
	if jc.outgoing && jc.state == callProgressing && !jc.ended {
		jc.s.log.Warn("outgoing call not answered in time: cancelled", "answer_timeout", jc.s.lim.AnswerTimeout)
		jc.timedOut = true
		c := jc.c
		jc.s.goroutine(func() { c.Hangup("not answered in time") })
		return
	}
	if jc.state != callAlerting || jc.ended {
		return
	}
	jc.s.log.Error("call not answered in time: dropped", "answer_timeout", jc.s.lim.AnswerTimeout)
	c := jc.c
	jc.s.goroutine(func() { c.Hangup("not answered by the scenario in time") })
}

func (jc *jsCall) reject(code int) {
	if jc.outgoing || jc.placed {
		jc.hangup()
		return
	}
	if jc.state != callAlerting {
		jc.s.log.Warn("call.reject: the call is not ringing", "state", jc.state)
		return
	}
	if code < 300 || code > 699 {
		jc.s.log.Warn("call.reject: not a SIP error code, 486 sent", "code", code)
		code = 486
	}
	reason := sipReasons[code]
	if reason == "" {
		reason = "Rejected"
	}
	c := jc.c
	jc.s.goroutine(func() {
		if err := c.Reject(code, reason); err != nil {
			jc.s.log.Warn("call.reject failed", "err", err)
		}
	})
}

func (jc *jsCall) hangup() {
	if jc.ended {
		return
	}
	c := jc.c
	jc.s.goroutine(func() { c.Hangup("scenario hung up") })
}

// end runs on the loop when the call has ended: its flows stop, and
// Disconnected is dispatched.
func (jc *jsCall) end() { jc.finish(jc.c.EndReason(), false) }

// release runs on the loop when the session lets go of a call that stays
// up (the REST API hands it to FlexML): what the session linked to it
// stops, the session forgets it (its end never hangs it up), and
// Disconnected is dispatched with reason.
func (jc *jsCall) release(reason string) {
	if jc.ended {
		return
	}
	if a := jc.cur; a != nil {
		jc.c.ClearSource(a.src)
	}
	jc.finish(reason, true)
	s := jc.s
	s.calls = slices.DeleteFunc(s.calls, func(x *jsCall) bool { return x == jc })
}

// finish stops the call's flows and dispatches its last event; the call
// has ended, or is released (it stays up without the session).
func (jc *jsCall) finish(reason string, released bool) {
	if jc.ended {
		return
	}
	s := jc.s
	jc.ended = true
	wasConnected := jc.state == callConnected
	unanswered := jc.state == callProgressing
	jc.state = callTerminated
	if jc.answerTimer != nil {
		jc.answerTimer.Stop()
	}
	if jc.toneCancel != nil {
		jc.toneCancel()
		jc.toneCancel = nil
	}
	for _, f := range append([]*callFlow(nil), s.callFlows...) {
		if f.call == jc {
			s.stopCallFlow(f)
		}
	}
	for _, r := range append([]*callRelay(nil), s.callRelays...) {
		if r.call == jc {
			s.stopRelay(r)
		}
	}
	jc.stopRecording(true)
	if a := jc.cur; a != nil {
		jc.cur = nil
		if a.replaced != nil {
			a.replaced()
		}
	}
	s.liveCalls.Add(-1)
	s.clock.removeCall(jc)
	if unanswered {
		code, reason := jc.failure()
		s.log.Info("outgoing call failed", "code", code, "reason", reason)
		s.dispatch(jc.et, evFailed, jc.event(evFailed, "code", code, "reason", reason))
	} else {
		duration := 0.0
		code := 487
		if wasConnected {
			duration = time.Since(jc.answeredAt).Round(time.Millisecond).Seconds()
			code = 200
		}
		direction := "incoming"
		if jc.outgoing {
			direction = "outgoing"
		}
		s.dispatch(jc.et, evDisconnected, jc.event(evDisconnected,
			"internalCode", code, "reason", reason, "duration", duration, "cost", 0, "direction", direction, "released", released))
	}
	if s.liveCalls.Load() == 0 && s.state == stateRunning {
		s.armIdle()
	}
}

// attach makes src what the caller hears; the previous source is replaced.
func (jc *jsCall) attach(src call.Source, _ mediaOpts, replaced func()) (func(), error) {
	if jc.ended {
		return nil, fmt.Errorf("the call has ended: %w", call.ErrEnded)
	}
	src, err := adaptSource(src, jc.format())
	if err != nil {
		return nil, err
	}
	prev := jc.cur
	a := &attachment{src: src, replaced: replaced}
	jc.cur = a
	jc.c.SetSource(src) // adapted to the call's format above
	if prev != nil && prev.replaced != nil {
		prev.replaced()
	}
	return func() {
		jc.c.ClearSource(src)
		if jc.cur == a {
			jc.cur = nil
		}
	}, nil
}

// format returns the format of the call's frames: what its sources fill.
func (jc *jsCall) format() codec.Format { return jc.c.Format() }

// play plays audio to the caller with PlaybackStarted and PlaybackFinished
// on the call.
func (jc *jsCall) play(src audioSource, loop bool) {
	p := jc.s.newPlayer(jc, false)
	p.loop = loop
	p.load(src)
	p.sendTo(jc.obj, jc, mediaOpts{})
}

// stopPlayback stops what startPlayback or say plays.
func (jc *jsCall) stopPlayback() {
	for _, p := range append([]*player(nil), jc.s.players...) {
		if p.owner == jc {
			p.stop()
		}
	}
}

func (jc *jsCall) handleTones(on bool) {
	if on == (jc.toneCancel != nil) || jc.ended {
		return
	}
	if !on {
		jc.toneCancel()
		jc.toneCancel = nil
		return
	}
	s := jc.s
	jc.toneCancel = jc.c.OnDTMF(func(d byte) {
		tone := string(rune(d))
		s.post(func() {
			if jc.toneCancel == nil {
				return
			}
			s.dispatch(jc.et, evToneReceived, jc.event(evToneReceived, "tone", tone, "type", "dtmf"))
		})
	})
}

// sendDigits plays the digits to the caller as in-band DTMF tones, then
// whatever played before.
func (jc *jsCall) sendDigits(digits string) {
	tones, err := dtmfAudio(strings.ToUpper(digits))
	if err != nil {
		jc.s.log.Warn("call.sendDigits", "err", err)
		jc.s.throw(err)
	}
	if jc.ended || len(tones) == 0 {
		return
	}
	var next call.Source
	if jc.cur != nil {
		next = jc.cur.src
	}
	// The tones are µ-law: in the call's format before what played.
	f := jc.format()
	if !f.SameEncoding(codec.PCMU) {
		if tones, err = media.Convert(tones, codec.PCMU, f); err != nil {
			jc.s.log.Warn("call.sendDigits", "err", err)
			return
		}
	}
	jc.c.SetSource(&prefixSource{data: tones, next: next, silence: codec.Silence(f, nil)})
}

// callToSocket starts call.sendMediaTo(ws): the caller's audio as a flow
// on the socket, in the chosen encoding.
func (s *session) callToSocket(jc *jsCall, w *jsSocket, o mediaOpts) {
	if w.state == wsClosed || w.state == wsClosing {
		w.postError(fmt.Errorf("call.sendMediaTo: %w", ErrNotOpen))
		return
	}
	if jc.ended {
		s.log.Warn("call.sendMediaTo: the call has ended")
		return
	}
	if err := o.enc.check(jc.c.Format()); err != nil {
		s.mediaError(w, fmt.Errorf("call.sendMediaTo %s: %w", o.enc.name, err))
		return
	}
	for _, f := range append([]*callFlow(nil), s.callFlows...) {
		if f.call == jc && f.ws == w && f.tag == o.tag {
			s.stopCallFlow(f)
		}
	}
	info := stream.Info{
		CallSid: jc.c.Sid(),
		Tag:     o.tag,
		Tracks:  []stream.Track{stream.TrackInbound},
		Params:  o.params,
	}
	info.Encoding, info.SampleRate = o.enc.wireName()
	fl := w.sock.AddFlow(stream.FlowConfig{
		Info:       info,
		Tracks:     stream.TrackSet(0).With(stream.TrackInbound),
		Timestamps: stream.TimestampSamples,
		Wire:       o.enc.wire,
	})
	jc.c.AddFlow(fl)
	s.callFlows = append(s.callFlows, &callFlow{call: jc, ws: w, tag: o.tag, flow: fl})
	s.log.Info("call audio to websocket", "ws", w.id, "tag", o.tag, "encoding", o.enc.name)
}

// stopCallFlow ends a call's flow: its stop message is sent.
func (s *session) stopCallFlow(f *callFlow) {
	f.call.c.RemoveFlow(f.flow)
	f.ws.sock.StopFlow(f.flow, false)
	s.dropCallFlow(f)
}

// dropCallFlow forgets a flow whose socket is gone.
func (s *session) dropCallFlow(f *callFlow) {
	f.call.c.RemoveFlow(f.flow)
	for i, g := range s.callFlows {
		if g == f {
			s.callFlows = append(s.callFlows[:i], s.callFlows[i+1:]...)
			return
		}
	}
}

// callToUnit starts call.sendMediaTo(unit) for a call or a recorder: the
// call's inbound audio becomes the unit's source through a relay.
func (s *session) callToUnit(jc *jsCall, dst sink, obj *goja.Object) {
	if jc.ended {
		s.log.Warn("call.sendMediaTo: the call has ended")
		return
	}
	for _, r := range append([]*callRelay(nil), s.callRelays...) {
		if r.call == jc && r.obj == obj {
			s.stopRelay(r)
		}
	}
	rel := &callRelay{call: jc, obj: obj, relay: call.NewRelay()}
	src := formattedSource{Source: rel.relay, format: jc.c.Format()}
	detach, err := dst.attach(src, mediaOpts{}, func() { s.dropRelay(rel) })
	if err != nil {
		s.mediaError(dst, fmt.Errorf("call.sendMediaTo(%s): %w", unitKind(dst), err))
		return
	}
	rel.detach = detach
	jc.c.AddTap(rel.relay)
	s.callRelays = append(s.callRelays, rel)
	s.log.Info("call audio to "+unitKind(dst), "call_id", jc.c.Sid())
}

// stopRelay ends a call's relay: the unit stops playing it.
func (s *session) stopRelay(r *callRelay) {
	if r.detach != nil {
		r.detach()
	}
	s.dropRelay(r)
}

// dropRelay forgets a relay whose unit was taken over or ended.
func (s *session) dropRelay(r *callRelay) {
	r.call.c.RemoveTap(r.relay)
	for i, g := range s.callRelays {
		if g == r {
			s.callRelays = append(s.callRelays[:i], s.callRelays[i+1:]...)
			return
		}
	}
}
