package gateway_test

// The Stream verb's conformance suite: one test per sentence of the CarrierX
// Stream document and per rule of callstream's stream engine, over real
// sockets (SIP caller with RTP, WebSocket app, FlexML app server).

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/gateway"
	"github.com/callstream/callstream/internal/gatewaytest"
	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/pacetest"
	"github.com/callstream/callstream/internal/sipcaller"
	"github.com/callstream/callstream/internal/tlstest"
	"github.com/callstream/callstream/internal/wsapp"
)

// wmsg is a stream message as the app sees it, in either dialect.
type wmsg struct {
	raw            []byte
	at             time.Time
	Event          string          `json:"event"`
	SequenceNumber json.RawMessage `json:"sequenceNumber"`
	StreamSid      string          `json:"streamSid"`
	Start          struct {
		CallID           string            `json:"callId"`
		CallSid          string            `json:"callSid"`
		AccountSid       string            `json:"accountSid"`
		StreamSid        string            `json:"streamSid"`
		Tracks           []string          `json:"tracks"`
		CustomParameters json.RawMessage   `json:"customParameters"`
		MediaFormat      map[string]any    `json:"mediaFormat"`
		Params           map[string]string `json:"-"`
	} `json:"start"`
	Media struct {
		Track     string          `json:"track"`
		Chunk     json.RawMessage `json:"chunk"`
		Timestamp json.RawMessage `json:"timestamp"`
		Payload   string          `json:"payload"`
	} `json:"media"`
	Mark struct {
		Name string `json:"name"`
	} `json:"mark"`
	DTMF struct {
		Track string `json:"track"`
		Digit string `json:"digit"`
	} `json:"dtmf"`
}

func (m wmsg) ts(t *testing.T) int64 {
	t.Helper()
	v, err := strconv.ParseInt(strings.Trim(string(m.Media.Timestamp), `"`), 10, 64)
	if err != nil {
		t.Fatalf("timestamp %s: %v", m.Media.Timestamp, err)
	}
	return v
}

