package scenario_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/scenario/voxtest"
	"github.com/callstream/callstream/internal/wsapp"
)

// wsServer starts a WebSocket app for the scenarios to dial.
func wsServer(t *testing.T, handler func(c *wsapp.Conn)) *wsapp.Server {
	t.Helper()
	s, err := wsapp.Listen(wsapp.Options{Handler: handler})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// echo sends every message back as it came: the gateway's own start,
// media and stop are valid messages from a remote.
func echo(c *wsapp.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for n := 0; ; n++ {
		if c.WaitFor(ctx, n+1) != nil {
			return
		}
		if c.SendText(string(c.Messages()[n].Data)) != nil {
			return
		}
	}
}

// parseVox returns the stream messages the remote c received, skipping
// the scenario's own text messages.
func parseVox(t *testing.T, c *wsapp.Conn) []voxtest.Message { return voxtest.Stream(c.Messages()) }

// waitVox waits until the remote received a message with event.
func waitVox(t *testing.T, c *wsapp.Conn, event string, d time.Duration) {
	t.Helper()
	waitVoxFor(t, c, d, fmt.Sprintf("a %q message", event), func(vs []voxtest.Message) bool {
		for _, v := range vs {
			if v.Event == event {
				return true
			}
		}
		return false
	})
}

// waitVoxFor waits until the messages the remote received satisfy cond.
func waitVoxFor(t *testing.T, c *wsapp.Conn, d time.Duration, what string, cond func(vs []voxtest.Message) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if err := c.WaitUntil(ctx, what, func(msgs []wsapp.Message) bool { return cond(voxtest.Stream(msgs)) }); err != nil {
		t.Fatalf("the remote: %v", err)
	}
}

// waitVoxConn waits for the server's first connection to receive event.
func waitVoxConn(t *testing.T, s *wsapp.Server, event string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(s.Conns()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if len(s.Conns()) == 0 {
		t.Fatal("no connection")
	}
	waitVox(t, s.Conns()[0], event, time.Until(deadline))
}

// send sends a Voximplant message from a remote.
func send(t *testing.T, c *wsapp.Conn, v map[string]any) {
	t.Helper()
	if err := c.SendJSON(v); err != nil {
		t.Error(err)
	}
}

func sendStart(t *testing.T, c *wsapp.Conn, tag, enc string, rate int) {
	send(t, c, map[string]any{"event": "start", "sequenceNumber": 0, "start": map[string]any{
		"tag": tag, "mediaFormat": map[string]any{"encoding": enc, "sampleRate": rate}}})
}

// sendBurst sends audio as media messages of chunk bytes, all at once.
func sendBurst(t *testing.T, c *wsapp.Conn, tag string, audio []byte, chunk int) {
	for i := 0; len(audio) > 0; i++ {
		n := min(chunk, len(audio))
		send(t, c, map[string]any{"event": "media", "sequenceNumber": i + 1, "media": map[string]any{
			"tag": tag, "chunk": i + 1, "timestamp": i * n, "payload": base64.StdEncoding.EncodeToString(audio[:n])}})
		audio = audio[n:]
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
