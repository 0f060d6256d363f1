package gateway_test

// The Stream verb's conformance suite: one test per sentence of the CarrierX
// Stream document and per rule of callstream's stream engine, over real
// sockets (SIP caller with RTP, WebSocket app, FlexML app server).

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/gateway"
	"github.com/callstream/callstream/internal/gatewaytest"
	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/sipcaller"
	"github.com/callstream/callstream/internal/tlstest"
	"github.com/callstream/callstream/internal/wsapp"
)

// "A unidirectional Stream is a background activity ... FlexML continues";
// "your application is not sending any audio into the call".
func TestUnidirectionalIsBackgroundAndOneWay(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{WS: wsapp.Options{Handler: func(c *wsapp.Conn) {
		_ = c.SendMedia(bytes.Repeat([]byte{0x55}, 1600)) // must never reach the caller
	}}})
	withPrompt(env)
	env.App.Doc("/app", `<Response><Start><Stream url="{{.WS}}/uni"/></Start><Play>{{.App}}/prompt.wav</Play><Hangup/></Response>`)
	c := env.Dial(sipcaller.Config{})
	conn := env.Accept()
	go func() { _ = c.SendAudio(env.Context(5*time.Second), assets.Speech()[:16000]) }()
	<-c.Ended()
	heard, _ := callerAudio(c)
	prompt := gatewaytest.PromptULaw(t)
	if !bytes.HasPrefix(heard, prompt) || bytes.Contains(heard, bytes.Repeat([]byte{0x55}, 160)) {
		t.Fatalf("caller heard %d bytes: want the prompt only", len(heard))
	}
	gatewaytest.WaitClosed(t, conn, 5*time.Second)
	ms := parseAll(t, conn)
	// The stream ran while the Play did (background).
	if n := len(track(ms, "inbound")); n < 60 {
		t.Fatalf("only %d inbound frames during a 1.5 s Play", n)
	}
}

