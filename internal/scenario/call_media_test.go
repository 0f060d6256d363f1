package scenario_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/scenario"
	"github.com/callstream/callstream/internal/scenario/voxtest"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipcaller"
	"github.com/callstream/callstream/internal/wsapp"
)

// TestCallEncodings streams the caller to a socket and the socket's audio
// to the caller in every encoding: the wire format (start, sequence
// numbers, chunks, timestamps in samples, payload bytes, stop with
// mediaInfo), the audio both ways, and the pacing at the caller.
func TestCallEncodings(t *testing.T) {
	clipAudio := voxtest.Clip(20000) // 2.5 s
	alaw := make([]byte, len(clipAudio))
	codec.TranscodeULawToALaw(alaw, clipAudio)
	viaALaw := make([]byte, len(alaw))
	codec.TranscodeALawToULaw(viaALaw, alaw)
	pcm8 := codec.SamplesToPCM16LE(nil, codec.DecodeULaw(nil, clipAudio))
	// 1 kHz + 5.3 kHz at 16 kHz: only the 1 kHz part may reach the caller.
	x, y := voxtest.Tone(40000, 16000, 1000, 6000), voxtest.Tone(40000, 16000, 5300, 6000)
	for i := range x {
		x[i] += y[i]
	}
	pcm16 := codec.SamplesToPCM16LE(nil, x)
	remoteAudio := map[string][]byte{"ULAW": clipAudio, "ALAW": alaw, "PCM8": pcm8, "PCM16": pcm16}
	rates := map[string]int{"ULAW": 8000, "ALAW": 8000, "PCM8": 8000, "PCM16": 16000}
	// PCM8 (PCM16_8KHZ) is written PCM16 at 8000 on the wire.
	wireNames := map[string]string{"ULAW": "ULAW", "ALAW": "ALAW", "PCM8": "PCM16", "PCM16": "PCM16"}

	bot := wsServer(t, func(c *wsapp.Conn) {
		enc := strings.TrimPrefix(c.Path, "/")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if c.WaitFor(ctx, 1) != nil {
			return
		}
		sendStart(t, c, "", enc, rates[enc])
		sendBurst(t, c, "", remoteAudio[enc], 999)
		send(t, c, map[string]any{"event": "stop", "stop": map[string]any{"tag": ""}})
	})
	g := startGateway(t, scenario.Config{CustomData: bot.URL(""), Source: `
VoxEngine.addEventListener(AppEvents.CallAlerting, function (e) {
  var call = e.call, enc = e.destination;
  var ws = new WebSocket(VoxEngine.customData() + '/' + enc);
  call.answer();
  call.addEventListener(CallEvents.Connected, function () {
    call.sendMediaTo(ws, {encoding: enc, tag: 'caller', customParameters: {enc: enc, n: 1}});
    ws.sendMediaTo(call);
  });
  ws.addEventListener(WebSocketEvents.MEDIA_STARTED, function (ev) { Logger.write(enc + ' started ' + ev.encoding); });
  call.addEventListener(CallEvents.Disconnected, function () { ws.close(); VoxEngine.terminate(); });
});`})
	callerTone := codec.EncodeULaw(nil, voxtest.Tone(20000, 8000, 1000, 8000))
	for _, enc := range []string{"ULAW", "ALAW", "PCM8", "PCM16"} {
		t.Run(enc, func(t *testing.T) {
			c := g.Dial(sipcaller.Config{To: enc})
			g.waitText(t, enc+" started "+enc, 5*time.Second)
			sent := assets.Speech()[:20000]
			if enc == "PCM16" {
				sent = callerTone
			}
			if err := c.SendAudio(g.Context(10*time.Second), sent); err != nil {
				t.Fatal(err)
			}
			var conn *wsapp.Conn
			for _, cn := range bot.Conns() {
				if cn.Path == "/"+enc {
					conn = cn
				}
			}
			// The caller's last frames reach the remote, and the remote's
			// audio the caller, before the hang-up. The track has a frame
			// for every slot from its start (silence before the caller's
			// first packet, and through the jitter buffer's delay): a
			// second more covers both.
			if err := conn.WaitMedia(g.Context(5*time.Second), len(sent)/160+50); err != nil {
				t.Fatal(err)
			}
			if err := c.WaitReceived(g.Context(5*time.Second), "the remote's audio", func(ps []sipcaller.Packet) bool {
				heard := sipcaller.Payloads(audible(ps))
				switch enc {
				case "ULAW", "PCM8":
					return bytes.Contains(heard, clipAudio)
				case "ALAW":
					return bytes.Contains(heard, viaALaw)
				}
				return len(heard) >= 19600
			}); err != nil {
				t.Fatal(err)
			}
			if err := c.Hangup(g.Context(5 * time.Second)); err != nil {
				t.Fatal(err)
			}
			waitVox(t, conn, "stop", 5*time.Second)

			// Gateway -> remote.
			msgs := parseVox(t, conn)
			st := msgs[0].Start
			if msgs[0].Event != "start" || string(msgs[0].SequenceNumber) != "0" || st.Tag != "caller" ||
				st.MediaFormat.Encoding != wireNames[enc] || st.MediaFormat.SampleRate != rates[enc] ||
				st.CustomParameters["enc"] != enc || st.CustomParameters["n"] != "1" {
				t.Fatalf("start %s", mustJSON(msgs[0]))
			}
			spf, size := 160, map[string]int{"ULAW": 160, "ALAW": 160, "PCM8": 320, "PCM16": 640}[enc]
			if enc == "PCM16" {
				spf = 320
			}
			var stream []byte
			frames := 0
			for i, m := range msgs[1:] {
				if string(m.SequenceNumber) != fmt.Sprint(i+1) {
					t.Fatalf("sequenceNumber %s at %d", m.SequenceNumber, i+1)
				}
				if m.Event == "stop" {
					if i != len(msgs)-2 || m.Stop.Tag != "caller" || string(m.Stop.MediaInfo.BytesSent) != fmt.Sprint(len(stream)) ||
						string(m.Stop.MediaInfo.Duration) != fmt.Sprint(frames*20) {
						t.Fatalf("stop %s after %d frames, %d bytes", mustJSON(m), frames, len(stream))
					}
					break
				}
				frames++
				p, _ := base64.StdEncoding.DecodeString(m.Media.Payload)
				if m.Media.Tag != "caller" || string(m.Media.Chunk) != fmt.Sprint(frames) ||
					string(m.Media.Timestamp) != fmt.Sprint((frames-1)*spf) || len(p) != size {
					t.Fatalf("media %d: %s (payload %d bytes)", frames, mustJSON(m), len(p))
				}
				stream = append(stream, p...)
			}
			switch enc {
			case "ULAW":
				if !bytes.Contains(stream, sent) {
					t.Error("the caller's audio is not in the ULAW stream")
				}
			case "ALAW":
				want := make([]byte, len(sent))
				codec.TranscodeULawToALaw(want, sent)
				if !bytes.Contains(stream, want) {
					t.Error("the caller's audio is not in the ALAW stream")
				}
			case "PCM8":
				if !bytes.Contains(stream, codec.SamplesToPCM16LE(nil, codec.DecodeULaw(nil, sent))) {
					t.Error("the caller's audio is not in the PCM8 stream")
				}
			case "PCM16":
				s := codec.PCM16LEToSamples(nil, stream)
				start := 0
				for start < len(s) && math.Abs(float64(s[start])) < 2000 {
					start++
				}
				mid := s[start+1600 : start+17600] // 1 s at 16 kHz
				if f := voxtest.Power(mid, 16000, 1000) / voxtest.MeanPower(mid); f < 0.97 {
					t.Errorf("1 kHz holds %.3f of the 16 kHz stream", f)
				}
				if img := 10 * math.Log10(voxtest.Power(mid, 16000, 7000)/voxtest.Power(mid, 16000, 1000)); img > -50 {
					t.Errorf("image at 7 kHz: %.1f dB (sample doubling?)", img)
				}
			}

			// Remote -> caller, paced by the gateway.
			got := audible(received(c))
			heard := sipcaller.Payloads(got)
			switch enc {
			case "ULAW", "PCM8":
				if !bytes.Contains(heard, clipAudio) {
					t.Errorf("the caller did not hear the remote's %s audio intact (%d bytes); the remote got %d messages; warnings: %s",
						enc, len(heard), len(conn.Messages()), warnings(g))
				}
			case "ALAW":
				if !bytes.Contains(heard, viaALaw) {
					t.Errorf("the caller did not hear the remote's ALAW audio intact (%d bytes)", len(heard))
				}
			case "PCM16":
				s := codec.DecodeULaw(nil, heard)
				if len(s) < 19600 {
					t.Fatalf("heard %d samples", len(s))
				}
				mid := s[400:19600]
				if f := voxtest.Power(mid, 8000, 1000) / voxtest.MeanPower(mid); f < 0.97 {
					t.Errorf("1 kHz holds %.3f of what the caller heard", f)
				}
				if a := 10 * math.Log10(voxtest.Power(mid, 8000, 2700)/voxtest.Power(mid, 8000, 1000)); a > -60 {
					t.Errorf("5.3 kHz aliased to 2.7 kHz at %.1f dB", a)
				}
			}
			checkPacing(t, got, false)
		})
	}
	g.waitSessions(t, 5*time.Second)
}

