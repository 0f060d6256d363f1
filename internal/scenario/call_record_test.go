package scenario_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/scenario"
	"github.com/callstream/callstream/internal/scenario/voxtest"
	"github.com/callstream/callstream/internal/sipcaller"
)

// TestCallRecord records calls with call.record over real SIP: the caller
// sends a 440 Hz tone while the scenario plays a 1 kHz one; after the
// caller hangs up, RecordStopped gives the URL and duration, and the WAV
// fetched with the API token holds the caller on the left channel and
// what was played on the right (stereo), or both summed (mono). Without
// the token the recording is refused.
func TestCallRecord(t *testing.T) {
	tone := codec.EncodeULaw(nil, voxtest.Tone(8000, 8000, 1000, 8000))
	wav, err := media.AppendWAVHeaderChannels(nil, media.EncodingULaw, 8000, 1, int64(len(tone)))
	if err != nil {
		t.Fatal(err)
	}
	wav = append(wav, tone...)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(wav) }))
	t.Cleanup(app.Close)
	g := startGateway(t, scenario.Config{CustomData: app.URL + "/tone.wav", Source: `
VoxEngine.addEventListener(AppEvents.CallAlerting, function (e) {
  var call = e.call, d = e.destination;
  call.answer();
  call.addEventListener(CallEvents.Connected, function () {
    call.startPlayback(VoxEngine.customData(), {loop: true});
    call.record({stereo: d === 'stereo', hd_audio: false, transcribe: true});
    call.record({stereo: true});
  });
  call.addEventListener(CallEvents.RecordStarted, function (ev) {
    Logger.write(d + ' started ' + (ev.call === call) + ' ' + ev.name + ' ' + ev.url);
  });
  call.addEventListener(CallEvents.RecordStopped, function (ev) {
    Logger.write(d + ' stopped ' + ev.duration + ' ' + ev.url);
  });
  call.addEventListener(CallEvents.Disconnected, function () { VoxEngine.terminate(); });
});`})
	for _, mode := range []string{"stereo", "mono"} {
		t.Run(mode, func(t *testing.T) {
			c := g.Dial(sipcaller.Config{To: mode})
			started := g.waitText(t, mode+" started *", 10*time.Second)
			t0 := time.Now()
			f := strings.Fields(started)
			if len(f) != 5 || f[2] != "true" || f[3] != "Call.RecordStarted" || !strings.Contains(f[4], "/records/rec-") {
				t.Fatalf("RecordStarted: %q", started)
			}
			url := f[4]
			if err := c.SendPCM(g.Context(10*time.Second), voxtest.Tone(8000*3, 8000, 440, 8000)); err != nil {
				t.Fatal(err)
			}
			if err := c.Hangup(g.Context(5 * time.Second)); err != nil {
				t.Fatal(err)
			}
			elapsed := time.Since(t0)
			stopped := strings.Fields(g.waitText(t, mode+" stopped *", 10*time.Second))
			if len(stopped) != 4 || stopped[3] != url {
				t.Fatalf("RecordStopped: %q, want the URL %s", stopped, url)
			}
			duration, err := strconv.ParseFloat(stopped[2], 64)
			if err != nil {
				t.Fatal(err)
			}

			// Without the token: refused.
			resp, err := http.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("GET without the token: %d, want 401", resp.StatusCode)
			}
			resp = apiRequest(t, http.MethodGet, url, nil)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET with the token: %d", resp.StatusCode)
			}
			a, err := media.ReadWAV(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			wantCh, wantEnc := 1, media.EncodingULaw
			if mode == "stereo" {
				wantCh, wantEnc = 2, media.EncodingPCM16
			}
			if a.Channels != wantCh || a.Encoding != wantEnc || a.SampleRate != 8000 {
				t.Fatalf("file: %d channels of %v at %d Hz; want %d of %v at 8000", a.Channels, a.Encoding, a.SampleRate, wantCh, wantEnc)
			}
			left, right := channels(a)
			secs := float64(len(left)) / 8000
			// The file is what RecordStopped reports, and the ~3 s of the
			// call: it started before t0 and ended once the hang-up was in.
			if d := secs - duration; d < -0.02 || d > 0.02 {
				t.Fatalf("file %.3f s, RecordStopped %.3f s", secs, duration)
			}
			if secs < 3-0.1 || secs < elapsed.Seconds()-0.1 || secs > elapsed.Seconds()+1 {
				t.Fatalf("file %.3f s; the caller sent 3 s and hung up %.3f s after RecordStarted", secs, elapsed.Seconds())
			}
			// The caller spoke for exactly 3 s (150 frames): the recording
			// holds those 3 s within 100 ms, whatever the scheduling of this
			// test around the call.
			spoke := 0
			for i := 0; i+160 <= len(left); i += 160 {
				if voxtest.Power(left[i:i+160], 8000, 440) > 1e6 {
					spoke++
				}
			}
			if got := float64(spoke) * 0.02; got < 3-0.1 || got > 3+0.1 {
				t.Fatalf("the caller's 3 s of tone fill %.2f s of the recording, want 3 s within 100 ms", got)
			}
			// The middle of the call: the caller's tone, the played one.
			mid := func(x []int16) []int16 { return x[len(x)/2-8000 : len(x)/2+8000] }
			l440, l1k := voxtest.Power(mid(left), 8000, 440), voxtest.Power(mid(left), 8000, 1000)
			if mode == "mono" {
				if l440 < 1e6 || l1k < 1e6 {
					t.Fatalf("mono: 440 Hz power %.0f, 1 kHz %.0f: both parties should be heard", l440, l1k)
				}
				return
			}
			r440, r1k := voxtest.Power(mid(right), 8000, 440), voxtest.Power(mid(right), 8000, 1000)
			if l440 < 1e6 || l1k > l440/100 || r1k < 1e6 || r440 > r1k/100 {
				t.Fatalf("left 440 Hz %.0f, 1 kHz %.0f; right 440 Hz %.0f, 1 kHz %.0f: want the caller left, the playback right", l440, l1k, r440, r1k)
			}
		})
	}
	if w := warnings(g); !strings.Contains(w, "call.record: option not supported: ignored") || !strings.Contains(w, "already being recorded") {
		t.Errorf("warnings: %s", w)
	}
}

// channels returns a file's samples, both channels (right nil for mono).
func channels(a *media.Audio) (left, right []int16) {
	switch a.Encoding {
	case media.EncodingULaw:
		return codec.DecodeULaw(nil, a.Data), nil
	}
	for i := 0; i+2*a.Channels <= len(a.Data); i += 2 * a.Channels {
		left = append(left, int16(uint16(a.Data[i])|uint16(a.Data[i+1])<<8))
		if a.Channels == 2 {
			right = append(right, int16(uint16(a.Data[i+2])|uint16(a.Data[i+3])<<8))
		}
	}
	return left, right
}