// RTP from the caller arrives reordered, duplicated and with a packet lost
// (into a 300 ms jitter buffer):
// the stream carries the frames in order, each once, the lost one as a
// frame of silence, and its timestamps advance by 20 ms without a hole.
func TestStreamReorderLossDuplicate(t *testing.T) {
	// gatewaytest's fixed 300 ms jitter buffer: the packet overtaken
	// arrives 20 ms late, which an adaptive buffer at its 20 ms floor would
	// conceal.
	env := gatewaytest.Start(t, gatewaytest.Options{})
	env.App.Doc("/app", `<Response><Start><Stream url="{{.WS}}/in"/></Start><Pause length="30"/></Response>`)
	c := env.Dial(sipcaller.Config{})
	conn := env.Accept()
	frame := func(i int) []byte { return bytes.Repeat([]byte{byte(0x10 + i)}, 160) }
	const n = 60
	var order []int
	for i := 0; i < n; i++ {
		switch i {
		case 10:
			order = append(order, 11, 10) // 11 overtakes 10
		case 11:
		case 20:
			order = append(order, 20, 20) // a duplicate
		case 30: // lost
		default:
			order = append(order, i)
		}
	}
	start := time.Now()
	for k, i := range order {
		time.Sleep(time.Until(start.Add(time.Duration(k) * 20 * time.Millisecond)))
		if err := c.SendFrameAt(i, frame(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitInbound(t, env, conn, frame(n-1))
	_ = c.Hangup(env.Context(5 * time.Second))
	gatewaytest.WaitClosed(t, conn, 5*time.Second)
	ms := track(parseAll(t, conn), "inbound")
	first := -1
	for j, m := range ms {
		if bytes.Equal(m.payload(t), frame(0)) {
			first = j
			break
		}
	}
	if first < 0 || len(ms) < first+n {
		t.Fatalf("frame 0 at %d of %d messages", first, len(ms))
	}
	for i := 0; i < n; i++ {
		m := ms[first+i]
		want := frame(i)
		if i == 30 {
			want = bytes.Repeat([]byte{0xFF}, 160)
		}
		if !bytes.Equal(m.payload(t), want) {
			t.Fatalf("message for frame %d carries % x…", i, m.payload(t)[:4])
		}
		if i > 0 && m.ts(t) != ms[first+i-1].ts(t)+20 {
			t.Fatalf("frame %d timestamp %d after %d", i, m.ts(t), ms[first+i-1].ts(t))
		}
	}
}

// wss:// streams: the caller's audio reaches an app listening over TLS
// intact, for <Start> and for <Connect>.
func TestStreamOverWSS(t *testing.T) {
	_, _, server, client := tlstest.Files(t)
	env := gatewaytest.Start(t, gatewaytest.Options{
		WS:        wsapp.Options{TLS: server},
		Configure: func(cfg *gateway.Config) { cfg.WSTLS = client },
	})
	if !strings.HasPrefix(env.WS.URL("/"), "wss://") {
		t.Fatalf("app url %s", env.WS.URL("/"))
	}
	env.App.Doc("/app", `<Response><Start><Stream url="{{.WS}}/fork"/></Start><Connect><Stream url="{{.WS}}/bidi"/></Connect></Response>`)
	c := env.Dial(sipcaller.Config{})
	conns := acceptN(t, env, 2)
	speech := assets.Speech()[:16000]
	if err := c.SendAudio(env.Context(5*time.Second), speech); err != nil {
		t.Fatal(err)
	}
	for _, conn := range conns {
		waitInbound(t, env, conn, speech)
	}
	_ = c.Hangup(env.Context(5 * time.Second))
	for path, conn := range conns {
		gatewaytest.WaitClosed(t, conn, 5*time.Second)
		if got := audioOf(t, track(parseAll(t, conn), "inbound")); !bytes.Contains(got, speech) {
			t.Fatalf("%s: the app got %d bytes, not the caller's %d intact", path, len(got), len(speech))
		}
	}
}

// "inbound, outbound or both as a single track": outbound, both (two
// aligned tracks) and mixed (the sum of both), with absolute timestamps.
func TestTracksOutboundBothMixed(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{})
	withPrompt(env)
	env.App.Doc("/app", `<Response>
<Start>
  <Stream url="{{.WS}}/out" track="outbound_track"/>
  <Stream url="{{.WS}}/both" audio_track="both" timestampStart="absolute"/>
  <Stream url="{{.WS}}/mixed" track="mixed" timestampStart="absolute"/>
</Start>
<Play>{{.App}}/prompt.wav</Play>
<Pause length="0.3"/>
<Hangup/>
</Response>`)
	c := env.Dial(sipcaller.Config{})
	conns := acceptN(t, env, 3)
	speech := assets.Speech()[:16000]
	go func() { _ = c.SendAudio(env.Context(5*time.Second), speech) }()
	<-c.Ended()
	for _, cn := range conns {
		gatewaytest.WaitClosed(t, cn, 5*time.Second)
	}
	prompt := gatewaytest.PromptULaw(t)

	out := parseAll(t, conns["/out"])
	if strings.Join(out[1].Start.Tracks, ",") != "outbound" || len(track(out, "inbound")) != 0 {
		t.Fatalf("outbound stream: %s", out[1].raw)
	}
	if !bytes.Contains(audioOf(t, track(out, "outbound")), prompt) {
		t.Fatal("the outbound track does not carry the prompt")
	}

	both := parseAll(t, conns["/both"])
	if strings.Join(both[1].Start.Tracks, ",") != "inbound,outbound" {
		t.Fatalf("both: %s", both[1].raw)
	}
	in, ob := track(both, "inbound"), track(both, "outbound")
	if !bytes.Contains(audioOf(t, in), speech[:8000]) || !bytes.Contains(audioOf(t, ob), prompt) {
		t.Fatal("both: tracks do not carry the caller's speech and the prompt")
	}
	inTS, outTS := map[int64][]byte{}, map[int64][]byte{}
	for _, m := range in {
		inTS[m.ts(t)] = m.payload(t)
		if d := m.at.Sub(time.UnixMilli(m.ts(t))); d < -5*time.Millisecond || d > 50*time.Millisecond {
			t.Fatalf("absolute timestamp %d is %s from the wall clock", m.ts(t), d)
		}
	}
	for _, m := range ob {
		outTS[m.ts(t)] = m.payload(t)
		if d := m.at.Sub(time.UnixMilli(m.ts(t))); d < -5*time.Millisecond || d > 50*time.Millisecond {
			t.Fatalf("absolute timestamp %d is %s from the wall clock", m.ts(t), d)
		}
	}
	// Aligned: the tracks cover the same 20 ms slots.
	common := 0
	for ts := range inTS {
		if ts%20 != outTS0(ob, t)%20 {
			t.Fatalf("inbound timestamp %d not on the outbound grid", ts)
		}
		if _, ok := outTS[ts]; ok {
			common++
		}
	}
	if common < len(inTS)-5 {
		t.Fatalf("only %d of %d inbound frames share a slot with an outbound frame", common, len(inTS))
	}

	mixed := parseAll(t, conns["/mixed"])
	if strings.Join(mixed[1].Start.Tracks, ",") != "mixed" {
		t.Fatalf("mixed: %s", mixed[1].raw)
	}
	checked := 0
	want := make([]byte, 160)
	for _, m := range track(mixed, "mixed") {
		a, ok1 := inTS[m.ts(t)]
		b, ok2 := outTS[m.ts(t)]
		if !ok1 || !ok2 {
			continue
		}
		media.MixULaw(want, a, b)
		if !bytes.Equal(m.payload(t), want) {
			t.Fatalf("mixed frame at %d is not the sum of inbound and outbound", m.ts(t))
		}
		checked++
	}
	if checked < 50 {
		t.Fatalf("only %d mixed frames could be checked", checked)
	}
}

func outTS0(ob []wmsg, t *testing.T) int64 { return ob[0].ts(t) }

// maxLength stops the stream after that much audio (±1 frame), with stop and 1000.
func TestMaxLength(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{})
	env.App.Doc("/app", `<Response><Start><Stream url="{{.WS}}/a" maxLength="1"/><Stream url="{{.WS}}/b" maxLength="0.5" track="both"/></Start><Pause length="30"/></Response>`)
	c := env.Dial(sipcaller.Config{})
	conns := acceptN(t, env, 2)
	go func() { _ = c.SendAudio(env.Context(5*time.Second), assets.Speech()) }()
	for path, want := range map[string]int{"/a": 50, "/b": 25} {
		gatewaytest.WaitClosed(t, conns[path], 5*time.Second)
		ms := parseAll(t, conns[path])
		n := len(track(ms, "inbound"))
		if n < want-1 || n > want+1 {
			t.Fatalf("%s: %d inbound frames, want %d±1", path, n, want)
		}
		if ms[len(ms)-1].Event != "stop" {
			t.Fatalf("%s: last message %s", path, ms[len(ms)-1].raw)
		}
		if code, _ := conns[path].CloseStatus(); code != 1000 {
			t.Fatalf("%s: close code %d", path, code)
		}
	}
	_ = c.Hangup(env.Context(5 * time.Second))
}

// Several streams per call; one over --max-streams-per-call is refused with
// a logged error and the document goes on. A duplicate name is refused.
func TestStreamLimitAndDuplicateName(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Configure: func(cfg *gateway.Config) { cfg.MaxStreamsPerCall = 3 }})
	env.App.Doc("/app", `<Response>
<Start><Stream url="{{.WS}}/1" name="one"/><Stream url="{{.WS}}/dup" name="one"/><Stream url="{{.WS}}/2"/><Stream url="{{.WS}}/3"/><Stream url="{{.WS}}/4"/></Start>
<Redirect>/next</Redirect>
</Response>`)
	env.App.Doc("/next", `<Response><Pause length="30"/></Response>`)
	c := env.Dial(sipcaller.Config{})
	conns := acceptN(t, env, 3)
	for _, p := range []string{"/1", "/2", "/3"} {
		if conns[p] == nil {
			t.Fatalf("stream %s not connected: %v", p, conns)
		}
	}
	waitFor(t, 3*time.Second, func() bool { return len(env.App.Requests()) == 2 }, "the document going on")
	if env.Logs.Find("ERROR", "too many streams", map[string]string{"url": env.WS.URL("/4")}) == nil {
		t.Fatal("stream over the limit not logged")
	}
	if env.Logs.Find("ERROR", "already has this name", map[string]string{"stream": "one"}) == nil {
		t.Fatal("duplicate name not logged")
	}
	_ = c.Hangup(env.Context(5 * time.Second))
	for _, cn := range conns {
		gatewaytest.WaitClosed(t, cn, 5*time.Second)
	}
	// The refused streams never connected.
	if n := len(env.WS.Conns()); n != 3 {
		t.Fatalf("%d connections reached the app, want the 3 accepted streams", n)
	}
}

