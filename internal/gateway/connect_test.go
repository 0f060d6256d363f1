package gateway_test

// The Stream verb's conformance suite for bidirectional streams
// (<Connect><Stream>): the app's audio to the caller, clear, bounds and a
// stalled app.

import (
	"bytes"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/gateway"
	"github.com/callstream/callstream/internal/gatewaytest"
	"github.com/callstream/callstream/internal/pacetest"
	"github.com/callstream/callstream/internal/sipcaller"
	"github.com/callstream/callstream/internal/wsapp"
)

// <Connect><Stream> blocks FlexML until the WebSocket closes; the app gets
// the inbound track only; maxLength is ignored with a warning.
func TestConnectBlocksUntilAppCloses(t *testing.T) {
	var closedAt atomic.Int64
	env := gatewaytest.Start(t, gatewaytest.Options{WS: wsapp.Options{Handler: func(c *wsapp.Conn) {
		time.Sleep(time.Second)
		closedAt.Store(time.Now().UnixNano())
		_ = c.Close(1000, "bye")
	}}})
	env.App.Doc("/app", `<Response><Connect><Stream url="{{.WS}}/bidi" track="both" maxLength="0.2"/></Connect><Redirect>/after</Redirect></Response>`)
	env.App.Doc("/after", `<Response><Hangup/></Response>`)
	c := env.Dial(sipcaller.Config{})
	go func() { _ = c.SendAudio(env.Context(5*time.Second), assets.Speech()) }()
	conn := env.Accept()
	<-c.Ended()
	reqs := env.App.Requests()
	if len(reqs) != 2 || reqs[1].Path != "/after" {
		t.Fatalf("requests %+v", reqs)
	}
	if reqs[1].At.Before(time.Unix(0, closedAt.Load())) {
		t.Fatal("the verb after </Connect> ran before the WebSocket closed")
	}
	ms := parseAll(t, conn)
	if strings.Join(ms[1].Start.Tracks, ",") != "inbound" || len(track(ms, "outbound")) != 0 {
		t.Fatalf("bidirectional start %s", ms[1].raw)
	}
	if n := len(track(ms, "inbound")); n < 40 {
		t.Fatalf("maxLength was applied to <Connect>: %d frames", n)
	}
	// The app received the caller's audio byte for byte.
	got := bytes.TrimLeft(audioOf(t, track(ms, "inbound")), "\xff") // silence before the caller's first packet
	if len(got) < 4000 || !bytes.Contains(assets.Speech(), got[:4000]) {
		t.Fatalf("the bidirectional app got %d bytes that are not the caller's audio", len(got))
	}
	if env.Logs.Find("WARN", "maxLength", nil) == nil || env.Logs.Find("WARN", "inbound track only", nil) == nil {
		t.Fatal("missing warnings for track/maxLength on <Connect>")
	}
}

// A <Connect> right after another finds the first stream gone: the verb
// returns only once its stream has left the call.
func TestConnectTwiceInARow(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{WS: wsapp.Options{Handler: func(c *wsapp.Conn) {
		time.Sleep(200 * time.Millisecond)
		_ = c.Close(1000, "")
	}}})
	env.App.Doc("/app", `<Response><Connect><Stream url="{{.WS}}/a"/></Connect><Connect><Stream url="{{.WS}}/b"/></Connect><Connect><Stream url="{{.WS}}/c"/></Connect><Hangup/></Response>`)
	c := env.Dial(sipcaller.Config{})
	var paths []string
	for range 3 {
		paths = append(paths, env.Accept().Path)
	}
	<-c.Ended()
	if strings.Join(paths, ",") != "/a,/b,/c" {
		t.Fatalf("connections %v", paths)
	}
	if l := env.Logs.Find("ERROR", "stream not started", nil); l != nil {
		t.Fatalf("a <Connect> was refused: %v", l)
	}
}

