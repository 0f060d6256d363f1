package gateway_test

// Robustness of calls and streams against each other, and media details of
// the core verbs, over real sockets.

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/gatewaytest"
	"github.com/callstream/callstream/internal/sipcaller"
	"github.com/callstream/callstream/internal/wsapp"
)

// One call's app failing (an invalid document) affects no other call: a
// call already streaming goes on, its audio intact and paced.
func TestAppFailureAffectsNoOtherCall(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{})
	env.App.Doc("/app", `<Response><Start><Stream url="{{.WS}}/a"/></Start><Pause length="30"/></Response>`)
	a := env.Dial(sipcaller.Config{})
	conn := env.Accept()
	speech := assets.Speech()[:24000] // 3 s
	sent := make(chan error, 1)
	go func() { sent <- a.SendAudio(env.Context(10*time.Second), speech) }()
	if err := conn.WaitMedia(env.Context(5*time.Second), 25); err != nil { // call A is half a second into its audio
		t.Fatal(err)
	}
	env.App.Doc("/app", `<Response><Start><Stream/></Start><Dance/></Response>`)
	_, err := env.Caller.Dial(env.Context(5*time.Second), sipcaller.Config{Target: env.GW.SIPAddr(), From: "1", To: "2"})
	if se := (*sipcaller.StatusError)(nil); !errors.As(err, &se) || se.Code != 500 {
		t.Fatalf("call B: %v, want a 500", err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	waitInbound(t, env, conn, speech)
	_ = a.Hangup(env.Context(5 * time.Second))
	gatewaytest.WaitClosed(t, conn, 5*time.Second)
	ms := track(parseAll(t, conn), "inbound")
	if !bytes.Contains(audioOf(t, ms), speech) {
		t.Fatal("call A's audio was not intact while call B failed")
	}
	// While the caller talks (after it stops, the silence fill starts
	// only once the track trails by 100 ms, by design).
	var worst time.Duration
	for i := 1; i < min(len(ms), len(speech)/160); i++ {
		worst = max(worst, ms[i].at.Sub(ms[i-1].at))
	}
	if worst > 100*time.Millisecond {
		t.Fatalf("call A's stream stalled for %s", worst)
	}
}

// An app that stops reading delays no other stream of the same call: the
// healthy stream gets every frame, evenly.
func TestStalledStreamDoesNotDelayAnother(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{WS: wsapp.Options{Handler: func(c *wsapp.Conn) {
		if c.Path == "/stall" {
			c.PauseReading()
		}
	}}})
	env.App.Doc("/app", `<Response><Start><Stream url="{{.WS}}/stall"/><Stream url="{{.WS}}/ok"/></Start><Pause length="30"/></Response>`)
	c := env.Dial(sipcaller.Config{})
	conns := acceptN(t, env, 2)
	speech := assets.Speech() // longer than the stalled stream's 2 s queue
	if err := c.SendAudio(env.Context(15*time.Second), speech); err != nil {
		t.Fatal(err)
	}
	ok := conns["/ok"]
	waitInbound(t, env, ok, speech)
	_ = c.Hangup(env.Context(5 * time.Second))
	gatewaytest.WaitClosed(t, ok, 5*time.Second)
	ms := track(parseAll(t, ok), "inbound")
	if !bytes.Contains(audioOf(t, ms), speech) {
		t.Fatal("the healthy stream's audio is not intact")
	}
	var gaps []time.Duration
	for i := 1; i < len(ms); i++ {
		gaps = append(gaps, ms[i].at.Sub(ms[i-1].at))
	}
	if p := pct(gaps, 0.99); p > 45*time.Millisecond {
		t.Fatalf("healthy stream's message gaps p99 %s", p)
	}
}

