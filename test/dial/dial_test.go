package dial

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipcaller"
	"github.com/callstream/callstream/internal/sipp"
	"github.com/callstream/callstream/internal/wsapp"
)

// startCallee runs SIPp as the party a Dial calls, with scenario (under
// internal/sipp/scenarios) and -rtp_echo: it sends back the audio it gets.
func startCallee(t *testing.T, scenario string, params sipp.Params) *sipp.Process {
	t.Helper()
	return startSIPp(t, sipp.Options{Scenario: scenario, Params: params, Extra: []string{"-rtp_echo"}})
}

// startSIPp runs SIPp as the party a Dial calls, stopped at t's end (its
// output logged when t failed).
func startSIPp(t *testing.T, opts sipp.Options) *sipp.Process {
	t.Helper()
	sipp.Require(t)
	opts.Timeout = 40 * time.Second
	p, err := sipp.Start(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			res, err := p.Wait()
			t.Logf("sipp callee: %v\n%s", err, res.Output)
		}
	})
	return p
}

// calleeDone waits for SIPp to end its one call and fails t when the call
// did not go as its scenario says (a missing BYE, CANCEL or 200).
func calleeDone(t *testing.T, p *sipp.Process) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := p.Wait()
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the callee (SIPp): %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the callee (SIPp) did not end its call")
	}
}

// waitEnded waits up to 10 s for the caller's call to end.
func waitEnded(t *testing.T, c *sipcaller.Call) {
	t.Helper()
	select {
	case <-c.Ended():
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not end")
	}
}

// frames splits what the caller received into its RTP payloads.
func frames(c *sipcaller.Call) [][]byte {
	var out [][]byte
	for _, p := range c.Received() {
		out = append(out, p.Payload)
	}
	return out
}

// alien counts the frames of got that are neither a frame of clip nor
// silence (all 0xFF): audio changed on the way.
func alien(clip []byte, got [][]byte) int {
	idx := map[string]bool{}
	for i := 0; i+160 <= len(clip); i += 160 {
		idx[string(clip[i:i+160])] = true
	}
	silence := bytes.Repeat([]byte{0xFF}, 160)
	n := 0
	for _, f := range got {
		if !idx[string(f)] && !bytes.Equal(f, silence) {
			n++
		}
	}
	return n
}

