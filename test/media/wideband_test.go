package media

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/scenario/voxtest"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipcaller"
	"github.com/callstream/callstream/internal/wsapp"
)

// widebandCodecs are the wideband codecs of this build's callers (Opus
// joins them in a build with the opus tag).
var widebandCodecs = []string{"G722"}

// wideScript streams every call twice: to /wide as PCM16_16KHZ (whose app
// audio plays to the call) and to /narrow as ULAW.
const wideScript = `
VoxEngine.addEventListener(AppEvents.CallAlerting, (e) => {
  const call = e.call, dest = e.destination;
  const wide = new WebSocket(VoxEngine.customData() + '/wide-' + dest);
  const narrow = new WebSocket(VoxEngine.customData() + '/narrow-' + dest);
  call.answer();
  call.addEventListener(CallEvents.Connected, () => {
    call.sendMediaTo(wide, {encoding: WebSocketAudioEncoding.PCM16_16KHZ});
    call.sendMediaTo(narrow, {encoding: WebSocketAudioEncoding.ULAW});
    wide.sendMediaTo(call);
  });
  call.addEventListener(CallEvents.Disconnected, () => { wide.close(); narrow.close(); VoxEngine.terminate(); });
});`

// upsample returns 8 kHz µ-law speech as PCM at rate.
func upsample(t *testing.T, ulaw []byte, rate int) []int16 {
	t.Helper()
	rs, err := codec.NewResampler(8000, rate)
	if err != nil {
		t.Fatal(err)
	}
	return rs.Process(nil, codec.DecodeULaw(nil, ulaw))
}

// A wideband caller (G.722; Opus in a build with it) streams real 16 kHz
// audio: its 6 kHz tone, which an 8 kHz path would remove, reaches a
// PCM16_16KHZ socket above 20 dB SNR, and its speech reaches a µ-law
// socket intact. The app's 6 kHz tone at 16 kHz reaches the caller the
// same way, never passing through 8 kHz.
func TestWidebandCallers(t *testing.T) {
	script := filepath.Join(t.TempDir(), "wide.js")
	if err := os.WriteFile(script, []byte(wideScript), 0o644); err != nil {
		t.Fatal(err)
	}
	appTone := codec.SamplesToPCM16LE(nil, voxtest.Tone(16000, 16000, 6000, 8000)) // 1 s
	env := servetest.StartEnv(t, servetest.EnvOptions{
		Options: servetest.Options{Args: []string{"--scenario", script}},
		WS: wsapp.Options{Handler: func(c *wsapp.Conn) {
			if len(c.Path) < 6 || c.Path[:6] != "/wide-" {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if c.WaitFor(ctx, 1) != nil {
				return
			}
			_ = sendVox(c, "PCM16", 16000, 640, appTone)
		}},
		WSArgs: func(ws string) []string { return []string{"--scenario-data", ws} },
	})
	speech := assets.Speech()
	for _, name := range widebandCodecs {
		t.Run(name, func(t *testing.T) {
			call, err := env.Dial(t, sipcaller.Config{To: name, Codec: name, Only: true})
			if err != nil {
				t.Fatal(err)
			}
			if call.Codec() != name || call.Format().Rate < 16000 {
				t.Fatalf("answered %s (%v)", call.Codec(), call.Format())
			}
			// 1 s of the tone, 200 ms of silence, the words: at the
			// caller's rate (16 kHz for G.722, 48 kHz for Opus).
			rate := call.Format().Rate
			sent := voxtest.Tone(rate, rate, 6000, 8000)
			sent = append(sent, make([]int16, rate/5)...)
			sent = append(sent, upsample(t, speech, rate)...)
			wide := env.StreamConn(t, "/wide-"+name)
			narrow := env.StreamConn(t, "/narrow-"+name)
			if err := call.SendPCM(servetest.Context(t, 15*time.Second), sent); err != nil {
				t.Fatal(err)
			}
			// Everything sent, and the jitter buffer's hold, reaches both
			// sockets: 4.2 s of audio after the caller's first frame.
			for _, c := range []*wsapp.Conn{wide, narrow} {
				if err := c.WaitMedia(servetest.Context(t, 10*time.Second), len(sent)/(rate/50)+20); err != nil {
					t.Fatal(err)
				}
			}
			if err := call.Hangup(servetest.Context(t, 5*time.Second)); err != nil {
				t.Fatal(err)
			}

			wb, start := streamed(t, wide)
			if start.Start == nil || start.Start.MediaFormat.Encoding != "PCM16" || start.Start.MediaFormat.SampleRate != 16000 {
				t.Fatalf("wide start %+v", start.Start)
			}
			got := codec.PCM16LEToSamples(nil, wb)
			// The tone comes first: it is measured from 0.5 s to 0.9 s after
			// its onset, its steady state (an encoder adapts at the onset).
			x := steady(got, 16000)
			if x == nil {
				t.Fatalf("the tone is not in the 16 kHz stream (%d samples)", len(got))
			}
			if snr := toneSNR(x, 16000, 6000); snr < 20 {
				t.Fatalf("6 kHz tone in the 16 kHz stream: SNR %.1f dB, want > 20 (by 100 ms: %s)", snr, windows(x, 16000, 6000))
			} else {
				t.Logf("%s caller → PCM16_16KHZ: 6 kHz tone at %.1f dB SNR", name, snr)
			}

			nb, start := streamed(t, narrow)
			if start.Start == nil || start.Start.MediaFormat.Encoding != "ULAW" || start.Start.MediaFormat.SampleRate != 8000 {
				t.Fatalf("narrow start %+v", start.Start)
			}
			ref := codec.DecodeULaw(nil, speech[4000:12000]) // 1 s of the words
			if c, lag := bestCorrelation(ref, codec.DecodeULaw(nil, nb)); c < 0.9 {
				t.Fatalf("the speech in the µ-law stream correlates %.3f with what was said (lag %d), want ≥ 0.9", c, lag)
			} else {
				t.Logf("%s caller → ULAW: speech correlation %.3f", name, c)
			}

			heard, err := call.HeardPCM()
			if err != nil {
				t.Fatal(err)
			}
			y := steady(heard, rate)
			if y == nil {
				t.Fatalf("the app's tone did not reach the caller (%d samples heard)", len(heard))
			}
			if snr := toneSNR(y, rate, 6000); snr < 20 {
				t.Fatalf("the app's 6 kHz tone at the %s caller: SNR %.1f dB, want > 20 (by 100 ms: %s)", name, snr, windows(y, rate, 6000))
			} else {
				t.Logf("PCM16_16KHZ app → %s caller: 6 kHz tone at %.1f dB SNR", name, snr)
			}
		})
	}
}
