package edge

// Stream media formats through a real process: a CarrierX <Stream> that
// asks for 16 kHz L16, and one that asks for an encoding there is none of.

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/scenario/voxtest"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipcaller"
)

// A <Stream encoding="audio/l16;rate=16000"> gets a start message naming
// audio/l16 at 16000 and 640-byte frames of 16 kHz PCM that carry the
// caller's tone; a document asking for an unknown encoding is refused as
// invalid FlexML with the attribute's place named; the process survives
// and a bystander call is intact.
func TestStreamEncodingAttribute(t *testing.T) {
	env := servetest.StartEnv(t, servetest.EnvOptions{})
	env.App.DocTo("/app", "wide", `<Response>
<Start><Stream url="{{.WS}}/wide" encoding="audio/l16;rate=16000"/></Start>
<Pause length="30"/>
</Response>`)
	env.App.DocTo("/app", "bad", `<Response>
<Start><Stream url="{{.WS}}/bad" encoding="audio/opus"/></Start>
</Response>`)
	base := env.Baseline(t)
	b := env.Bystander(t)

	call, err := env.Dial(t, sipcaller.Config{To: "wide"})
	if err != nil {
		t.Fatal(err)
	}
	conn := env.StreamConn(t, "/wide")
	tone := codec.EncodeULaw(nil, voxtest.Tone(16000, 8000, 1000, 8000)) // 2 s
	if err := call.SendAudio(servetest.Context(t, 10*time.Second), tone); err != nil {
		t.Fatal(err)
	}
	if err := conn.WaitFor(servetest.Context(t, 10*time.Second), 2+110); err != nil {
		t.Fatal(err)
	}
	if err := call.Hangup(servetest.Context(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, conn, 10*time.Second)
	var pcm []int16
	frames := 0
	for _, m := range conn.Messages() {
		var v struct {
			Event string
			Start struct {
				MediaFormat json.RawMessage
			}
			Media struct {
				Chunk     uint64
				Timestamp uint64
				Payload   string
			}
		}
		if err := json.Unmarshal(m.Data, &v); err != nil {
			t.Fatalf("bad message %q: %v", m.Data, err)
		}
		switch v.Event {
		case "start":
			if got := string(v.Start.MediaFormat); got != `{"encoding":"audio/l16","sampleRate":16000}` {
				t.Fatalf("mediaFormat %s", got)
			}
		case "media":
			frames++
			p, err := base64.StdEncoding.DecodeString(v.Media.Payload)
			if err != nil || len(p) != 640 || v.Media.Chunk != uint64(frames) || v.Media.Timestamp != uint64(20*(frames-1)) {
				t.Fatalf("media %d: %d bytes, chunk %d, timestamp %d (%v)", frames, len(p), v.Media.Chunk, v.Media.Timestamp, err)
			}
			pcm = codec.PCM16LEToSamples(pcm, p)
		}
	}
	// The tone, where it is loud, is all at 1 kHz.
	first, last := -1, -1
	for i, s := range pcm {
		if s > 4000 || s < -4000 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 || last-first < 16000 {
		t.Fatalf("the tone is not in the stream (%d samples, loud from %d to %d)", len(pcm), first, last)
	}
	s := pcm[first+800 : last-800]
	if f := voxtest.Power(s, 16000, 1000) / voxtest.MeanPower(s); f < 0.95 {
		t.Fatalf("1 kHz holds %.3f of the stream's power", f)
	}

	_, err = env.Dial(t, sipcaller.Config{To: "bad"})
	var se *sipcaller.StatusError
	if !errors.As(err, &se) || se.Code != 500 {
		t.Fatalf("dial with a bad encoding: %v, want 500", err)
	}
	line := env.WaitLog(t, "ERROR", "app failed", map[string]string{"call_sid": env.CallSid(t, "bad")})
	if msg, _ := line["err"].(string); !strings.Contains(msg, `:2:8: <Stream>: invalid encoding "audio/opus"`) {
		t.Fatalf("app failed: %q, want the place and the encoding named", msg)
	}
	env.Survived(t, b, base, 10*time.Second)
}