// The caller is bridged to a SIP callee that echoes what it hears and
// hangs up after 8 s. The caller's 3 s of speech reach the callee and come
// back to the caller byte for byte and whole (PCMU both legs: no
// transcoding anywhere); a fork started before the Dial carries the
// caller on its inbound track and the callee (the echo) on its outbound
// track. The callee's BYE ends the Dial: its action gets
// DialCallStatus=completed, the bridged seconds and the second call's
// CallSid, and its document runs. Everything is released after.
func TestDialBridgesBothWaysAndForkCarriesBoth(t *testing.T) {
	callee := startCallee(t, "uas_bye.xml", sipp.Params{HoldMs: 8000})
	env := servetest.StartEnv(t, servetest.EnvOptions{})
	base := env.Baseline(t)
	env.App.Doc("/app", `<Response><Start><Stream url="{{.WS}}/fork" track="both_tracks"/></Start>`+
		`<Dial action="/after"><Sip>sip:callee@`+callee.Addr()+`</Sip></Dial><Hangup/></Response>`)
	env.App.Doc("/after", `<Response><Hangup/></Response>`)
	c, err := env.Dial(t, sipcaller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	fork := servetest.ConnTo(t, env.WS, "/fork")
	env.WaitLog(t, "INFO", "dial: bridged", nil)
	clip := assets.Speech()[:160*150]
	if err := c.SendAudio(servetest.Context(t, 20*time.Second), clip); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitHeard(servetest.Context(t, 10*time.Second), clip); err != nil {
		t.Fatalf("the caller did not hear its speech back through the callee whole: %v", err)
	}
	if n := alien(clip, frames(c)); n != 0 {
		t.Errorf("the caller heard %d frames that are neither its speech nor silence", n)
	}
	for _, track := range []string{"inbound", "outbound"} {
		if err := fork.WaitAudio(servetest.Context(t, 10*time.Second), track, clip); err != nil {
			got, n, _ := wsapp.Audio(fork.Messages(), track)
			t.Errorf("fork %s track (%d messages, %d bytes) lacks the speech whole: %v", track, n, len(got), err)
		}
	}

	after := env.WaitRequest(t, "/after", 20*time.Second)
	if got := after.Field("DialCallStatus"); got != "completed" {
		t.Errorf("DialCallStatus %q, want completed", got)
	}
	secs, err := strconv.Atoi(after.Field("DialCallDuration"))
	if err != nil || secs < 6 || secs > 15 {
		t.Errorf("DialCallDuration %q, want the callee's 8 s (6 to 15)", after.Field("DialCallDuration"))
	}
	if sid := after.Field("DialCallSid"); sid == "" || sid == after.Field("CallSid") {
		t.Errorf("DialCallSid %q (the caller's CallSid %q)", sid, after.Field("CallSid"))
	}
	calleeDone(t, callee)
	waitEnded(t, c)
	env.WaitLog(t, "INFO", "dial: bridge ended", map[string]string{"ended_by": "callee hung up"})
	env.Settled(t, base, 15*time.Second)
}

// Each side hears the other's own audio: the caller sends one stretch of
// speech, the callee (SIPp, no echo) plays another from its answer. The
// caller hears the callee's whole and unchanged, and nothing else but
// silence; the fork started before the Dial carries the caller's speech
// on its inbound track and the callee's on its outbound track.
func TestDialEachSideHearsTheOther(t *testing.T) {
	speech := assets.Speech()
	mine, theirs := speech[:160*75], speech[160*75:160*150]
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "callee.ulaw"), theirs, 0o644); err != nil {
		t.Fatal(err)
	}
	callee := startSIPp(t, sipp.Options{Scenario: "uas_bye.xml", Dir: dir,
		Params: sipp.Params{File: "callee.ulaw", HoldMs: 6000}})
	env := servetest.StartEnv(t, servetest.EnvOptions{})
	env.App.Doc("/app", `<Response><Start><Stream url="{{.WS}}/fork" track="both_tracks"/></Start>`+
		`<Dial><Sip>sip:callee@`+callee.Addr()+`</Sip></Dial><Hangup/></Response>`)
	c, err := env.Dial(t, sipcaller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	fork := servetest.ConnTo(t, env.WS, "/fork")
	env.WaitLog(t, "INFO", "dial: bridged", nil)
	if err := c.SendAudio(servetest.Context(t, 20*time.Second), mine); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitHeard(servetest.Context(t, 10*time.Second), theirs); err != nil {
		t.Fatalf("the caller did not hear the callee's audio whole: %v", err)
	}
	if n := alien(theirs, frames(c)); n != 0 {
		t.Errorf("the caller heard %d frames that are neither the callee's audio nor silence", n)
	}
	for track, want := range map[string][]byte{"inbound": mine, "outbound": theirs} {
		if err := fork.WaitAudio(servetest.Context(t, 10*time.Second), track, want); err != nil {
			t.Errorf("fork %s track lacks its side's audio whole: %v", track, err)
		}
	}
	calleeDone(t, callee)
	// Without an action, the document goes on after the callee's BYE.
	waitEnded(t, c)
	env.WaitLog(t, "INFO", "call ended", map[string]string{"reason": "hangup verb"})
}

