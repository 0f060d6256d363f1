package servetest

import (
	"bytes"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/gatewaytest"
	"github.com/callstream/callstream/internal/sipcaller"
	"github.com/callstream/callstream/internal/wsapp"
)

// Env is a gateway process with a real FlexML app server (the gateway's
// --app), a real WebSocket app and a real SIP caller on loopback.
type Env struct {
	*Proc
	App    *gatewaytest.App
	WS     *wsapp.Server
	Caller *sipcaller.Client
}

// EnvOptions configure StartEnv.
type EnvOptions struct {
	Options               // the process; --app is set to the app's /app
	WS      wsapp.Options // the WebSocket app's behaviour
	// WSArgs, when set, returns more serve flags, given the WebSocket
	// app's base URL (ws://host:port), e.g. --scenario-data for a
	// scenario whose calls stream to the app.
	WSArgs func(ws string) []string
}

// StartEnv starts the WebSocket app, the FlexML app (its documents see the
// WebSocket app's base URL as {{.WS}}), a SIP caller and the gateway.
func StartEnv(t testing.TB, opts EnvOptions) *Env {
	t.Helper()
	ws, err := wsapp.Listen(opts.WS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	app := gatewaytest.NewApp(t, map[string]string{"WS": strings.TrimSuffix(ws.URL(""), "/")})
	caller, err := sipcaller.NewClient(sipcaller.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { caller.Close() })
	o := opts.Options
	o.Args = append([]string{"--app", app.URL("/app")}, o.Args...)
	if opts.WSArgs != nil {
		o.Args = append(o.Args, opts.WSArgs(strings.TrimSuffix(ws.URL(""), "/"))...)
	}
	p := Start(t, o)
	return &Env{Proc: p, App: app, WS: ws, Caller: caller}
}

// Dial places a call to the gateway with the Go caller (From and To
// default to two numbers).
func (e *Env) Dial(t testing.TB, cfg sipcaller.Config) (*sipcaller.Call, error) {
	t.Helper()
	cfg.Target = e.SIPAddr()
	if cfg.From == "" {
		cfg.From = "15551112222"
	}
	if cfg.To == "" {
		cfg.To = "15553334444"
	}
	c, err := e.Caller.Dial(Context(t, 10*time.Second), cfg)
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// bystanders numbers the bystander calls of a test binary.
var bystanders atomic.Int32

// Bystander is a call that runs beside an attack and must come through it
// untouched: the caller speaks from its start until Check, and every frame
// it sent must reach the WebSocket app, byte for byte.
type Bystander struct {
	env    *Env
	call   *sipcaller.Call
	conn   *wsapp.Conn
	path   string
	stop   atomic.Bool // Check asks the caller to finish the second it speaks
	sent   chan error
	rounds int // seconds of speech sent, set before sent is written
}

// bystanderSpeech is what a bystander says, again and again: one second.
func bystanderSpeech() []byte { return assets.Speech()[:8000] }

// Bystander places a call whose document streams the caller to the
// WebSocket app, and starts the caller speaking: one second of speech after
// another, for as long as the attack beside it lasts (until Check).
func (e *Env) Bystander(t testing.TB) *Bystander {
	t.Helper()
	n := bystanders.Add(1)
	to := fmt.Sprintf("bystander-%d", n)
	path := "/" + to
	e.App.DocTo("/app", to, `<Response><Start><Stream url="{{.WS}}`+path+`"/></Start><Pause length="120"/></Response>`)
	c, err := e.Dial(t, sipcaller.Config{To: to})
	if err != nil {
		t.Fatalf("bystander call: %v", err)
	}
	b := &Bystander{env: e, call: c, path: path, sent: make(chan error, 1), conn: ConnTo(t, e.WS, path)}
	go func() {
		ctx := Context(t, 10*time.Minute)
		var err error
		for b.rounds == 0 || !b.stop.Load() {
			if err = c.SendAudio(ctx, bystanderSpeech()); err != nil {
				break
			}
			b.rounds++
		}
		b.sent <- err
	}()
	return b
}

// Check lets the bystander finish the second of speech it is saying, hangs
// it up and checks that its stream got every frame it sent, byte for byte,
// and ended cleanly.
func (b *Bystander) Check(t testing.TB) {
	t.Helper()
	b.stop.Store(true)
	if err := <-b.sent; err != nil {
		t.Fatalf("bystander: sending audio: %v", err)
	}
	// The gateway forwards a frame on its next media tick: a BYE sent at
	// once can overtake the last packet. Give the audio a moment to arrive
	// (the check below still fails if it never does).
	speech := bytes.Repeat(bystanderSpeech(), b.rounds)
	_ = b.conn.WaitUntil(Context(t, 3*time.Second), "the bystander's speech", func(msgs []wsapp.Message) bool {
		return bytes.Contains(heardIn(msgs), speech)
	})
	if err := b.call.Hangup(Context(t, 5*time.Second)); err != nil {
		t.Fatalf("bystander: hangup: %v", err)
	}
	select {
	case <-b.conn.Closed():
	case <-time.After(10 * time.Second):
		t.Fatal("bystander: stream not closed after the hangup")
	}
	var audio []byte
	frames := 0
	var last string
	for _, m := range b.conn.Messages() {
		ev, err := m.Parse()
		if err != nil {
			t.Fatalf("bystander: message %q: %v", m.Data, err)
		}
		last = ev.Event
		if ev.Event != "media" {
			continue
		}
		p, err := ev.Payload()
		if err != nil {
			t.Fatalf("bystander: payload: %v", err)
		}
		audio = append(audio, p...)
		frames++
	}
	if !bytes.Contains(audio, speech) {
		t.Fatalf("bystander: the app got %d frames that do not hold the caller's %d frames intact: %s",
			frames, len(speech)/160, Divergence(audio, speech))
	}
	if last != "stop" {
		t.Fatalf("bystander: last message %q, want stop", last)
	}
}

// Survived checks how an attack test ends: the process is still running,
// the bystander call b (unless nil) came through intact, and goroutines,
// file descriptors, RTP ports and calls are back to base within d.
func (p *Proc) Survived(t testing.TB, b *Bystander, base Baseline, d time.Duration) {
	t.Helper()
	if !p.Alive() {
		t.Fatalf("callstream serve exited during the test (exit code %d)", p.ExitCode())
	}
	if b != nil {
		b.Check(t)
	}
	p.Settled(t, base, d)
}

// heard returns the audio of the media messages the bystander's app got so
// far (messages that do not parse are skipped: Check reports them).
func (b *Bystander) heard() []byte { return heardIn(b.conn.Messages()) }

// heardIn returns the audio of the media messages among msgs, skipping
// those that do not parse.
func heardIn(msgs []wsapp.Message) []byte {
	var audio []byte
	for _, m := range msgs {
		ev, err := m.Parse()
		if err != nil || ev.Event != "media" {
			continue
		}
		if p, err := ev.Payload(); err == nil {
			audio = append(audio, p...)
		}
	}
	return audio
}

// Frames returns the media messages the bystander's app got so far.
func (b *Bystander) Frames() int { return b.conn.MediaCount() }

// Divergence says where got stops holding want, 20 ms frame by frame: the
// frame of want first missing, and whether got has silence (0xFF) or other
// audio there, and how many of want's frames appear in got at all.
func Divergence(got, want []byte) string {
	const fb = 160
	at := bytes.Index(got, want[:min(fb, len(want))])
	if at < 0 {
		return "the first frame never arrived"
	}
	present := 0
	for i := 0; i+fb <= len(want); i += fb {
		if bytes.Contains(got, want[i:i+fb]) {
			present++
		}
	}
	for i := 0; i+fb <= len(want); i += fb {
		if at+i+fb > len(got) {
			return fmt.Sprintf("got ends at frame %d of %d; %d frames present somewhere", i/fb, len(want)/fb, present)
		}
		if !bytes.Equal(got[at+i:at+i+fb], want[i:i+fb]) {
			what := "other audio"
			if bytes.Count(got[at+i:at+i+fb], []byte{0xFF}) == fb {
				what = "silence"
			}
			return fmt.Sprintf("frame %d of %d is %s; %d frames present somewhere", i/fb, len(want)/fb, what, present)
		}
	}
	return "intact"
}

// WaitRequest waits up to d for the app's first request on path and
// returns it.
func (e *Env) WaitRequest(t testing.TB, path string, d time.Duration) gatewaytest.AppRequest {
	t.Helper()
	var got gatewaytest.AppRequest
	Eventually(t, d, "the app's request on "+path, func() bool {
		for _, r := range e.App.Requests() {
			if r.Path == path {
				got = r
				return true
			}
		}
		return false
	})
	return got
}

// Requested reports whether the app got a request on path.
func (e *Env) Requested(path string) bool {
	for _, r := range e.App.Requests() {
		if r.Path == path {
			return true
		}
	}
	return false
}
