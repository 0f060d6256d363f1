package edge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sip"
	"github.com/callstream/callstream/internal/sipcaller"
	"github.com/callstream/callstream/internal/sipp"
	"github.com/callstream/callstream/internal/wsapp"
)

// Dialogs that must neither hang nor be refused wrongly: late offers
// (INVITE without SDP), callers that hold and vanish, calls past the
// maximum duration, and session timers (RFC 4028) refreshed or not.

// streamDoc streams the caller to the WebSocket app at path, for two minutes.
func streamDoc(path string) string {
	return `<Response><Start><Stream url="{{.WS}}` + path + `"/></Start><Pause length="120"/></Response>`
}

// routeStream makes calls to the number to stream to a WebSocket path of
// their own; it returns that path.
func routeStream(env *servetest.Env, to string) string {
	path := "/" + to
	env.App.DocTo("/app", to, streamDoc(path))
	return path
}

// inbound waits for the stream to close and returns the audio of its media
// messages and its last event.
func inbound(t *testing.T, conn *wsapp.Conn) ([]byte, string) {
	t.Helper()
	select {
	case <-conn.Closed():
	case <-time.After(15 * time.Second):
		t.Fatal("stream not closed")
	}
	var audio []byte
	var last string
	for _, m := range conn.Messages() {
		ev, err := m.Parse()
		if err != nil {
			t.Fatalf("message %q: %v", m.Data, err)
		}
		last = ev.Event
		if ev.Event == "media" {
			p, err := ev.Payload()
			if err != nil {
				t.Fatalf("payload: %v", err)
			}
			audio = append(audio, p...)
		}
	}
	return audio, last
}

// released waits for the gateway's "call released" line with reason.
func released(t *testing.T, env *servetest.Env, reason string, within time.Duration) {
	t.Helper()
	env.Logs.Wait(t, within, "call released with reason "+reason, func() bool {
		return env.Logs.Find("INFO", "call released", map[string]string{"reason": reason}) != nil
	})
}

// endedWithin waits for the gateway to hang the call up (its BYE).
func endedWithin(t *testing.T, call *sipcaller.Call, d time.Duration) time.Time {
	t.Helper()
	select {
	case <-call.Ended():
		return time.Now()
	case <-time.After(d):
		t.Fatalf("the gateway did not hang up within %v", d)
		return time.Time{}
	}
}

// A late-offer call from the Go caller is answered with an offer; the
// caller's answer in the ACK (PCMA renumbered to 96 here) decides the
// codec, and the caller's audio reaches the app intact.
func TestLateOfferCallStreamsIntact(t *testing.T) {
	env := servetest.StartEnv(t, servetest.EnvOptions{})
	base := env.Baseline(t)
	by := env.Bystander(t)

	speech := assets.Speech()[:24000]
	for name, tc := range map[string]struct {
		cfg  sipcaller.Config
		send []byte // what the caller sends
		want []byte // what the app must get (µ-law)
	}{
		"PCMU":            {sipcaller.Config{LateOffer: true}, speech, speech},
		"PCMA renumbered": {sipcaller.Config{LateOffer: true, Codec: "PCMA", Only: true, AnswerPayloadType: 96}, alaw(speech), viaALaw(speech)},
	} {
		t.Run(name, func(t *testing.T) {
			tc.cfg.To = "late-" + map[string]string{"PCMU": "pcmu", "PCMA renumbered": "pcma96"}[name]
			path := routeStream(env, tc.cfg.To)
			call, err := env.Dial(t, tc.cfg)
			if err != nil {
				t.Fatalf("late-offer call refused: %v", err)
			}
			conn := env.StreamConn(t, path)
			if err := call.SendAudio(servetest.Context(t, 20*time.Second), tc.send); err != nil {
				t.Fatalf("send: %v", err)
			}
			servetest.WaitFrames(t, conn, len(tc.send)/160)
			if err := call.Hangup(servetest.Context(t, 5*time.Second)); err != nil {
				t.Fatalf("hangup: %v", err)
			}
			audio, last := inbound(t, conn)
			if !bytes.Contains(audio, tc.want) {
				// Every frame must be there at its own place, byte for
				// byte, but for frames the gateway counted as late or lost
				// (silence in their slots), at most two.
				rec := env.Logs.WaitFind(t, 5*time.Second, "INFO", "call released", map[string]string{"call_sid": env.CallSid(t, tc.cfg.To)})
				counted := int(num(rec["late"]) + num(rec["lost"]))
				missing, err := framesMissing(audio, tc.want)
				if err != nil || missing > counted || counted > 2 {
					t.Fatalf("the app got %d bytes that do not hold the caller's %d bytes intact: %d frames differ (%v), %d counted late or lost", len(audio), len(tc.want), missing, err, counted)
				}
				t.Logf("%d frames counted late or lost came as silence in their slots; every other frame is intact", missing)
			}
			if last != "stop" {
				t.Fatalf("last message %q, want stop", last)
			}
			if env.Logs.Find("INFO", "call answered", map[string]string{"late_offer": "true", "codec": tc.cfg.Codec}) == nil {
				t.Fatal("no answer log line naming the late offer and codec")
			}
		})
	}
	by.Check(t)
	env.Survived(t, nil, base, 10*time.Second)
}