// <Stop><Stream name> among three streams stops that one only; <Stop><Stream/>
// without a name stops every unidirectional stream.
func TestStopByNameAmongThreeAndStopAll(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{})
	env.App.Doc("/app", `<Response>
<Start><Stream url="{{.WS}}/a" name="a"/><Stream url="{{.WS}}/b" name="b"/><Stream url="{{.WS}}/c" name="c"/></Start>
<Pause length="0.5"/>
<Stop><Stream name="b"/></Stop>
<Pause length="0.5"/>
<Stop><Stream/></Stop>
<Pause length="30"/>
</Response>`)
	c := env.Dial(sipcaller.Config{})
	go func() { _ = c.SendAudio(env.Context(5*time.Second), assets.Speech()) }()
	conns := acceptN(t, env, 3)
	gatewaytest.WaitClosed(t, conns["/b"], 3*time.Second)
	bClosed := time.Now()
	gatewaytest.WaitClosed(t, conns["/a"], 3*time.Second)
	gatewaytest.WaitClosed(t, conns["/c"], 3*time.Second)
	if d := time.Since(bClosed); d < 300*time.Millisecond {
		t.Fatalf("a and c stopped %s after b, want ~0.5 s later", d)
	}
	for p, cn := range conns {
		ms := parseAll(t, cn)
		if ms[len(ms)-1].Event != "stop" {
			t.Fatalf("%s: no stop", p)
		}
	}
	_ = c.Hangup(env.Context(5 * time.Second))
}