// A callee that answers PCMA is bridged to a PCMU caller: each leg gets
// frames in its own codec (converted once per frame in the relays), so
// the caller hears its speech back through the A-law leg, frame for
// frame within G.711's rounding.
func TestDialTranscodesBetweenCodecs(t *testing.T) {
	callee := startCallee(t, "uas_bye.xml", sipp.Params{PT: 8, Codec: "PCMA", HoldMs: 6000})
	env := servetest.StartEnv(t, servetest.EnvOptions{})
	env.App.Doc("/app", `<Response><Dial><Sip>sip:callee@`+callee.Addr()+`</Sip></Dial></Response>`)
	c, err := env.Dial(t, sipcaller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	env.WaitLog(t, "INFO", "dial: bridged", map[string]string{"codec": "PCMU/8000", "callee_codec": "PCMA/8000"})
	clip := assets.Speech()[:160*100]
	if err := c.SendAudio(servetest.Context(t, 20*time.Second), clip); err != nil {
		t.Fatal(err)
	}
	calleeDone(t, callee)
	waitEnded(t, c)
	// µ-law to A-law and back moves a sample by up to a quantization
	// step: compare decoded samples.
	want := codec.DecodeULaw(nil, clip)
	heard := codec.DecodeULaw(nil, c.Heard())
	close := 0
	for i := 0; i+160 <= len(want); i += 160 {
		if containsNear(heard, want[i:i+160]) {
			close++
		}
	}
	if close < 95 {
		t.Errorf("the caller heard %d of its 100 frames back through the A-law leg, want at least 95", close)
	}
}

// containsNear reports whether hay holds frame, each sample within a
// G.711 step of it (an eighth of its size, at least 64).
func containsNear(hay, frame []int16) bool {
	for i := 0; i+len(frame) <= len(hay); i++ {
		ok := true
		for j, s := range frame {
			tol := max(64, abs(int(s))/8)
			if d := int(hay[i+j]) - int(s); d > tol || d < -tol {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// With answerOnBridge the caller hears ringing (180) and is answered only
// once the callee answers (1.5 s later).
func TestDialAnswerOnBridge(t *testing.T) {
	callee := startCallee(t, "uas_bye.xml", sipp.Params{PauseMs: 1500, HoldMs: 1000})
	env := servetest.StartEnv(t, servetest.EnvOptions{})
	env.App.Doc("/app", `<Response><Dial answerOnBridge="true" action="/after"><Sip>sip:callee@`+callee.Addr()+`</Sip></Dial></Response>`)
	env.App.Doc("/after", `<Response><Hangup/></Response>`)
	var progress atomic.Int32
	c, err := env.Dial(t, sipcaller.Config{OnProgress: func(code int) { progress.Store(int32(code)) }})
	if err != nil {
		t.Fatal(err)
	}
	if got := progress.Load(); got != 180 {
		t.Errorf("the caller got provisional %d before its answer, want 180", got)
	}
	after := env.WaitRequest(t, "/after", 20*time.Second)
	if got := after.Field("DialCallStatus"); got != "completed" {
		t.Errorf("DialCallStatus %q, want completed", got)
	}
	calleeDone(t, callee)
	waitEnded(t, c)
	answered := func(sid string) int {
		for i, l := range env.Logs.Lines() {
			if l["msg"] == "call answered" && l["call_sid"] == sid {
				return i
			}
		}
		return -1
	}
	caller, dialled := answered(after.Field("CallSid")), answered(after.Field("DialCallSid"))
	if dialled < 0 || caller < dialled {
		t.Errorf("the caller was answered (log line %d) before the callee (line %d)", caller, dialled)
	}
}

// A number goes to the PSTN trunk as sip:NUMBER@TRUNK with the document's
// callerId; the trunk's 486 Busy Here ends the Dial with
// DialCallStatus=busy and no bridged time.
func TestDialNumberThroughTrunkBusy(t *testing.T) {
	trunk := startCallee(t, "uas_echo.xml", sipp.Params{Code: 486})
	env := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{Args: []string{"--pstn-trunk", trunk.Addr()}}})
	env.App.Doc("/app", `<Response><Dial action="/after" callerId="+15550001111"><Number>+1 (555) 123-4567</Number></Dial></Response>`)
	env.App.Doc("/after", `<Response><Hangup/></Response>`)
	c, err := env.Dial(t, sipcaller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	after := env.WaitRequest(t, "/after", 20*time.Second)
	if got := after.Field("DialCallStatus"); got != "busy" {
		t.Errorf("DialCallStatus %q, want busy", got)
	}
	if got := after.Field("DialCallDuration"); got != "0" {
		t.Errorf("DialCallDuration %q, want 0", got)
	}
	if after.Field("DialCallSid") == "" {
		t.Error("no DialCallSid for a call that was placed")
	}
	calleeDone(t, trunk)
	waitEnded(t, c)
	env.WaitLog(t, "INFO", "dial: calling", map[string]string{"from": "+15550001111", "to": "sip:+15551234567@" + trunk.Addr()})
}

// A callee that only rings is given up after the Dial's timeout: it gets
// a CANCEL (SIPp fails without one) and the action gets
// DialCallStatus=no-answer.
func TestDialNoAnswerCancels(t *testing.T) {
	callee := startCallee(t, "uas_cancel.xml", sipp.Params{})
	env := servetest.StartEnv(t, servetest.EnvOptions{})
	base := env.Baseline(t)
	env.App.Doc("/app", `<Response><Dial timeout="2" action="/after"><Sip>sip:bob@`+callee.Addr()+`</Sip></Dial></Response>`)
	env.App.Doc("/after", `<Response><Hangup/></Response>`)
	c, err := env.Dial(t, sipcaller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	after := env.WaitRequest(t, "/after", 20*time.Second)
	if got := after.Field("DialCallStatus"); got != "no-answer" {
		t.Errorf("DialCallStatus %q, want no-answer", got)
	}
	calleeDone(t, callee)
	waitEnded(t, c)
	env.Settled(t, base, 15*time.Second)
}

// With hangupOnStar the caller's * ends the bridge, not the call: the
// callee gets BYE, and without an action the document goes on with the
// next verb.
func TestDialHangupOnStar(t *testing.T) {
	callee := startCallee(t, "uas_echo.xml", sipp.Params{})
	env := servetest.StartEnv(t, servetest.EnvOptions{})
	env.App.Doc("/app", `<Response><Dial hangupOnStar="true"><Sip>sip:bob@`+callee.Addr()+`</Sip></Dial>`+
		`<Redirect>/next</Redirect></Response>`)
	env.App.Doc("/next", `<Response><Hangup/></Response>`)
	c, err := env.Dial(t, sipcaller.Config{DTMF: true})
	if err != nil {
		t.Fatal(err)
	}
	env.WaitLog(t, "INFO", "dial: bridged", nil)
	// The gateway takes the key on its first packet: the document may
	// hang up while the rest of the event is still being sent.
	if err := c.SendDTMF('*', 100*time.Millisecond); err != nil && !errors.Is(err, sipcaller.ErrCallEnded) {
		t.Fatal(err)
	}
	calleeDone(t, callee)
	env.WaitRequest(t, "/next", 20*time.Second)
	env.WaitLog(t, "INFO", "dial: bridge ended", map[string]string{"ended_by": "hangupOnStar"})
	waitEnded(t, c)
}

// The caller hanging up while bridged ends the callee with a BYE (SIPp
// fails without one); the action is not requested for a call that has
// gone, and the second call's port and goroutines are released.
func TestDialCallerHangsUp(t *testing.T) {
	callee := startCallee(t, "uas_echo.xml", sipp.Params{})
	env := servetest.StartEnv(t, servetest.EnvOptions{})
	base := env.Baseline(t)
	env.App.Doc("/app", `<Response><Dial action="/after"><Sip>sip:bob@`+callee.Addr()+`</Sip></Dial></Response>`)
	env.App.Doc("/after", `<Response><Hangup/></Response>`)
	c, err := env.Dial(t, sipcaller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	env.WaitLog(t, "INFO", "dial: bridged", nil)
	if err := c.Hangup(servetest.Context(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	calleeDone(t, callee)
	env.WaitLog(t, "INFO", "dial: bridge ended", map[string]string{"ended_by": "caller hung up"})
	env.Settled(t, base, 15*time.Second)
	if env.Requested("/after") {
		t.Error("the action was requested after the caller hung up")
	}
}

// A <Number> without --pstn-trunk: the document's load warns with the
// noun's position, the Dial is refused at run time with a log line, and
// the action gets DialCallStatus=failed without a DialCallSid.
func TestDialNumberWithoutTrunkFails(t *testing.T) {
	env := servetest.StartEnv(t, servetest.EnvOptions{})
	env.App.Doc("/app", `<Response><Dial action="/after"><Number>+15551234567</Number></Dial></Response>`)
	env.App.Doc("/after", `<Response><Hangup/></Response>`)
	c, err := env.Dial(t, sipcaller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	after := env.WaitRequest(t, "/after", 20*time.Second)
	if got := after.Field("DialCallStatus"); got != "failed" {
		t.Errorf("DialCallStatus %q, want failed", got)
	}
	if sid := after.Field("DialCallSid"); sid != "" {
		t.Errorf("DialCallSid %q for a call never placed", sid)
	}
	w := env.WaitLog(t, "WARN", "flexml warning", nil)
	if s, _ := w["warning"].(string); !bytes.Contains([]byte(s), []byte(":1:33: <Dial>: <Number> needs a PSTN trunk")) {
		t.Errorf("warning %q", s)
	}
	env.WaitLog(t, "ERROR", "dial refused: <Number> needs a PSTN trunk", nil)
	waitEnded(t, c)
}