// num reads a number of a JSON log record.
func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

// framesMissing places want's 160-byte frames in got by the first run of
// two frames of want found there, and returns how many frames differ from
// want's; each of them must be µ-law silence in its own slot.
func framesMissing(got, want []byte) (int, error) {
	const fb = 160
	n := len(want) / fb
	base := -1
	for i := 0; i+2 <= n; i++ {
		if at := bytes.Index(got, want[i*fb:(i+2)*fb]); at >= 0 {
			base = at - i*fb
			break
		}
	}
	if base < 0 || base+n*fb > len(got) {
		return 0, fmt.Errorf("no run of two frames of the caller's audio in place (base %d)", base)
	}
	missing := 0
	for i := range n {
		g, w := got[base+i*fb:base+(i+1)*fb], want[i*fb:(i+1)*fb]
		if bytes.Equal(g, w) {
			continue
		}
		if len(bytes.Trim(g, "\xff")) != 0 {
			return missing, fmt.Errorf("frame %d is neither the caller's nor silence", i)
		}
		missing++
	}
	return missing, nil
}

// alaw encodes µ-law audio as A-law.
func alaw(ulaw []byte) []byte {
	out := make([]byte, len(ulaw))
	for i, b := range ulaw {
		out[i] = codec.ULawToALaw(b)
	}
	return out
}

// viaALaw is µ-law audio after a trip through A-law.
func viaALaw(ulaw []byte) []byte {
	out := alaw(ulaw)
	for i, b := range out {
		out[i] = codec.ALawToULaw(b)
	}
	return out
}

// SIPp, a third-party UAC, calls with a late offer: no SDP in the INVITE,
// the answer in the ACK, then RTP of a µ-law file (or of an A-law file,
// answered as the dynamic payload type 96 and sent, as RFC 3264 has it, on
// the offer's 8). The app gets the audio byte for byte (the A-law
// transcoded to µ-law).
func TestSIPpLateOfferStreamsByteExact(t *testing.T) {
	sipp.Require(t)
	env := servetest.StartEnv(t, servetest.EnvOptions{})
	base := env.Baseline(t)
	by := env.Bystander(t)
	speech := assets.Speech()
	for name, tc := range map[string]struct {
		pt    int
		codec string
		send  []byte
		want  []byte
	}{
		"PCMU":                   {0, "PCMU", speech, speech},
		"PCMA answered as PT 96": {96, "PCMA", alaw(speech), viaALaw(speech)},
	} {
		t.Run(name, func(t *testing.T) {
			service := fmt.Sprintf("1555777%04d", tc.pt)
			path := routeStream(env, service)
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "speech.raw"), tc.send, 0o644); err != nil {
				t.Fatal(err)
			}
			res, err := sipp.Run(servetest.Context(t, 40*time.Second), sipp.Options{
				Scenario: "uac_late_offer.xml", Target: env.SIPAddr(), Service: service, Dir: dir,
				Params: sipp.Params{PT: tc.pt, Codec: tc.codec, File: "speech.raw", PauseMs: 3600},
			})
			if err != nil {
				t.Fatalf("%v\n%s", err, res.Output)
			}
			audio, last := inbound(t, env.StreamConn(t, path))
			audio = afterLeadingSilence(audio)
			if !bytes.HasPrefix(audio, tc.want) {
				t.Fatalf("the app's %d bytes do not start with the %d bytes SIPp sent (its first frame at %d)",
					len(audio), len(tc.want), bytes.Index(audio, tc.want[:160]))
			}
			if last != "stop" {
				t.Fatalf("last message %q, want stop", last)
			}
		})
	}
	env.Survived(t, by, base, 10*time.Second)
}