// A relative url resolves against the document's URL (http→ws); a url with
// a query string is a validation error pointing to <Parameter>.
func TestRelativeURLAndNoQueryString(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{AppOnWS: true})
	env.App.Doc("/app", `<Response><Start><Stream url="streams/rel"/></Start><Pause length="30"/></Response>`)
	c := env.Dial(sipcaller.Config{})
	conn := env.Accept()
	if conn.Path != "/streams/rel" {
		t.Fatalf("relative url went to %s", conn.Path)
	}
	_ = c.Hangup(env.Context(5 * time.Second))
	gatewaytest.WaitClosed(t, conn, 5*time.Second)

	env.App.Doc("/app", `<Response><Start><Stream url="wss://example.com/s?token=1"/></Start></Response>`)
	_, err := env.Caller.Dial(env.Context(10*time.Second), sipcaller.Config{Target: env.GW.SIPAddr(), From: "1", To: "2"})
	if err == nil || !strings.Contains(err.Error(), "500") {
		t.Fatalf("dial: %v, want 500", err)
	}
	if env.Logs.Find("ERROR", "app failed", map[string]string{"err": "Parameter"}) == nil {
		t.Fatalf("query-string error does not point to <Parameter>:\n%s", env.Logs.String())
	}
}

// <Parameter> children become customParameters in document order; a
// repeated name is a warning and the last value wins.
func TestParametersOrderAndRepeat(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{})
	env.App.Doc("/app", `<Response><Start><Stream url="{{.WS}}/p">
<Parameter name="zeta" value="1"/><Parameter name="First Name" value="John"/><Parameter name="alpha" value="x"/><Parameter name="zeta" value="2"/>
</Stream></Start><Pause length="30"/></Response>`)
	c := env.Dial(sipcaller.Config{})
	conn := env.Accept()
	_ = c.Hangup(env.Context(5 * time.Second))
	gatewaytest.WaitClosed(t, conn, 5*time.Second)
	ms := parseAll(t, conn)
	if got := string(ms[1].Start.CustomParameters); got != `{"zeta":"2","First Name":"John","alpha":"x"}` {
		t.Fatalf("customParameters %s", got)
	}
	if env.Logs.Find("WARN", "flexml warning", map[string]string{"warning": "zeta"}) == nil {
		t.Fatal("repeated parameter not warned about")
	}
}

// A name is free again as soon as <Stop> stopped its stream, even while
// that stream's socket is still closing (here: an app that never answers
// the close).
func TestRestartSameNameAfterStop(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{WS: wsapp.Options{Handler: func(c *wsapp.Conn) {
		if c.Path == "/one" {
			c.PauseReading()
		}
	}}})
	env.App.Doc("/app", `<Response><Start><Stream name="x" url="{{.WS}}/one"/></Start><Pause length="0.5"/>`+
		`<Stop><Stream name="x"/></Stop><Start><Stream name="x" url="{{.WS}}/two"/></Start><Pause length="1"/><Hangup/></Response>`)
	c := env.Dial(sipcaller.Config{})
	one, two := env.Accept(), env.Accept()
	<-c.Ended()
	if one.Path != "/one" || two.Path != "/two" {
		t.Fatalf("connections %s, %s", one.Path, two.Path)
	}
	if l := env.Logs.Find("ERROR", "stream not started", nil); l != nil {
		t.Fatalf("the second stream x was refused: %v", l)
	}
	gatewaytest.WaitClosed(t, two, 5*time.Second)
	if ms := parseAll(t, two); len(track(ms, "inbound")) < 30 {
		t.Fatalf("second stream x carried %d frames", len(track(ms, "inbound")))
	}
}
