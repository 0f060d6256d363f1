package scenario

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/wsapp"
)

// remote sends the Voximplant media messages a remote server sends.
type remote struct{ c *wsapp.Conn }

func (r remote) start(t testing.TB, tag, enc string, rate int, params any) {
	t.Helper()
	msg := map[string]any{"event": "start", "sequenceNumber": 0, "start": map[string]any{
		"tag": tag, "mediaFormat": map[string]any{"encoding": enc, "sampleRate": rate}, "customParameters": params}}
	if err := r.c.SendJSON(msg); err != nil {
		t.Fatal(err)
	}
}

func (r remote) media(t testing.TB, tag string, chunk int, payload []byte) {
	t.Helper()
	msg := map[string]any{"event": "media", "sequenceNumber": chunk, "media": map[string]any{
		"tag": tag, "chunk": chunk, "timestamp": fmt.Sprint(chunk * 160), "payload": base64.StdEncoding.EncodeToString(payload)}}
	if err := r.c.SendJSON(msg); err != nil {
		t.Fatal(err)
	}
}

func (r remote) stop(t testing.TB, tag string) {
	t.Helper()
	if err := r.c.SendJSON(map[string]any{"event": "stop", "stop": map[string]any{"tag": tag}}); err != nil {
		t.Fatal(err)
	}
}

// waitGo waits until the script sent "go": it has bound its media.
func (r remote) waitGo(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := r.c.WaitUntil(ctx, `"go"`, func(msgs []wsapp.Message) bool {
		for _, m := range msgs {
			if string(m.Data) == "go" {
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Errorf("the script never sent go: %v", err)
	}
}

// sendChunks sends payload in chunks of size bytes, as fast as possible.
func (r remote) sendChunks(t testing.TB, tag string, payload []byte, size int) {
	t.Helper()
	for i := 0; len(payload) > 0; i++ {
		n := min(size, len(payload))
		r.media(t, tag, i+1, payload[:n])
		payload = payload[n:]
	}
}

// tone makes n samples of a sine at f Hz.
func tone(n, rate int, f, amp float64) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(amp * math.Sin(2*math.Pi*f*float64(i)/float64(rate)))
	}
	return out
}

// power returns the power of x at f Hz (a single DFT bin, normalised).
func power(x []int16, rate int, f float64) float64 {
	var re, im float64
	for i, v := range x {
		a := 2 * math.Pi * f * float64(i) / float64(rate)
		re += float64(v) * math.Cos(a)
		im -= float64(v) * math.Sin(a)
	}
	n := float64(len(x))
	return (re*re + im*im) / (n * n)
}

// total returns the mean power of x.
func total(x []int16) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return s / float64(len(x)) / 2
}

// clip returns a µ-law test clip of n bytes with no silence (0xFF) in it.
func clip(n int) []byte {
	pcm := tone(n, 8000, 440, 8000)
	for i := range pcm {
		pcm[i] += int16(1000 * math.Sin(float64(i)*0.37))
	}
	b := media.EncodeULaw(nil, pcm)
	for i := range b {
		if b[i] == 0xFF || b[i] == 0x7F {
			b[i] = 0xFE
		}
	}
	return b
}

// gwMessage is a message the gateway sent to a remote.
type gwMessage struct {
	Event          string          `json:"event"`
	SequenceNumber json.RawMessage `json:"sequenceNumber"`
	Start          *struct {
		Tag         string `json:"tag"`
		MediaFormat struct {
			Encoding   string `json:"encoding"`
			SampleRate int    `json:"sampleRate"`
		} `json:"mediaFormat"`
		CustomParameters map[string]string `json:"customParameters"`
	} `json:"start"`
	Media *struct {
		Tag       string          `json:"tag"`
		Chunk     json.RawMessage `json:"chunk"`
		Timestamp json.RawMessage `json:"timestamp"`
		Payload   string          `json:"payload"`
	} `json:"media"`
	Stop *struct {
		Tag       string `json:"tag"`
		MediaInfo struct {
			BytesSent json.RawMessage `json:"bytesSent"`
			Duration  json.RawMessage `json:"duration"`
		} `json:"mediaInfo"`
	} `json:"stop"`
	At time.Time `json:"-"`
}

// gwMessages parses what a remote received.
func gwMessages(t testing.TB, c *wsapp.Conn) []gwMessage {
	t.Helper()
	out, err := parseGW(c.Messages())
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// parseGW parses msgs as the gateway's messages to a remote.
func parseGW(msgs []wsapp.Message) ([]gwMessage, error) {
	var out []gwMessage
	for _, m := range msgs {
		var g gwMessage
		if err := json.Unmarshal(m.Data, &g); err != nil {
			return out, fmt.Errorf("message %q: %w", m.Data, err)
		}
		g.At = m.At
		out = append(out, g)
	}
	return out, nil
}

// waitGW waits until what the remote received satisfies cond, and returns
// it; a message that does not parse fails the test at once.
func waitGW(t testing.TB, c *wsapp.Conn, d time.Duration, what string, cond func(msgs []gwMessage) bool) []gwMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	err := c.WaitUntil(ctx, what, func(msgs []wsapp.Message) bool {
		gs, err := parseGW(msgs)
		return err != nil || cond(gs)
	})
	if err != nil {
		t.Fatalf("the remote: %v", err)
	}
	return gwMessages(t, c)
}

// waitEvent waits until the remote received a message with the event.
func waitEvent(t testing.TB, c *wsapp.Conn, event string, d time.Duration) []gwMessage {
	t.Helper()
	return waitGW(t, c, d, fmt.Sprintf("%q message", event), func(msgs []gwMessage) bool {
		for _, m := range msgs {
			if m.Event == event {
				return true
			}
		}
		return false
	})
}