// warnings returns the gateway's warning and error lines.
func warnings(g *gw) string {
	var b strings.Builder
	for _, line := range strings.Split(g.Logs.String(), "\n") {
		if strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`) {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// TestPlaybackPacing sends 5 s of audio at once from a remote: the caller
// receives it paced by the gateway, median 20 ms and 99% of the gaps
// within 20 ± 5 ms, and byte for byte.
func TestPlaybackPacing(t *testing.T) {
	audio := voxtest.Clip(40000)
	bot := wsServer(t, func(c *wsapp.Conn) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if c.WaitFor(ctx, 1) != nil { // "go": the scenario is bound
			return
		}
		sendStart(t, c, "", "ULAW", 8000)
		sendBurst(t, c, "", audio, 8000)
		send(t, c, map[string]any{"event": "stop", "stop": map[string]any{}})
	})
	g := startGateway(t, scenario.Config{CustomData: bot.URL("/bot"), Source: `
VoxEngine.addEventListener(AppEvents.CallAlerting, function (e) {
  var call = e.call, ws = new WebSocket(VoxEngine.customData());
  call.answer();
  call.addEventListener(CallEvents.Connected, function () {
    ws.sendMediaTo(call);
    if (ws.readyState === WebSocketReadyState.OPEN) ws.send('go');
    else ws.onopen = function () { ws.send('go'); };
  });
  ws.onmediaended = function (ev) { Logger.write('played ' + ev.mediaInfo.duration); };
  call.addEventListener(CallEvents.Disconnected, function () { VoxEngine.terminate(); });
});`})
	c := g.Dial(sipcaller.Config{})
	g.waitText(t, "played 5000", 10*time.Second)
	heard := withoutSilence(received(c)) // the call sends silence while nothing plays
	if !bytes.Equal(sipcaller.Payloads(heard), audio) {
		t.Errorf("the caller heard %d bytes, want the remote's %d intact", len(sipcaller.Payloads(heard)), len(audio))
	}
	checkPacing(t, heard, true)
	_ = c.Hangup(g.Context(5 * time.Second))
	g.waitSessions(t, 5*time.Second)
}

// TestCallMediaControls checks call.reject, several tags from one call on
// one socket, ws.stopMediaTo(call), call.stopMediaTo(ws) (stop messages),
// a looping startPlayback cut by stopPlayback, call.hangup, and
// sendMediaBetween / stopMediaBetween.
func TestCallMediaControls(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(assets.PromptWAV())
	}))
	t.Cleanup(app.Close)
	bot := wsServer(t, nil)
	cfg, _ := json.Marshal(map[string]string{"ws": bot.URL(""), "wav": app.URL + "/p.wav"})
	g := startGateway(t, scenario.Config{CustomData: string(cfg), Source: `
var cfg = JSON.parse(VoxEngine.customData());
VoxEngine.addEventListener(AppEvents.CallAlerting, function (e) {
  var call = e.call;
  if (e.destination === 'reject') { call.reject(486); return; }
  call.answer();
  call.addEventListener(CallEvents.Connected, function () {
    var ws = new WebSocket(cfg.ws + '/' + e.destination);
    ws.onopen = function () {
      if (e.destination === 'between') {
        VoxEngine.sendMediaBetween(call, ws);
      } else {
        call.sendMediaTo(ws, {tag: 'a'});
        call.sendMediaTo(ws, {tag: 'b', encoding: 'ULAW'});
        ws.sendMediaTo(call);
      }
      Logger.write(e.destination + ' open');
    };
    ws.onmessage = function (m) {
      switch (m.text) {
      case 'stop-in': ws.stopMediaTo(call); break;
      case 'stop-in-other': ws.stopMediaTo(call, {tag: 'other'}); break;
      case 'stop-out': call.stopMediaTo(ws); break;
      case 'stop-out-a': call.stopMediaTo(ws, {tag: 'a'}); break;
      case 'unlink': VoxEngine.stopMediaBetween(call, ws); break;
      case 'loop': call.startPlayback(cfg.wav, {loop: true}); break;
      case 'stopplay': call.stopPlayback(); break;
      case 'hangup': call.hangup(); break;
      }
      Logger.write('did ' + m.text);
    };
  });
  call.addEventListener(CallEvents.PlaybackStarted, function () { Logger.write('playback started'); });
  call.addEventListener(CallEvents.PlaybackFinished, function () { Logger.write('playback finished'); });
  call.addEventListener(CallEvents.Disconnected, function () { Logger.write(e.destination + ' disconnected'); });
});`})
	_, err := g.Caller.Dial(g.Context(5*time.Second), sipcaller.Config{Target: g.GW.SIPAddr(), From: "1", To: "reject"})
	var se *sipcaller.StatusError
	if !errors.As(err, &se) || se.Code != 486 {
		t.Fatalf("reject: %v", err)
	}

	c := g.Dial(sipcaller.Config{To: "controls"})
	g.waitText(t, "controls open", 5*time.Second)
	conn := servetest.ConnTo(t, bot, "/controls") // the scenario's socket may open before the app has it
	go func() { _ = c.SendAudio(g.Context(5*time.Second), assets.Speech()[:8000]) }()
	sendStart(t, conn, "", "ULAW", 8000)
	sendBurst(t, conn, "", voxtest.Clip(24000), 1600)
	waitAudible(t, g, c, 25) // half a second of the remote's audio heard
	command := func(cmd string) time.Time {
		at := time.Now()
		if err := conn.SendText(cmd); err != nil {
			t.Fatal(err)
		}
		g.waitText(t, "did "+cmd, 5*time.Second)
		return at
	}
	// A tag the remote does not send: nothing stops.
	other := command("stop-in-other")
	err = c.WaitReceived(g.Context(5*time.Second), "audio 150 ms after the command", func(ps []sipcaller.Packet) bool {
		heard := audible(audioPackets(ps))
		return len(heard) > 0 && !heard[len(heard)-1].Arrival.Before(other.Add(150*time.Millisecond))
	})
	if err != nil {
		t.Errorf("ws.stopMediaTo(call, {tag: 'other'}) stopped the remote's untagged audio: %v", err)
	}
	cut := command("stop-in")
	time.Sleep(200 * time.Millisecond) // watch: no audio may come after the cut
	heard := audible(received(c))
	if len(heard) < 15 || heard[len(heard)-1].Arrival.After(cut.Add(60*time.Millisecond)) {
		t.Errorf("ws.stopMediaTo(call): %d packets, the last %s after the command", len(heard), heard[len(heard)-1].Arrival.Sub(cut))
	}
	count := func() (map[string]int, map[string]int) {
		tags := map[string]int{}
		seq := map[string]int{}
		for _, v := range parseVox(t, conn) {
			switch v.Event {
			case "start":
				tags["start "+v.Start.Tag+" "+v.Start.MediaFormat.Encoding]++
			case "media":
				seq[v.Media.Tag]++
			case "stop":
				tags["stop "+v.Stop.Tag]++
			}
		}
		return tags, seq
	}
	// stopMediaTo with a tag stops that tag only.
	command("stop-out-a")
	waitVox(t, conn, "stop", 5*time.Second)
	waitVoxFor(t, conn, 5*time.Second, "10 frames of tag b past tag a", func(vs []voxtest.Message) bool {
		seq := map[string]int{}
		for _, v := range vs {
			if v.Event == "media" {
				seq[v.Media.Tag]++
			}
		}
		return seq["b"] >= seq["a"]+10
	})
	tags, seq := count()
	if tags["stop a"] != 1 || tags["stop b"] != 0 || seq["b"] < seq["a"]+10 {
		t.Errorf("call.stopMediaTo(ws, {tag: 'a'}): %v, media %v", tags, seq)
	}
	command("stop-out")
	waitVoxFor(t, conn, 5*time.Second, "tag b stopped", func(vs []voxtest.Message) bool {
		for _, v := range vs {
			if v.Event == "stop" && v.Stop.Tag == "b" {
				return true
			}
		}
		return false
	})
	tags, seq = count()
	if tags["start a PCM16"] != 1 || tags["start b ULAW"] != 1 || tags["stop a"] != 1 || tags["stop b"] != 1 || seq["a"] < 10 {
		t.Errorf("two tags on one socket: %v, media %v", tags, seq)
	}

	command("loop")
	g.waitText(t, "playback started", 5*time.Second)
	waitAudible(t, g, c, len(audible(received(c)))+100) // 2 s, longer than the 1.5 s prompt: it loops
	stop := command("stopplay")
	time.Sleep(200 * time.Millisecond) // watch: no audio may come after the stop
	heard = audible(received(c))
	last := heard[len(heard)-1].Arrival
	if last.After(stop.Add(60 * time.Millisecond)) {
		t.Errorf("stopPlayback: audio %s after the command", last.Sub(stop))
	}
	if slicesContains(g.texts(), "playback finished") {
		t.Error("a stopped playback reported PlaybackFinished")
	}
	command("hangup")
	select {
	case <-c.Ended():
	case <-time.After(5 * time.Second):
		t.Fatal("call.hangup did not end the call")
	}
	g.waitText(t, "controls disconnected", 5*time.Second)

	b := g.Dial(sipcaller.Config{To: "between"})
	g.waitText(t, "between open", 5*time.Second)
	conn = servetest.ConnTo(t, bot, "/between")
	waitVox(t, conn, "start", 5*time.Second)
	sendStart(t, conn, "", "PCM8", 8000)
	sendBurst(t, conn, "", codec.SamplesToPCM16LE(nil, codec.DecodeULaw(nil, voxtest.Clip(8000))), 3200)
	waitAudible(t, g, b, 10)
	command("unlink")
	waitVox(t, conn, "stop", 5*time.Second)
	if n := len(audible(received(b))); n < 10 {
		t.Errorf("sendMediaBetween: the caller heard %d packets", n)
	}
	_ = b.Hangup(g.Context(5 * time.Second))
	g.waitText(t, "between disconnected", 5*time.Second)
}

// withoutSilence returns ps without the packets of µ-law silence before and
// after the audio.
func withoutSilence(ps []sipcaller.Packet) []sipcaller.Packet {
	quiet := func(p sipcaller.Packet) bool { return len(bytes.Trim(p.Payload, "\xff")) == 0 }
	for len(ps) > 0 && quiet(ps[0]) {
		ps = ps[1:]
	}
	for len(ps) > 0 && quiet(ps[len(ps)-1]) {
		ps = ps[:len(ps)-1]
	}
	return ps
}
