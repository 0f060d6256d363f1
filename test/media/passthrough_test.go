package media

import (
	"bytes"
	"context"
	"encoding/base64"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/scenario/voxtest"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipcaller"
	"github.com/callstream/callstream/internal/wsapp"
)

// bridgeScript streams every call to a WebSocket at customData + '/' +
// the called number, in the encoding the number starts with, and plays
// what the socket sends back to the call. A call to "ALAW-96" streams
// ALAW to /ALAW-96.
const bridgeScript = `
VoxEngine.addEventListener(AppEvents.CallAlerting, (e) => {
  const call = e.call, dest = e.destination, enc = dest.split('-')[0];
  const ws = new WebSocket(VoxEngine.customData() + '/' + dest);
  call.answer();
  call.addEventListener(CallEvents.Connected, () => {
    call.sendMediaTo(ws, {encoding: enc});
    ws.sendMediaTo(call);
  });
  call.addEventListener(CallEvents.Disconnected, () => { ws.close(); VoxEngine.terminate(); });
});`

// startBridge starts a gateway running bridgeScript whose sockets reach a
// WebSocket app that answers each with reply(path).
func startBridge(t *testing.T, reply func(c *wsapp.Conn)) *servetest.Env {
	t.Helper()
	script := filepath.Join(t.TempDir(), "bridge.js")
	if err := os.WriteFile(script, []byte(bridgeScript), 0o644); err != nil {
		t.Fatal(err)
	}
	return servetest.StartEnv(t, servetest.EnvOptions{
		Options: servetest.Options{Args: []string{"--scenario", script}},
		WS:      wsapp.Options{Handler: reply},
		WSArgs:  func(ws string) []string { return []string{"--scenario-data", ws} },
	})
}

// sendVox sends a Voximplant start naming enc at rate, then audio as
// media messages of 20 ms (frame bytes each), all at once: the gateway
// queues them and plays them in real time.
func sendVox(c *wsapp.Conn, enc string, rate, frame int, audio []byte) error {
	if err := c.SendJSON(map[string]any{"event": "start", "sequenceNumber": 0, "start": map[string]any{
		"tag": "", "mediaFormat": map[string]any{"encoding": enc, "sampleRate": rate}}}); err != nil {
		return err
	}
	for i := 0; len(audio) > 0; i++ {
		n := min(frame, len(audio))
		if err := c.SendJSON(map[string]any{"event": "media", "sequenceNumber": i + 1, "media": map[string]any{
			"tag": "", "chunk": i + 1, "timestamp": i * n, "payload": base64.StdEncoding.EncodeToString(audio[:n])}}); err != nil {
			return err
		}
		audio = audio[n:]
	}
	return nil
}

// streamed returns the payloads of the Voximplant media messages c got,
// joined, and the stream's start message.
func streamed(t *testing.T, c *wsapp.Conn) ([]byte, voxtest.Message) {
	t.Helper()
	msgs, err := voxtest.Parse(c.Messages())
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	var start voxtest.Message
	for _, m := range msgs {
		switch m.Event {
		case "start":
			start = m
		case "media":
			p, err := base64.StdEncoding.DecodeString(m.Media.Payload)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, p...)
		}
	}
	return out, start
}

// noise returns n pseudo-random bytes: as G.711 they use every code, so
// any decode and re-encode on the way (A-law through µ-law, µ-law's two
// zeros) changes some of them.
func noise(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b
}

// A call in µ-law or A-law, on its static payload type or a dynamic one,
// streamed to a socket in the same law: the socket gets the caller's bytes
// unchanged, and the caller gets the socket's bytes unchanged.
func TestG711PassThrough(t *testing.T) {
	fromApp := noise(2, 8000) // 1 s, 50 frames
	env := startBridge(t, func(c *wsapp.Conn) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if c.WaitFor(ctx, 1) != nil { // the gateway's start
			return
		}
		_ = sendVox(c, strings.Split(strings.TrimPrefix(c.Path, "/"), "-")[0], 8000, 160, fromApp)
	})
	for _, tc := range []struct {
		name  string
		codec string
		pt    uint8
	}{
		{"ULAW-0", "PCMU", 0},
		{"ULAW-97", "PCMU", 97},
		{"ALAW-8", "PCMA", 8},
		{"ALAW-96", "PCMA", 96},
	} {
		t.Run(tc.name, func(t *testing.T) {
			call, err := env.Dial(t, sipcaller.Config{To: tc.name, Codec: tc.codec, PayloadType: tc.pt, Only: true})
			if err != nil {
				t.Fatal(err)
			}
			if call.Codec() != tc.codec || call.PayloadType() != tc.pt {
				t.Fatalf("answered %s on %d, want %s on %d", call.Codec(), call.PayloadType(), tc.codec, tc.pt)
			}
			conn := env.StreamConn(t, "/"+tc.name)
			fromCaller := noise(uint64(tc.pt)+10, 16000) // 2 s, 100 frames
			if err := call.SendAudio(servetest.Context(t, 10*time.Second), fromCaller); err != nil {
				t.Fatal(err)
			}
			if err := conn.WaitUntil(servetest.Context(t, 10*time.Second), "the caller's bytes", func([]wsapp.Message) bool {
				got, _ := streamed(t, conn)
				return bytes.Contains(got, fromCaller)
			}); err != nil {
				got, _ := streamed(t, conn)
				t.Fatalf("%v: %s", err, servetest.Divergence(got, fromCaller))
			}
			if err := call.WaitHeard(servetest.Context(t, 10*time.Second), fromApp); err != nil {
				t.Fatalf("the app's bytes: %v: %s", err, servetest.Divergence(call.Heard(), fromApp))
			}
			_, start := streamed(t, conn)
			if start.Start == nil || start.Start.MediaFormat.Encoding != strings.Split(tc.name, "-")[0] || start.Start.MediaFormat.SampleRate != 8000 {
				t.Fatalf("start %+v", start.Start)
			}
			for _, p := range call.Received() {
				if p.PayloadType != tc.pt {
					t.Fatalf("the gateway sent payload type %d, want %d", p.PayloadType, tc.pt)
				}
			}
			if err := call.Hangup(servetest.Context(t, 5*time.Second)); err != nil {
				t.Fatal(err)
			}
		})
	}
}