// The app closing a <Start><Stream> socket ends that stream only: the call
// and the document go on.
func TestAppClosingAStartStream(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{WS: wsapp.Options{Handler: func(c *wsapp.Conn) {
		time.Sleep(300 * time.Millisecond)
		_ = c.Close(1000, "done")
	}}})
	withPrompt(env)
	env.App.Doc("/app", `<Response><Start><Stream name="s" url="{{.WS}}/uni"/></Start><Pause length="1"/><Play>{{.App}}/prompt.wav</Play><Hangup/></Response>`)
	c := env.Dial(sipcaller.Config{})
	conn := env.Accept()
	go func() { _ = c.SendAudio(env.Context(5*time.Second), assets.Speech()[:16000]) }()
	gatewaytest.WaitClosed(t, conn, 5*time.Second)
	select {
	case <-c.Ended():
	case <-time.After(10 * time.Second):
		t.Fatal("the document did not go on to its end")
	}
	heard, _ := callerAudio(c)
	if !bytes.Contains(heard, gatewaytest.PromptULaw(t)) {
		t.Fatal("the <Play> after the stream closed did not play")
	}
	if env.Logs.Find("INFO", "stream ended", map[string]string{"stream": "s"}) == nil {
		t.Fatal("stream end not logged")
	}
}

// <Play loop="0"> plays until the call ends.
func TestPlayLoopForever(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{})
	withPrompt(env)
	env.App.Doc("/app", `<Response><Play loop="0">{{.App}}/prompt.wav</Play></Response>`)
	c := env.Dial(sipcaller.Config{})
	prompt := gatewaytest.PromptULaw(t)
	err := c.WaitReceived(env.Context(15*time.Second), "the prompt three times", func(ps []sipcaller.Packet) bool {
		return bytes.Count(sipcaller.Payloads(ps), prompt) >= 3
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Hangup(env.Context(5 * time.Second))
	heard, _ := callerAudio(c)
	// The third play ends within 3.5 plays' time, counted in frames heard.
	end := 0
	for range 3 {
		end += bytes.Index(heard[end:], prompt) + len(prompt)
	}
	if limit := 3*len(prompt) + 25*160; end > limit {
		t.Fatalf("the third play ended %d frames in, want at most %d (3.5 plays)", end/160, limit/160)
	}
}

// A caller preferring PCMA gets PCMA, and what it hears is the A-law
// transcoding of the prompt.
func TestPCMACallerHearsALaw(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{})
	withPrompt(env)
	env.App.Doc("/app", `<Response><Play>{{.App}}/prompt.wav</Play><Hangup/></Response>`)
	c := env.Dial(sipcaller.Config{Codec: "PCMA"}) // offers 8 0
	if c.Codec() != "PCMA" {
		t.Fatalf("answered with %s", c.Codec())
	}
	<-c.Ended()
	var alaw []byte
	for _, p := range c.Received() {
		if p.PayloadType != 8 {
			t.Fatalf("packet with payload type %d", p.PayloadType)
		}
		alaw = append(alaw, p.Payload...)
	}
	prompt := gatewaytest.PromptULaw(t)
	want := make([]byte, len(prompt))
	for i, b := range prompt {
		want[i] = codec.ULawToALaw(b)
	}
	if !bytes.Contains(alaw, want) {
		t.Fatalf("heard %d bytes, not the prompt's A-law transcoding", len(alaw))
	}
}

// The document is validated whole before any of it runs: a bad verb after a
// <Start> refuses the call with 500 and no stream is opened.
func TestInvalidDocumentRunsNothing(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{})
	env.App.Doc("/app", `<Response><Start><Stream url="{{.WS}}/never"/></Start><Dance/></Response>`)
	_, err := env.Caller.Dial(env.Context(5*time.Second), sipcaller.Config{Target: env.GW.SIPAddr(), From: "1", To: "2"})
	var se *sipcaller.StatusError
	if !errors.As(err, &se) || se.Code != 500 {
		t.Fatalf("%v, want a 500", err)
	}
	time.Sleep(300 * time.Millisecond) // watch: no stream may open
	if n := len(env.WS.Conns()); n != 0 {
		t.Fatalf("%d streams opened for an invalid document", n)
	}
	if l := env.Logs.Find("ERROR", "", map[string]string{"url": env.App.URL("/app")}); l == nil || !strings.Contains(l["err"].(string), "Dance") {
		t.Fatalf("the error does not name the bad verb: %v", l)
	}
}
