package gateway_test

import (
	"bytes"
	"encoding/base64"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/gatewaytest"
	"github.com/callstream/callstream/internal/sipcaller"
	"github.com/callstream/callstream/internal/wsapp"
)

// An app speaking Twilio's dialect on CarrierX streams (the operator left
// --stream-dialect at carrierx) gets one warning per stream naming the
// flag, not one per message: here two streams, each sent Twilio's
// connected, start, stop and dtmf events, marks and media with a
// streamSid. The media still plays; other unknown events still get their
// own warning.
func TestTwilioMessagesOnCarrierXWarnOncePerStream(t *testing.T) {
	tone := bytes.Repeat([]byte{0x4D}, 1600)
	env := gatewaytest.Start(t, gatewaytest.Options{WS: wsapp.Options{Handler: func(c *wsapp.Conn) {
		_ = c.WaitFor(env2ctx(), 2) // connected, start
		for range 3 {
			for _, m := range []string{
				`{"event":"connected","protocol":"Call","version":"1.0.0"}`,
				`{"event":"start","streamSid":"MZ1","start":{}}`,
				`{"event":"mark","streamSid":"MZ1","mark":{"name":"m"}}`,
				`{"event":"dtmf","streamSid":"MZ1","dtmf":{"digit":"1"}}`,
				`{"event":"clear","streamSid":"MZ1"}`,
			} {
				_ = c.SendText(m)
			}
		}
		_ = c.SendJSON(map[string]any{"event": "media", "streamSid": "MZ1", "media": map[string]string{"payload": base64.StdEncoding.EncodeToString(tone)}})
		_ = c.SendText(`{"event":"ping"}`) // not Twilio's: the usual warning, after everything above was read
	}}})
	env.App.Doc("/app", `<Response><Start><Stream url="{{.WS}}/fork"/></Start><Connect><Stream url="{{.WS}}/bot"/></Connect></Response>`)
	c := env.Dial(sipcaller.Config{})
	if err := c.WaitHeard(env.Context(10*time.Second), tone); err != nil {
		t.Fatalf("the app's media with a streamSid did not play: %v", err)
	}
	env.Logs.Wait(t, 10*time.Second, "both streams' unknown-message warnings", func() bool {
		return len(env.Logs.Records("WARN", "unknown message from app")) == 2
	})
	const msg = `"connected" is a Twilio message; the stream dialect is carrierx: set --stream-dialect twilio`
	recs := env.Logs.Records("WARN", msg)
	if len(recs) != 2 {
		t.Fatalf("%d warnings %q, want one per stream (2):\n%s", len(recs), msg, env.Logs.String())
	}
	if recs[0]["stream_sid"] == recs[1]["stream_sid"] {
		t.Fatalf("both warnings name stream %v", recs[0]["stream_sid"])
	}
	for _, other := range []string{"mark", "start", "dtmf", "clear"} {
		for _, l := range env.Logs.Lines() {
			if s, _ := l["msg"].(string); l["level"] == "WARN" && bytes.Contains([]byte(s), []byte(`"`+other+`"`)) {
				t.Fatalf("a second warning on a stream: %v", l)
			}
		}
	}
	_ = c.Hangup(env.Context(5 * time.Second))
}
