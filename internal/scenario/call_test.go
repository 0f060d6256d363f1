package scenario_test

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/scenario"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipcaller"
)

// TestCallEvents checks the Call object: CallAlerting's payload, the
// call's members, state transitions, Connected, AudioStarted,
// ToneReceived after handleTones, PlaybackStarted and PlaybackFinished for
// startPlayback and say, sendDigits and Disconnected.
func TestCallEvents(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		_, _ = w.Write(assets.PromptWAV())
	}))
	t.Cleanup(app.Close)
	g := startGateway(t, scenario.Config{CustomData: app.URL + "/prompt.wav", TTSCommand: "no-such-tts-program", Source: `
function log(s) { Logger.write(s); }
VoxEngine.addEventListener(AppEvents.Started, function (e) {
  log('started ' + e.name + ' ' + /^http:\/\/.*\/request\//.test(e.accessURL));
});
VoxEngine.addEventListener(AppEvents.CallAlerting, function (e) {
  var call = e.call;
  log(['alerting', e.name, e.callerid, e.destination, e.displayName, e.headers['x-test'],
       /^sip:15553334444@/.test(e.toURI), /^sip:15551112222@/.test(e.fromURI), e.call === call].join('|'));
  log(['members', typeof call.id(), call.callerid(), call.number(), call.displayName(), call.state()].join('|'));
  call.customData('mine');
  call.addEventListener(CallEvents.Connected, function (ev) {
    log('connected ' + call.state() + ' ' + (ev.call === call) + ' ' + ev.customData);
    call.handleTones(true);
    call.startPlayback(VoxEngine.customData());
  });
  call.addEventListener(CallEvents.AudioStarted, function () { log('audio started'); });
  call.addEventListener(CallEvents.PlaybackStarted, function (ev) { log('playback started ' + ev.duration); });
  var played = 0;
  call.addEventListener(CallEvents.PlaybackFinished, function (ev) {
    played++;
    log('playback finished ' + played + ' ' + (ev.error ? 'error: ' + ev.error : 'ok'));
    if (played === 1) call.say('hello');
  });
  call.addEventListener(CallEvents.ToneReceived, function (ev) {
    log('tone ' + ev.tone + ' ' + ev.type);
    call.sendDigits('1#');
  });
  call.addEventListener(CallEvents.Disconnected, function (ev) {
    log('disconnected ' + call.state() + ' ' + ev.reason + ' ' + (ev.duration > 0));
    VoxEngine.terminate();
  });
  log('before answer ' + call.state());
  call.answer();
});`})
	c := g.Dial(sipcaller.Config{FromDisplay: "Ann Caller", DTMF: true, Headers: map[string]string{"X-Test": "yes"}})
	g.waitText(t, "connected CONNECTED true mine", 5*time.Second)
	go func() { _ = c.SendAudio(g.Context(5*time.Second), assets.Speech()[:8000]) }()
	g.waitText(t, "audio started", 5*time.Second)
	g.waitText(t, "playback finished 2 *", 5*time.Second)
	dtmfAt := time.Now()
	if err := c.SendDTMF('5', 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	g.waitText(t, "tone 5 dtmf", 5*time.Second)
	err := c.WaitReceived(g.Context(10*time.Second), "the keys 1# played", func(ps []sipcaller.Packet) bool { // the digits play
		var after []sipcaller.Packet
		for _, p := range audioPackets(ps) {
			if p.Arrival.After(dtmfAt) {
				after = append(after, p)
			}
		}
		return strings.Contains(detectDTMF(codec.DecodeULaw(nil, sipcaller.Payloads(after))), "1#")
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Hangup(g.Context(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	g.waitText(t, "disconnected *", 5*time.Second)
	got := g.texts()
	want := []string{
		"started Application.Started true", // Started comes first, then CallAlerting
		"alerting|Application.CallAlerting|15551112222|15553334444|Ann Caller|yes|true|true|true",
		"members|string|15551112222|15553334444|Ann Caller|ALERTING",
		"before answer ALERTING",
		"connected CONNECTED true mine",
		"playback started 1.5",
	}
	for i, w := range want {
		if i >= len(got) || got[i] != w {
			t.Fatalf("event %d: got %q\nwant %q", i, got, want)
		}
	}
	for _, w := range []string{"audio started", "playback finished 1 ok", "tone 5 dtmf", "disconnected TERMINATED caller hung up true"} {
		if !slicesContains(got, w) {
			t.Errorf("missing %q in %q", w, got)
		}
	}
	say := g.waitText(t, "playback finished 2 *", time.Second)
	if !strings.Contains(say, "error: ") || !strings.Contains(say, "no-such-tts-program") {
		t.Errorf("say without a TTS program: %q", say)
	}
	// The prompt (1.5 s) and then the DTMF tones reached the caller.
	heard := audible(received(c))
	if len(heard) < 70 {
		t.Errorf("the caller heard %d audible packets", len(heard))
	}
	// sendDigits('1#') played in-band: 697+1209 Hz, then 941+1477 Hz.
	var after []sipcaller.Packet
	for _, p := range received(c) {
		if p.Arrival.After(dtmfAt) {
			after = append(after, p)
		}
	}
	if got := detectDTMF(codec.DecodeULaw(nil, sipcaller.Payloads(after))); !strings.Contains(got, "1#") {
		t.Errorf("sendDigits('1#'): the caller heard the keys %q", got)
	}
	g.waitSessions(t, 5*time.Second)
}

func slicesContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestCallLimitsAndErrors checks an unanswered call dropped after the
// answer timeout, and a script throwing during a call: the error is logged
// with its place and stack, and the session and its call go on (the echo
// still works, a later timer fires); a throw before answer() is no reject.
// OPUS in a build without it is refused clearly.
func TestCallLimitsAndErrors(t *testing.T) {
	bot := wsServer(t, echo)
	g := startGateway(t, scenario.Config{CustomData: bot.URL(""), Limits: scenario.Limits{AnswerTimeout: 300 * time.Millisecond, NoCallTimeout: 500 * time.Millisecond}, Source: `
VoxEngine.addEventListener(AppEvents.CallAlerting, function (e) {
  var call = e.call;
  if (e.destination === 'never') return;
  if (e.destination === 'early') {
    setTimeout(function () { call.answer(); }, 100);
    call.hangup.no.such.member();
  }
  var ws = new WebSocket(VoxEngine.customData() + '/' + e.destination);
  call.answer();
  call.addEventListener(CallEvents.Connected, function () {
    if (e.destination === 'opus') {
      ws.onerror = function () { Logger.write('opus refused'); };
      call.sendMediaTo(ws, {encoding: WebSocketAudioEncoding.OPUS});
      return;
    }
    call.sendMediaTo(ws);
    ws.sendMediaTo(call);
    if (e.destination === 'bad') {
      setTimeout(function () {
        var nothing;
        nothing.explode();
      }, 200);
      setTimeout(function () { Logger.write('timer after the throw'); }, 400);
    }
  });
  call.addEventListener(CallEvents.Disconnected, function () { VoxEngine.terminate(); });
});`})
	// Nobody answers: 480 after the timeout, logged.
	start := time.Now()
	_, err := g.Caller.Dial(g.Context(5*time.Second), sipcaller.Config{Target: g.GW.SIPAddr(), From: "1", To: "never"})
	var se *sipcaller.StatusError
	if !errors.As(err, &se) || se.Code != 480 || time.Since(start) < 300*time.Millisecond {
		t.Fatalf("unanswered call: %v after %s", err, time.Since(start))
	}
	if g.Logs.Find("ERROR", "not answered in time", nil) == nil {
		t.Error("no error logged for the unanswered call")
	}

	// A throw before answer() is logged; the timer set before it answers.
	early := g.Dial(sipcaller.Config{To: "early"})
	if rec := g.Logs.Find("ERROR", "scenario error", map[string]string{"at": "scenario.js:7:20"}); rec == nil {
		t.Errorf("no error record at scenario.js:7:20 for the throw before answer()")
	}
	_ = early.Hangup(g.Context(5 * time.Second))

	good := g.Dial(sipcaller.Config{To: "good"})
	bad := g.Dial(sipcaller.Config{To: "bad"})
	g.waitText(t, "timer after the throw", 5*time.Second)
	rec := g.Logs.Find("ERROR", "scenario error", map[string]string{"at": "scenario.js:22:9"})
	if rec == nil || !strings.Contains(fmt.Sprint(rec["err"]), "TypeError") || !strings.Contains(fmt.Sprint(rec["stack"]), "scenario.js:22:9") {
		t.Errorf("error record %v", rec)
	}
	select {
	case <-bad.Ended():
		t.Fatal("the call whose handler threw was hung up")
	default:
	}
	// Both calls go on: their echoes still work.
	for _, c := range []*sipcaller.Call{bad, good} {
		if err := c.SendAudio(g.Context(5*time.Second), assets.Speech()[:8000]); err != nil {
			t.Fatal(err)
		}
		waitHeard(t, g, c, bytes.TrimRight(assets.Speech()[:8000], "\xff"))
		_ = c.Hangup(g.Context(5 * time.Second))
	}

	op := g.Dial(sipcaller.Config{To: "opus"})
	if scenario.OpusSupported {
		conn := servetest.ConnTo(t, bot, "/opus")
		waitVox(t, conn, "media", 5*time.Second)
		if st := parseVox(t, conn)[0].Start; st == nil || st.MediaFormat.Encoding != "OPUS" || st.MediaFormat.SampleRate != 48000 {
			t.Errorf("opus start %s", mustJSON(parseVox(t, conn)[0]))
		}
	} else {
		g.waitText(t, "opus refused", 5*time.Second)
		if g.Logs.Find("ERROR", "media not sent", map[string]string{"err": "-tags opus"}) == nil {
			t.Error("OPUS refusal not logged clearly")
		}
	}
	_ = op.Hangup(g.Context(5 * time.Second))
	g.waitSessions(t, 5*time.Second)
}