// "You can stop the bidirectional stream by ... ending the call."
func TestConnectEndsWithCall(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{})
	env.App.Doc("/app", `<Response><Connect><Stream url="{{.WS}}/bidi"/></Connect><Hangup/></Response>`)
	c := env.Dial(sipcaller.Config{})
	conn := env.Accept()
	if err := conn.WaitMedia(env.Context(5*time.Second), 1); err != nil { // the stream is up
		t.Fatal(err)
	}
	_ = c.Hangup(env.Context(5 * time.Second))
	gatewaytest.WaitClosed(t, conn, 5*time.Second)
	ms := parseAll(t, conn)
	if ms[len(ms)-1].Event != "stop" {
		t.Fatalf("last %s", ms[len(ms)-1].raw)
	}
}

// The app's audio reaches the caller byte-exact and evenly paced, whatever
// the chunk sizes; it is also the call's outbound track.
func TestBidirectionalAudioExactAndPaced(t *testing.T) {
	speech := assets.Speech()
	env := gatewaytest.Start(t, gatewaytest.Options{WS: wsapp.Options{Handler: func(c *wsapp.Conn) {
		if c.Path != "/bidi" {
			return
		}
		// Odd chunk sizes, all at once: the gateway re-frames and paces.
		for off, i := 0, 0; off < len(speech); i++ {
			n := []int{1000, 333, 4000, 77, 2590}[i%5]
			n = min(n, len(speech)-off)
			_ = c.SendMedia(speech[off : off+n])
			off += n
		}
	}}})
	env.App.Doc("/app", `<Response><Start><Stream url="{{.WS}}/fork" track="outbound"/></Start><Connect><Stream url="{{.WS}}/bidi"/></Connect></Response>`)
	c := env.Dial(sipcaller.Config{})
	conns := acceptN(t, env, 2)
	waitHeardPrefix(t, env, c, speech)
	_ = c.Hangup(env.Context(5 * time.Second))
	heard, pk := callerAudio(c)
	if !bytes.HasPrefix(heard, speech) {
		t.Fatalf("caller heard %d bytes, not the app's %d bytes", len(heard), len(speech))
	}
	if err := pacetest.Check(arrivals(pk[:len(speech)/160]), 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	gatewaytest.WaitClosed(t, conns["/fork"], 5*time.Second)
	if !bytes.Contains(audioOf(t, track(parseAll(t, conns["/fork"]), "outbound")), speech[:16000]) {
		t.Fatal("the app's audio is not the outbound track of the stream beside it")
	}
}

// clear empties the queue at once: playback stops within one frame.
func TestClearStopsPlaybackWithinOneFrame(t *testing.T) {
	clearAt := make(chan time.Time, 1)
	env := gatewaytest.Start(t, gatewaytest.Options{WS: wsapp.Options{Handler: func(c *wsapp.Conn) {
		_ = c.SendMedia(bytes.Repeat([]byte{0x2A}, 8000*5))
		time.Sleep(time.Second)
		_ = c.SendText(`{"event":"clear"}`)
		clearAt <- time.Now()
	}}})
	env.App.Doc("/app", `<Response><Connect><Stream url="{{.WS}}/bidi"/></Connect></Response>`)
	c := env.Dial(sipcaller.Config{})
	conn := env.Accept()
	at := <-clearAt
	time.Sleep(500 * time.Millisecond) // watch: no frame of the cleared audio may come
	_, pk := callerAudio(c)
	var last time.Time
	n := 0
	for _, p := range pk {
		if len(p.Payload) > 0 && p.Payload[0] == 0x2A {
			last = p.Arrival
			n++
		}
	}
	if d := last.Sub(at); d > 25*time.Millisecond {
		t.Fatalf("audio went on %s after clear", d)
	}
	if n < 40 || n > 60 {
		t.Fatalf("%d frames played in the second before clear", n)
	}
	_ = c.Hangup(env.Context(5 * time.Second))
	gatewaytest.WaitClosed(t, conn, 5*time.Second)
}

// App audio queued ahead of real time is bounded (--playout-limit); the
// excess is dropped with a warning and counted.
func TestPlayoutLimit(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{
		Configure: func(cfg *gateway.Config) { cfg.PlayoutLimit = time.Second },
		WS: wsapp.Options{Handler: func(c *wsapp.Conn) {
			_ = c.SendMedia(bytes.Repeat([]byte{0x2B}, 8000*3))
		}},
	})
	env.App.Doc("/app", `<Response><Connect><Stream url="{{.WS}}/bidi"/></Connect></Response>`)
	c := env.Dial(sipcaller.Config{})
	conn := env.Accept()
	waitFilled(t, env, c, 0x2B, 49*160)
	heard, _ := callerAudio(c)
	if n := bytes.Count(heard, []byte{0x2B}) / 160; n < 49 || n > 51 {
		t.Fatalf("played %d frames of a 1 s bound", n)
	}
	if env.Logs.Find("WARN", "app audio dropped", nil) == nil {
		t.Fatal("overflow not warned about")
	}
	_ = c.Hangup(env.Context(5 * time.Second))
	gatewaytest.WaitClosed(t, conn, 5*time.Second)
}

