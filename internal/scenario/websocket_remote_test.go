package scenario

import (
	"context"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/scenario/voxtest"
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

// gwMessages parses what a remote received.
func gwMessages(t testing.TB, c *wsapp.Conn) []voxtest.Message {
	t.Helper()
	out, err := voxtest.Parse(c.Messages())
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitGW waits until what the remote received satisfies cond, and returns
// it; a message that does not parse fails the test at once.
func waitGW(t testing.TB, c *wsapp.Conn, d time.Duration, what string, cond func(msgs []voxtest.Message) bool) []voxtest.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	err := c.WaitUntil(ctx, what, func(msgs []wsapp.Message) bool {
		gs, err := voxtest.Parse(msgs)
		return err != nil || cond(gs)
	})
	if err != nil {
		t.Fatalf("the remote: %v", err)
	}
	return gwMessages(t, c)
}

// waitEvent waits until the remote received a message with the event.
func waitEvent(t testing.TB, c *wsapp.Conn, event string, d time.Duration) []voxtest.Message {
	t.Helper()
	return waitGW(t, c, d, fmt.Sprintf("%q message", event), func(msgs []voxtest.Message) bool {
		for _, m := range msgs {
			if m.Event == event {
				return true
			}
		}
		return false
	})
}
