package gateway_test

// The Stream verb's conformance suite in the Twilio dialect: exact
// messages, marks, dtmf and status callbacks.

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/gatewaytest"
	"github.com/callstream/callstream/internal/sipcaller"
	"github.com/callstream/callstream/internal/webhook"
	"github.com/callstream/callstream/internal/wsapp"
)

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
	if len(sid) != 34 || !strings.HasPrefix(sid, webhook.CallSidPrefix) {
		t.Fatalf("CallSid %q under the twilio dialect, want CA and 32 hex digits", sid)
	}

	uni := parseAll(t, conns["/uni"])
	streamSid := uni[0].StreamSid
	if !strings.HasPrefix(streamSid, "MZ") || string(uni[0].raw) != `{"event":"connected","protocol":"Call","version":"1.0.0","streamSid":"`+streamSid+`"}` {
		t.Fatalf("connected %s", uni[0].raw)
	}
	wantStart := `{"event":"start","sequenceNumber":"1","start":{"accountSid":"` + webhook.DefaultAccountSid + `","streamSid":"` + streamSid + `","callSid":"` + sid +
		`","tracks":["inbound"],"customParameters":{"k":"v"},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"streamSid":"` + streamSid + `"}`
	if string(uni[1].raw) != wantStart {
		t.Fatalf("start\n got %s\nwant %s", uni[1].raw, wantStart)
	}
	m := uni[2]
	if string(m.SequenceNumber) != `"2"` || string(m.Media.Chunk) != `"1"` || m.Media.Timestamp[0] != '"' || m.StreamSid != streamSid {
		t.Fatalf("media %s", m.raw)
	}
	last := uni[len(uni)-1]
	if want := `{"event":"stop","sequenceNumber":"` + strconv.Itoa(len(uni)-1) + `","stop":{"accountSid":"` + webhook.DefaultAccountSid + `","callSid":"` + sid + `"},"streamSid":"` + streamSid + `"}`; string(last.raw) != want {
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
