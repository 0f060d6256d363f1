package gateway_test

// The helpers of the Stream verb's conformance suite (stream_test.go,
// connect_test.go, twilio_test.go): the app's messages, the caller's audio
// and waits on both.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/gatewaytest"
	"github.com/callstream/callstream/internal/sipcaller"
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