// CarrierX neither issues nor answers mark; bad messages are warned about
// and the stream goes on; a binary frame is raw µ-law audio.
func TestCarrierXMarksBadMessagesAndBinary(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{WS: wsapp.Options{Handler: func(c *wsapp.Conn) {
		_ = c.SendText(`{"event":"mark","mark":{"name":"m1"}}`)
		_ = c.SendText(`{not json`)
		_ = c.SendText(`{"event":"media","media":{"payload":"***"}}`)
		_ = c.SendText(`{"event":"dance"}`)
		_ = c.SendBinary(bytes.Repeat([]byte{0x3C}, 1600))
	}}})
	env.App.Doc("/app", `<Response><Connect><Stream url="{{.WS}}/bidi"/></Connect></Response>`)
	c := env.Dial(sipcaller.Config{})
	conn := env.Accept()
	waitFilled(t, env, c, 0x3C, 1600)
	heard, _ := callerAudio(c)
	if bytes.Count(heard, []byte{0x3C}) != 1600 {
		t.Fatalf("binary audio: heard %d of 1600 bytes", bytes.Count(heard, []byte{0x3C}))
	}
	_ = c.Hangup(env.Context(5 * time.Second))
	gatewaytest.WaitClosed(t, conn, 5*time.Second)
	for _, m := range parseAll(t, conn) {
		if m.Event == "mark" {
			t.Fatal("CarrierX sent a mark")
		}
	}
	if env.Logs.Find("WARN", "invalid message from app", nil) == nil {
		t.Fatal("bad messages not warned about")
	}
}

// A bidirectional stream that cannot connect is logged; the document goes on.
func TestConnectFailureDocumentGoesOn(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{WS: wsapp.Options{Refuse: 503}})
	env.App.Doc("/app", `<Response><Connect><Stream url="{{.WS}}/down"/></Connect><Redirect>/after</Redirect></Response>`)
	env.App.Doc("/after", `<Response><Hangup/></Response>`)
	c := env.Dial(sipcaller.Config{})
	select {
	case <-c.Ended():
	case <-time.After(5 * time.Second):
		t.Fatal("the document did not go on after a failed <Connect>")
	}
	if env.Logs.Find("ERROR", "stream failed", map[string]string{"url": env.WS.URL("/down"), "err": "503"}) == nil {
		t.Fatal("connect failure not logged with its URL and cause")
	}
}

// A WebSocket server that stops reading does not change the caller's RTP timing.
func TestStalledAppDoesNotDisturbCaller(t *testing.T) {
	speech := assets.Speech()
	env := gatewaytest.Start(t, gatewaytest.Options{WS: wsapp.Options{Handler: func(c *wsapp.Conn) {
		_ = c.SendMedia(speech)
		c.PauseReading()
	}}})
	env.App.Doc("/app", `<Response><Start><Stream url="{{.WS}}/fork" track="both"/></Start><Connect><Stream url="{{.WS}}/bidi"/></Connect></Response>`)
	c := env.Dial(sipcaller.Config{})
	acceptN(t, env, 2)
	go func() { _ = c.SendAudio(env.Context(10*time.Second), bytes.Repeat(speech, 2)) }()
	waitHeardPrefix(t, env, c, speech)
	heard, pk := callerAudio(c)
	if !bytes.HasPrefix(heard, speech) {
		t.Fatal("caller did not hear the app's audio intact")
	}
	if err := pacetest.Check(arrivals(pk[:len(speech)/160]), 20*time.Millisecond); err != nil {
		t.Fatalf("caller pacing with stalled apps: %v", err)
	}
	_ = c.Hangup(env.Context(5 * time.Second))
}