func (m wmsg) payload(t *testing.T) []byte {
	t.Helper()
	p, err := base64.StdEncoding.DecodeString(m.Media.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func parseAll(t *testing.T, c *wsapp.Conn) []wmsg {
	t.Helper()
	var out []wmsg
	for _, m := range c.Messages() {
		var w wmsg
		if err := json.Unmarshal(m.Data, &w); err != nil {
			t.Fatalf("message %q: %v", m.Data, err)
		}
		w.raw, w.at = m.Data, m.At
		out = append(out, w)
	}
	return out
}

// track returns the media messages of one track.
func track(ms []wmsg, name string) []wmsg {
	var out []wmsg
	for _, m := range ms {
		if m.Event == "media" && m.Media.Track == name {
			out = append(out, m)
		}
	}
	return out
}

func audioOf(t *testing.T, ms []wmsg) []byte {
	var b []byte
	for _, m := range ms {
		b = append(b, m.payload(t)...)
	}
	return b
}

// callerAudio returns what the caller heard, in arrival order.
func callerAudio(c *sipcaller.Call) ([]byte, []sipcaller.Packet) {
	pk := c.Received()
	return sipcaller.Payloads(pk), pk
}

// waitInbound waits up to 5 s until the inbound track of conn's stream
// carries audio.
func waitInbound(t *testing.T, env *gatewaytest.Env, conn *wsapp.Conn, audio []byte) {
	t.Helper()
	if err := conn.WaitAudio(env.Context(5*time.Second), "inbound", audio); err != nil {
		t.Fatalf("stream %s: %v", conn.Path, err)
	}
}

// waitHeardPrefix waits up to 15 s until the caller has heard audio from
// its first packet on.
func waitHeardPrefix(t *testing.T, env *gatewaytest.Env, c *sipcaller.Call, audio []byte) {
	t.Helper()
	err := c.WaitReceived(env.Context(15*time.Second), "the app's audio from the start", func(ps []sipcaller.Packet) bool {
		return bytes.HasPrefix(sipcaller.Payloads(ps), audio)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// waitFilled waits up to 10 s until the caller has heard n bytes of b
// (frames the app filled with b), then watches 300 ms more, so that a
// count the test then takes also sees frames played past a bound: nothing
// but time can show that no more come.
func waitFilled(t *testing.T, env *gatewaytest.Env, c *sipcaller.Call, b byte, n int) {
	t.Helper()
	err := c.WaitReceived(env.Context(10*time.Second), fmt.Sprintf("%d bytes of %#x", n, b), func(ps []sipcaller.Packet) bool {
		return bytes.Count(sipcaller.Payloads(ps), []byte{b}) >= n
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
}

// arrivals returns when each packet arrived.
func arrivals(pk []sipcaller.Packet) []time.Time {
	out := make([]time.Time, len(pk))
	for i, p := range pk {
		out[i] = p.Arrival
	}
	return out
}

// gaps returns the inter-arrival gaps of packets.
func gaps(pk []sipcaller.Packet) []time.Duration {
	var g []time.Duration
	for i := 1; i < len(pk); i++ {
		g = append(g, pk[i].Arrival.Sub(pk[i-1].Arrival))
	}
	return g
}

func pct(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	i := int(p * float64(len(s)-1))
	return s[i]
}

func acceptN(t *testing.T, env *gatewaytest.Env, n int) map[string]*wsapp.Conn {
	t.Helper()
	out := map[string]*wsapp.Conn{}
	for i := 0; i < n; i++ {
		c := env.Accept()
		out[c.Path] = c
	}
	return out
}

func withPrompt(env *gatewaytest.Env) {
	env.App.Set("/prompt.wav", gatewaytest.Response{Raw: assets.PromptWAV()})
}

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

// RTP from the caller arrives reordered, duplicated and with a packet lost:
// the stream carries the frames in order, each once, the lost one as a
// frame of silence, and its timestamps advance by 20 ms without a hole.
func TestStreamReorderLossDuplicate(t *testing.T) {
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

// The Twilio dialect: exact messages, dtmf on bidirectional streams, marks
// when played and at once on clear, statusCallback events.
func TestTwilioDialect(t *testing.T) {
	markSent := make(chan time.Time, 1)
	env := gatewaytest.Start(t, gatewaytest.Options{Dialect: "twilio", WS: wsapp.Options{Handler: func(c *wsapp.Conn) {
		if c.Path != "/bidi" {
			return
		}
		_ = c.WaitFor(env2ctx(), 2)
		_ = c.SendJSON(map[string]any{"event": "media", "streamSid": "x", "media": map[string]string{"payload": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x4D}, 8000))}})
		_ = c.SendJSON(map[string]any{"event": "mark", "streamSid": "x", "mark": map[string]string{"name": "played-1s"}})
		markSent <- time.Now()
		time.Sleep(1500 * time.Millisecond)
		_ = c.SendJSON(map[string]any{"event": "media", "streamSid": "x", "media": map[string]string{"payload": base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x4D}, 8000*5))}})
		_ = c.SendJSON(map[string]any{"event": "mark", "streamSid": "x", "mark": map[string]string{"name": "cleared"}})
		time.Sleep(200 * time.Millisecond)
		_ = c.SendJSON(map[string]any{"event": "clear", "streamSid": "x"})
	}}})
	env.App.Doc("/app", `<Response>
<Start><Stream url="{{.WS}}/uni" name="fork" statusCallback="{{.App}}/status"><Parameter name="k" value="v"/></Stream></Start>
<Connect><Stream url="{{.WS}}/bidi"/></Connect>
</Response>`)
	env.App.Doc("/status", "ok")
	c := env.Dial(sipcaller.Config{DTMF: true})
	conns := acceptN(t, env, 2)
	sent := <-markSent
	time.Sleep(300 * time.Millisecond)
	if err := c.SendDTMF('5', 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	err := conns["/bidi"].WaitUntil(env.Context(10*time.Second), "the dtmf and both marks", func(msgs []wsapp.Message) bool {
		marks, dtmf := 0, 0
		for _, m := range msgs {
			switch ev, _ := m.Parse(); ev.Event {
			case "mark":
				marks++
			case "dtmf":
				dtmf++
			}
		}
		return marks >= 2 && dtmf >= 1
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Hangup(env.Context(5 * time.Second))
	for _, cn := range conns {
		gatewaytest.WaitClosed(t, cn, 5*time.Second)
	}
	sid := callSid(t, env)

	uni := parseAll(t, conns["/uni"])
	streamSid := uni[0].StreamSid
	if !strings.HasPrefix(streamSid, "MZ") || string(uni[0].raw) != `{"event":"connected","protocol":"Call","version":"1.0.0","streamSid":"`+streamSid+`"}` {
		t.Fatalf("connected %s", uni[0].raw)
	}
	wantStart := `{"event":"start","sequenceNumber":"1","start":{"accountSid":"","streamSid":"` + streamSid + `","callSid":"` + sid +
		`","tracks":["inbound"],"customParameters":{"k":"v"},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"streamSid":"` + streamSid + `"}`
	if string(uni[1].raw) != wantStart {
		t.Fatalf("start\n got %s\nwant %s", uni[1].raw, wantStart)
	}
	m := uni[2]
	if string(m.SequenceNumber) != `"2"` || string(m.Media.Chunk) != `"1"` || m.Media.Timestamp[0] != '"' || m.StreamSid != streamSid {
		t.Fatalf("media %s", m.raw)
	}
	last := uni[len(uni)-1]
	if want := `{"event":"stop","sequenceNumber":"` + strconv.Itoa(len(uni)-1) + `","stop":{"accountSid":"","callSid":"` + sid + `"},"streamSid":"` + streamSid + `"}`; string(last.raw) != want {
		t.Fatalf("stop\n got %s\nwant %s", last.raw, want)
	}
	for _, x := range uni {
		if x.Event == "dtmf" {
			t.Fatal("dtmf sent on a unidirectional stream")
		}
	}

	bidi := parseAll(t, conns["/bidi"])
	var marks []wmsg
	var dtmf []wmsg
	for _, x := range bidi {
		switch x.Event {
		case "mark":
			marks = append(marks, x)
		case "dtmf":
			dtmf = append(dtmf, x)
		}
	}
	if len(dtmf) != 1 || dtmf[0].DTMF.Digit != "5" || dtmf[0].DTMF.Track != "inbound_track" {
		t.Fatalf("dtmf events %+v", dtmf)
	}
	if len(marks) != 2 || marks[0].Mark.Name != "played-1s" || marks[1].Mark.Name != "cleared" {
		t.Fatalf("marks %+v", marks)
	}
	if d := marks[0].at.Sub(sent); d < 900*time.Millisecond || d > 1300*time.Millisecond {
		t.Fatalf("mark came back %s after 1 s of audio was queued: want when played", d)
	}
	// The second mark came back at clear, long before its 5 s of audio could play.
	if d := marks[1].at.Sub(sent); d > 2500*time.Millisecond {
		t.Fatalf("mark pending at clear came back %s after", d)
	}

	waitFor(t, 3*time.Second, func() bool {
		n := 0
		for _, r := range env.App.Requests() {
			if r.Path == "/status" {
				n++
			}
		}
		return n >= 2
	}, "statusCallback requests")
	var events []string
	for _, r := range env.App.Requests() {
		if r.Path == "/status" {
			events = append(events, r.Form.Get("StreamEvent"))
			if r.Form.Get("CallSid") != sid || r.Form.Get("StreamSid") != streamSid || r.Form.Get("StreamName") != "fork" {
				t.Fatalf("status callback form %v", url.Values(r.Form))
			}
		}
	}
	if strings.Join(events, ",") != "stream-started,stream-stopped" {
		t.Fatalf("status events %v", events)
	}
}

// env2ctx bounds a wait inside a WebSocket app handler.
func env2ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	time.AfterFunc(6*time.Second, cancel)
	return ctx
}

// statusCallback reports stream-error when the socket cannot be opened.
func TestTwilioStatusCallbackError(t *testing.T) {
	env := gatewaytest.Start(t, gatewaytest.Options{Dialect: "twilio", WS: wsapp.Options{Refuse: 403}})
	env.App.Doc("/app", `<Response><Start><Stream url="{{.WS}}/x" statusCallback="{{.App}}/status" statusCallbackMethod="GET"/></Start><Pause length="0.5"/><Hangup/></Response>`)
	env.App.Doc("/status", "ok")
	c := env.Dial(sipcaller.Config{})
	<-c.Ended()
	waitFor(t, 3*time.Second, func() bool {
		var ev []string
		for _, r := range env.App.Requests() {
			if r.Path == "/status" && r.Method == "GET" {
				ev = append(ev, r.Query.Get("StreamEvent"))
				if r.Query.Get("StreamEvent") == "stream-error" && !strings.Contains(r.Query.Get("StreamError"), "403") {
					t.Fatalf("stream-error without the cause: %v", r.Query)
				}
			}
		}
		return strings.Join(ev, ",") == "stream-error,stream-stopped"
	}, "stream-error then stream-stopped")
}