// A caller that puts the call on hold (re-INVITE inactive) and vanishes is
// not caught by the RTP timeout (a held caller sends nothing); the hold
// timeout releases it.
func TestHeldCallerVanishesReleased(t *testing.T) {
	t.Parallel() // mostly waits out a timeout: it overlaps the other such tests
	env := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{Args: []string{"--hold-timeout", "2s"}}})
	base := env.Baseline(t)
	by := env.Bystander(t)

	path := routeStream(env, "holder")
	call, err := env.Dial(t, sipcaller.Config{To: "holder"})
	if err != nil {
		t.Fatal(err)
	}
	conn := env.StreamConn(t, path)
	if err := call.SendAudio(servetest.Context(t, 5*time.Second), assets.Speech()[:1600]); err != nil {
		t.Fatal(err)
	}
	if err := call.SendReinvite(servetest.Context(t, 5*time.Second), sip.DirInactive); err != nil {
		t.Fatalf("hold: %v", err)
	}
	held := time.Now()
	call.Vanish()

	// Released by the hold timeout (2 s, then a BYE nobody answers, given
	// up after 5 s), well before the 30 s RTP timeout would have.
	released(t, env, "hold timeout", 20*time.Second)
	if since := time.Since(held); since < 2*time.Second {
		t.Fatalf("released %v after the hold, before the hold timeout", since)
	}
	if env.Logs.Find("WARN", "caller held the call too long", map[string]string{"hold_timeout": "2s"}) == nil {
		t.Fatal("no log line naming the hold timeout")
	}
	if n := env.Refusals(t, "hold_timeout"); n != 1 {
		t.Fatalf("callstream_refusals_total{limit=hold_timeout} = %v, want 1", n)
	}
	if _, last := inbound(t, conn); last != "stop" {
		t.Fatalf("the held call's stream ended with %q, want stop", last)
	}
	by.Check(t)
	env.Survived(t, nil, base, 10*time.Second)
}

// A call that reaches --max-call-duration is hung up with BYE, its stream
// stopped, the end reason logged and the refusal counted. The bystander
// starts 4 s into the call, so the bound strikes while it runs, and ends
// before it is as old as the bound itself.
func TestMaxCallDuration(t *testing.T) {
	t.Parallel() // mostly waits out a timeout: it overlaps the other such tests
	const bound = 6 * time.Second
	env := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{Args: []string{"--max-call-duration", bound.String()}}})
	base := env.Baseline(t)

	path := routeStream(env, "talker")
	call, err := env.Dial(t, sipcaller.Config{To: "talker"})
	if err != nil {
		t.Fatal(err)
	}
	answered := time.Now()
	conn := env.StreamConn(t, path)
	// The caller keeps talking: the bound, not the RTP timeout, ends it.
	talk := make(chan error, 1)
	go func() {
		speech := assets.Speech()
		for {
			if err := call.SendAudio(context.Background(), speech); err != nil {
				talk <- err
				return
			}
		}
	}()
	// 4 s of the call's audio at the app (connected, start, 200 frames).
	if err := conn.WaitFor(servetest.Context(t, 20*time.Second), 202); err != nil {
		t.Fatal(err)
	}
	by := env.Bystander(t)
	ended := endedWithin(t, call, bound+15*time.Second)
	if d := ended.Sub(answered); d < bound {
		t.Fatalf("hung up %v after the answer, before the %v bound", d, bound)
	}
	if err := <-talk; !errors.Is(err, sipcaller.ErrCallEnded) {
		t.Fatalf("sending: %v", err)
	}
	by.Check(t)
	released(t, env, "max call duration reached", 10*time.Second)
	if env.Logs.Find("WARN", "max call duration reached", map[string]string{"max_call_duration": bound.String()}) == nil {
		t.Fatal("no log line naming the bound")
	}
	if n := env.Refusals(t, "max_call_duration"); n != 1 {
		t.Fatalf("callstream_refusals_total{limit=max_call_duration} = %v, want 1", n)
	}
	if _, last := inbound(t, conn); last != "stop" {
		t.Fatalf("stream ended with %q, want stop", last)
	}
	env.Survived(t, nil, base, 10*time.Second)
}

