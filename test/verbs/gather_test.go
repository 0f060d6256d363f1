package verbs

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/gatewaytest"
	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipcaller"
)

// startGather starts a gateway whose app answers /app with doc and the
// other paths with docs (raw, such as WAV files, with files), and places a
// call that offers telephone-event.
func startGather(t *testing.T, doc string, docs map[string]string, files ...file) (*servetest.Env, *sipcaller.Call) {
	t.Helper()
	env := servetest.StartEnv(t, servetest.EnvOptions{})
	env.App.Doc("/app", doc)
	for path, d := range docs {
		env.App.Doc(path, d)
	}
	for _, f := range files {
		env.App.Set(f.path, gatewaytest.Response{Raw: f.data})
	}
	c, err := env.Dial(t, sipcaller.Config{DTMF: true})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return env, c
}

// file is a file the app serves as it is.
type file struct {
	path string
	data []byte
}

// waitEnded waits up to 10 s for the call to end.
func waitEnded(t *testing.T, c *sipcaller.Call) {
	t.Helper()
	select {
	case <-c.Ended():
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not end")
	}
}

// sendKeys sends digits from the caller as RFC 4733 events of 100 ms each.
// The gateway takes a key on its first packet: the call may end while the
// last one is still being sent.
func sendKeys(t *testing.T, c *sipcaller.Call, digits string) {
	t.Helper()
	for i := range len(digits) {
		err := c.SendDTMF(digits[i], 100*time.Millisecond)
		if err != nil && !(i == len(digits)-1 && errors.Is(err, sipcaller.ErrCallEnded)) {
			t.Fatalf("send %q: %v", digits[i], err)
		}
	}
}

// field returns the request field name as the app got it: JSON body,
// form body or query.
func field(r gatewaytest.AppRequest, name string) (string, bool) {
	if v, ok := r.JSON[name]; ok {
		return v, true
	}
	if r.Form.Has(name) {
		return r.Form.Get(name), true
	}
	if r.Query.Has(name) {
		return r.Query.Get(name), true
	}
	return "", false
}

// noDigitsLogged fails t when a gateway log line carries the digits.
func noDigitsLogged(t *testing.T, env *servetest.Env) {
	t.Helper()
	for _, l := range env.Logs.Lines() {
		if _, ok := l["digits"]; ok {
			t.Errorf("a log line carries the digits: %v", l)
		}
	}
}

// Reaching numDigits ends the Gather at once (its timeout is far off):
// the action, resolved against the document's URL, is requested with the
// usual fields and Digits, and its document runs.
func TestGatherNumDigits(t *testing.T) {
	env, c := startGather(t,
		`<Response><Gather numDigits="3" timeout="60" action="next/digits"><Pause length="60"/></Gather><Hangup/></Response>`,
		map[string]string{"/next/digits": `<Response><Pause length="0.2"/><Hangup/></Response>`})
	first := env.WaitRequest(t, "/app", 10*time.Second)
	sendKeys(t, c, "394")
	r := env.WaitRequest(t, "/next/digits", 10*time.Second)
	if d, ok := field(r, "Digits"); !ok || d != "394" || r.Method != "POST" {
		t.Fatalf("action request %s Digits %q %v", r.Method, d, ok)
	}
	sid, _ := field(first, "CallSid")
	if got, _ := field(r, "CallSid"); got == "" || got != sid {
		t.Fatalf("action CallSid %q, first request %q", got, sid)
	}
	if got, _ := field(r, "CallStatus"); got != "in-progress" {
		t.Fatalf("action CallStatus %q", got)
	}
	if env.Requested("/app") && len(env.App.Requests()) != 2 {
		t.Fatalf("requests: %+v", env.App.Requests())
	}
	env.WaitLog(t, "INFO", "gather ended", map[string]string{"ended_by": "numDigits", "collected": "3"})
	waitEnded(t, c) // the action's document hangs up
	noDigitsLogged(t, env)
}

