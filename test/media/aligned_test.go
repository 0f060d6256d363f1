package media

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/gatewaytest"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipcaller"
)

// audible reports whether a µ-law frame holds a sample louder than 1000.
func audible(frame []byte) bool {
	for _, b := range frame {
		if s := codec.ULawToPCM(b); s > 1000 || s < -1000 {
			return true
		}
	}
	return false
}

// A track="both" stream over a 10 s call with a prompt playing: on each
// track chunk k has timestamp 20·(k−1) from chunk 1 with no hole, the two
// tracks carry a frame for every slot (the same count but for the jitter
// buffer's last frames), the prompt lies whole in the outbound track and
// the caller's words whole in the inbound one, and the words (spoken once
// the caller heard the prompt) start after the prompt's first sound by no
// more than the round trip and the jitter buffer's hold.
func TestAlignedBothTracks(t *testing.T) {
	env := servetest.StartEnv(t, servetest.EnvOptions{})
	env.App.Set("/prompt.wav", gatewaytest.Response{Raw: assets.PromptWAV()})
	env.App.DocTo("/app", "both", `<Response>
<Start><Stream url="{{.WS}}/both" track="both"/></Start>
<Play>{{.App}}/prompt.wav</Play>
<Pause length="30"/>
</Response>`)
	prompt := gatewaytest.PromptULaw(t)
	call, err := env.Dial(t, sipcaller.Config{To: "both"})
	if err != nil {
		t.Fatal(err)
	}
	conn := env.StreamConn(t, "/both")
	if err := call.WaitReceived(servetest.Context(t, 10*time.Second), "the prompt", func(ps []sipcaller.Packet) bool {
		for _, p := range ps {
			if audible(p.Payload) {
				return true
			}
		}
		return false
	}); err != nil {
		t.Fatal(err)
	}
	speech := assets.Speech()
	words := bytes.Repeat(speech, 4) // 12 s
	if err := call.SendAudio(servetest.Context(t, 20*time.Second), words); err != nil {
		t.Fatal(err)
	}
	if err := conn.WaitMedia(servetest.Context(t, 10*time.Second), 2*(len(words)/160+20)); err != nil {
		t.Fatal(err)
	}
	if err := call.Hangup(servetest.Context(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	gatewaytest.WaitClosed(t, conn, 10*time.Second)

	tracks := map[string][]byte{}
	counts := map[string]int{}
	for _, m := range conn.Messages() {
		var v struct {
			Event string
			Media struct {
				Track     string
				Chunk     int
				Timestamp int
				Payload   string
			}
		}
		if err := json.Unmarshal(m.Data, &v); err != nil {
			t.Fatalf("bad message %q: %v", m.Data, err)
		}
		if v.Event != "media" {
			continue
		}
		tr := v.Media.Track
		counts[tr]++
		if v.Media.Chunk != counts[tr] || v.Media.Timestamp != 20*(counts[tr]-1) {
			t.Fatalf("%s media %d: chunk %d, timestamp %d", tr, counts[tr], v.Media.Chunk, v.Media.Timestamp)
		}
		p, err := base64.StdEncoding.DecodeString(v.Media.Payload)
		if err != nil || len(p) != 160 {
			t.Fatalf("%s chunk %d: %d bytes (%v)", tr, v.Media.Chunk, len(p), err)
		}
		tracks[tr] = append(tracks[tr], p...)
	}
	in, out := counts["inbound"], counts["outbound"]
	t.Logf("inbound %d frames, outbound %d frames", in, out)
	if out < 500 || in < out || in > out+11 {
		t.Fatalf("inbound %d frames, outbound %d: want ≥ 500 on each, the inbound ahead by at most the jitter buffer's 10", in, out)
	}
	p := bytes.Index(tracks["outbound"], prompt)
	if p < 0 || p%160 != 0 {
		t.Fatalf("the prompt is not whole in the outbound track (at byte %d): %s", p, servetest.Divergence(tracks["outbound"], prompt))
	}
	s := bytes.Index(tracks["inbound"], speech[:8000])
	if s < 0 || s%160 != 0 {
		t.Fatalf("the words are not whole in the inbound track (at byte %d): %s", s, servetest.Divergence(tracks["inbound"], speech))
	}
	heard := -1
	for i := 0; i+160 <= len(tracks["outbound"]); i += 160 {
		if audible(tracks["outbound"][i : i+160]) {
			heard = i / 160
			break
		}
	}
	said := s / 160
	t.Logf("prompt from chunk %d, first sound at chunk %d; words from chunk %d", p/160+1, heard+1, said+1)
	if said <= heard || said > heard+20 {
		t.Fatalf("the words start at chunk %d, the prompt's first sound at %d: want after it by at most 20 frames", said+1, heard+1)
	}
}