// Session timers with --session-min-se 2s: an interval below it gets 422
// with Min-SE; a session the caller does not refresh gets the gateway's BYE
// before it expires; one refreshed with UPDATE lives on.
func TestSessionTimers(t *testing.T) {
	t.Parallel() // mostly waits out a timeout: it overlaps the other such tests
	env := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{Args: []string{"--session-min-se", "2s"}}})
	base := env.Baseline(t)
	by := env.Bystander(t)

	t.Run("below Min-SE", func(t *testing.T) {
		_, err := env.Dial(t, sipcaller.Config{To: "short-session", SessionExpires: time.Second, Refresher: "uac"})
		var se *sipcaller.StatusError
		if !errors.As(err, &se) || se.Code != 422 || se.Header["min-se"] != "2" {
			t.Fatalf("want 422 with Min-SE: 2, got %v", err)
		}
		if n := env.Refusals(t, "session_min_se"); n != 1 {
			t.Fatalf("callstream_refusals_total{limit=session_min_se} = %v, want 1", n)
		}
	})

	t.Run("not refreshed", func(t *testing.T) {
		path := routeStream(env, "lapsed")
		call, err := env.Dial(t, sipcaller.Config{To: "lapsed", SessionExpires: 3 * time.Second, Refresher: "uac"})
		if err != nil {
			t.Fatal(err)
		}
		answered := time.Now()
		if d, r := call.SessionTimer(); d != 3*time.Second || r != "uac" {
			t.Fatalf("granted %v %q", d, r)
		}
		conn := env.StreamConn(t, path)
		// 3 s less a third: the BYE comes 2 s after the answer.
		ended := endedWithin(t, call, 15*time.Second)
		if d := ended.Sub(answered); d < 1500*time.Millisecond {
			t.Fatalf("BYE %v after the answer: before the session could lapse", d)
		}
		released(t, env, "session timer expired", 10*time.Second)
		if env.Logs.Find("WARN", "session timer expired", map[string]string{"refresher": "uac"}) == nil {
			t.Fatal("no log line")
		}
		if n := env.Refusals(t, "session_expired"); n != 1 {
			t.Fatalf("callstream_refusals_total{limit=session_expired} = %v, want 1", n)
		}
		if _, last := inbound(t, conn); last != "stop" {
			t.Fatalf("stream ended with %q, want stop", last)
		}
	})

	t.Run("refreshed by UPDATE", func(t *testing.T) {
		routeStream(env, "refresher")
		call, err := env.Dial(t, sipcaller.Config{To: "refresher", SessionExpires: 4 * time.Second, Refresher: "uac", Refresh: true})
		if err != nil {
			t.Fatal(err)
		}
		// A refresh every 1.3 s, 1.3 s before the gateway would give up;
		// four of them outlast the 4 s interval.
		servetest.Eventually(t, 20*time.Second, "4 refreshes", func() bool { sent, _ := call.Refreshes(); return sent >= 4 })
		select {
		case <-call.Ended():
			t.Fatal("the gateway hung up a refreshed call")
		default:
		}
		if err := call.Hangup(servetest.Context(t, 5*time.Second)); err != nil {
			t.Fatalf("hangup: %v", err)
		}
		released(t, env, "caller hung up", 10*time.Second)
		if n := env.Refusals(t, "session_expired"); n != 1 {
			t.Fatalf("callstream_refusals_total{limit=session_expired} = %v, want still 1", n)
		}
	})

	by.Check(t)
	env.Survived(t, nil, base, 10*time.Second)
}

// framesMissing counts frames replaced by silence in their own slots, and
// refuses a frame that is neither the caller's nor silence.
func TestFramesMissing(t *testing.T) {
	want := assets.Speech()[:1600]
	lead := bytes.Repeat([]byte{0xff}, 480)
	got := append(append([]byte(nil), lead...), want...)
	if n, err := framesMissing(got, want); n != 0 || err != nil {
		t.Fatalf("intact: %d %v", n, err)
	}
	first := append([]byte(nil), got...)
	copy(first[480:640], bytes.Repeat([]byte{0xff}, 160))
	if n, err := framesMissing(first, want); n != 1 || err != nil {
		t.Fatalf("first frame silenced: %d %v", n, err)
	}
	bad := append([]byte(nil), got...)
	bad[480+5*160+7] ^= 0x55
	if _, err := framesMissing(bad, want); err == nil {
		t.Fatal("a corrupted frame passed")
	}
}