// finishOnKey ends collection early and is not among the Digits; the
// default key is '#'.
func TestGatherFinishOnKey(t *testing.T) {
	for _, tc := range []struct{ attr, keys, want string }{
		{``, "12#", "12"},
		{` finishOnKey="*"`, "4#*", "4#"},
	} {
		env, c := startGather(t,
			`<Response><Gather timeout="60" action="/done"`+tc.attr+`/></Response>`,
			map[string]string{"/done": `<Response><Hangup/></Response>`})
		env.WaitRequest(t, "/app", 10*time.Second)
		sendKeys(t, c, tc.keys)
		r := env.WaitRequest(t, "/done", 10*time.Second)
		if d, _ := field(r, "Digits"); d != tc.want {
			t.Fatalf("finishOnKey%s after %q: Digits %q, want %q", tc.attr, tc.keys, d, tc.want)
		}
	}
}

// The timeout ends a Gather with the digits entered so far; it restarts
// after each digit (the keys span more than one timeout); method GET
// sends them in the query.
func TestGatherTimeoutPartial(t *testing.T) {
	env, c := startGather(t,
		`<Response><Gather numDigits="5" timeout="2" action="/partial" method="GET"/><Hangup/></Response>`,
		map[string]string{"/partial": `<Response><Hangup/></Response>`})
	env.WaitRequest(t, "/app", 10*time.Second)
	for i, key := range []string{"7", "8", "9"} {
		if i > 0 {
			// The caller's pace: 1.3 s between keys, 2.6 s in all, more
			// than the 2 s timeout and well within it for each key.
			time.Sleep(1200 * time.Millisecond)
		}
		sendKeys(t, c, key)
	}
	r := env.WaitRequest(t, "/partial", 10*time.Second)
	if d := r.Query.Get("Digits"); r.Method != "GET" || d != "789" {
		t.Fatalf("%s Digits %q, want 789", r.Method, d)
	}
	env.WaitLog(t, "INFO", "gather ended", map[string]string{"ended_by": "timeout", "collected": "3"})
}

// Without input the document goes on after the Gather, and its action is
// not requested; with actionOnEmptyResult it is, with empty Digits.
func TestGatherNoInput(t *testing.T) {
	env, _ := startGather(t,
		`<Response><Gather timeout="0.5" action="/never"/><Redirect>/fell</Redirect></Response>`,
		map[string]string{"/fell": `<Response><Hangup/></Response>`, "/never": `<Response><Hangup/></Response>`})
	r := env.WaitRequest(t, "/fell", 10*time.Second)
	if _, ok := field(r, "Digits"); ok || env.Requested("/never") {
		t.Fatalf("fell through with Digits %v; action requested %v", ok, env.Requested("/never"))
	}

	env, _ = startGather(t,
		`<Response><Gather timeout="0.5" action="/empty" actionOnEmptyResult="true"/><Redirect>/fell</Redirect></Response>`,
		map[string]string{"/fell": `<Response><Hangup/></Response>`, "/empty": `<Response><Hangup/></Response>`})
	r = env.WaitRequest(t, "/empty", 10*time.Second)
	if d, ok := field(r, "Digits"); !ok || d != "" || env.Requested("/fell") {
		t.Fatalf("actionOnEmptyResult: Digits %q %v; fell through %v", d, ok, env.Requested("/fell"))
	}
}

// toneWAV is seconds of a loud 440 Hz tone as an 8 kHz µ-law WAV file.
func toneWAV(t *testing.T, seconds int) []byte {
	t.Helper()
	pcm := make([]int16, seconds*8000)
	for i := range pcm {
		pcm[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(i)/8000))
	}
	var b bytes.Buffer
	if err := media.WriteWAV(&b, media.EncodingULaw, 8000, codec.EncodeULaw(nil, pcm)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// loud reports whether a µ-law packet carries the tone (mean level above
// a tenth of its own).
func loud(p sipcaller.Packet) bool {
	if p.PayloadType != 0 || len(p.Payload) == 0 {
		return false
	}
	sum := 0
	for _, b := range p.Payload {
		v := int(codec.ULawToPCM(b))
		sum += max(v, -v)
	}
	return sum/len(p.Payload) > 500
}

// Barge-in: the first key cuts a long prompt at once; the caller hears
// silence within a few frames of the key and no more of the prompt, and
// the key counts.
func TestGatherBargeIn(t *testing.T) {
	env, c := startGather(t,
		`<Response><Gather numDigits="2" timeout="2" action="/after"><Play>/tone.wav</Play><Play>/tone.wav</Play></Gather></Response>`,
		map[string]string{"/after": `<Response><Pause length="1"/><Hangup/></Response>`}, file{"/tone.wav", toneWAV(t, 10)})
	// Half a second of the prompt first.
	if err := c.WaitReceived(servetest.Context(t, 10*time.Second), "25 loud frames", func(ps []sipcaller.Packet) bool {
		n := 0
		for _, p := range ps {
			if loud(p) {
				n++
			}
		}
		return n >= 25
	}); err != nil {
		t.Fatal(err)
	}
	pressed := time.Now()
	sendKeys(t, c, "5")
	r := env.WaitRequest(t, "/after", 10*time.Second)
	if d, _ := field(r, "Digits"); d != "5" {
		t.Fatalf("Digits %q, want 5 (the key that cut the prompt)", d)
	}
	waitEnded(t, c)
	var lastLoud time.Time
	quietAfter := 0
	for _, p := range c.Received() {
		switch {
		case loud(p):
			lastLoud = p.Arrival
			quietAfter = 0
		case p.Arrival.After(pressed) && p.PayloadType == 0:
			quietAfter++
		}
	}
	cut := lastLoud.Sub(pressed)
	servetest.Figure(t, "prompt heard after the key", fmt.Sprintf("%.1f", cut.Seconds()*1000), "ms")
	// The key's first packet reaches the gateway at once; the prompt stops
	// on the next frame. 300 ms is generous for a busy machine.
	if cut > 300*time.Millisecond {
		t.Fatalf("the prompt was heard %s after the key", cut)
	}
	// The second prompt never played: a second of quiet (the action's
	// Pause) followed the cut.
	if quietAfter < 40 {
		t.Fatalf("%d quiet frames after the prompt stopped, want the action's second of silence", quietAfter)
	}
}

// <Dtmf> and <Play digits> send RFC 4733 events the caller receives in
// order: per digit one marked event of 100 ms (five packets) and three end
// packets, each at a timestamp of its own.
func TestSendDigitsToCaller(t *testing.T) {
	env, c := startGather(t,
		`<Response><Dtmf>12#</Dtmf><Play digits="w9"/><Play><Dtmf>A</Dtmf></Play><Pause length="0.3"/><Hangup/></Response>`, nil)
	if err := c.WaitDigits(servetest.Context(t, 10*time.Second), "12#9A"); err != nil {
		t.Fatal(err)
	}
	waitEnded(t, c) // every packet is in
	events := c.DigitEvents()
	for i, e := range events {
		if e.Packets != 8 || e.Ends != 3 || !e.Marker || e.Duration != 800 {
			t.Errorf("event %d (%q): %d packets, %d end packets, marker %v, duration %d; want 8, 3, true, 800",
				i, e.Digit, e.Packets, e.Ends, e.Marker, e.Duration)
		}
		if i > 0 && e.Timestamp-events[i-1].Timestamp < 1600 {
			t.Errorf("event %d starts %d ticks after the one before, want at least 200 ms", i, e.Timestamp-events[i-1].Timestamp)
		}
	}
	// 'w' waits half a second before the 9.
	if gap := events[3].Timestamp - events[2].Timestamp; gap < 1600+4000 {
		t.Errorf("9 starts %d ticks after #, want 200 ms and the 500 ms pause", gap)
	}
	noDigitsLogged(t, env)
}
