package scenario_test

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/scenario"
	"github.com/callstream/callstream/internal/scenario/voxtest"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipcaller"
)

// needTTS skips a test without espeak-ng, or fails it under CI=true
// (the test script installs it).
func needTTS(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("espeak-ng is needed: %v", err)
		}
		t.Skip("espeak-ng is not installed")
	}
}

// audibleRuns splits what the caller heard into runs of audible packets
// separated by at least gap silent packets, each decoded to 8 kHz
// samples (shorter silences inside a run are kept).
func audibleRuns(ps []sipcaller.Packet, gap int) [][]int16 {
	var runs [][]int16
	var cur, quiet []int16
	silent := 0
	for _, p := range ps {
		if len(audible([]sipcaller.Packet{p})) == 0 {
			silent++
			quiet = codec.DecodeULaw(quiet, p.Payload)
			if silent == gap && cur != nil {
				runs = append(runs, cur)
				cur = nil
			}
			continue
		}
		if cur != nil {
			cur = append(cur, quiet...)
		}
		quiet, silent = quiet[:0], 0
		cur = codec.DecodeULaw(cur, p.Payload)
	}
	if cur != nil {
		runs = append(runs, cur)
	}
	return runs
}

func rmsOf(x []int16) float64 {
	var s float64
	for _, v := range x {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s / float64(max(len(x), 1)))
}

// TestCallSay speaks to a real SIP caller with call.say: a Language voice
// twice (the second from the TTS cache), then an unknown VoiceList voice
// twice (the default voice, one warning); each say fires PlaybackReady,
// PlaybackStarted and PlaybackFinished in that order, and the caller hears
// speech.
func TestCallSay(t *testing.T) {
	needTTS(t)
	g := startGateway(t, scenario.Config{Source: `
VoxEngine.addEventListener(AppEvents.CallAlerting, function (e) {
  var call = e.call, n = 0, order = [];
  var voices = [Language.UK_ENGLISH_FEMALE, Language.UK_ENGLISH_FEMALE, VoiceList.Acme.nobody, {language: VoiceList.Acme.nobody}];
  var text = 'Hello from the gateway';
  call.addEventListener(CallEvents.PlaybackReady, function () { order.push('ready'); });
  call.addEventListener(CallEvents.PlaybackStarted, function () { order.push('started'); });
  call.addEventListener(CallEvents.PlaybackFinished, function (ev) {
    order.push('finished');
    Logger.write('say ' + n + ' ' + order.join(',') + (ev.error ? ' error ' + ev.error : ''));
    order = [];
    if (++n < voices.length) setTimeout(function () { call.say(text, voices[n]); }, 1000);
    else Logger.write('done');
  });
  call.addEventListener(CallEvents.Connected, function () { call.say(text, voices[0]); });
  call.addEventListener(CallEvents.Disconnected, function () { VoxEngine.terminate(); });
  call.answer();
});`})
	c := g.Dial(sipcaller.Config{})
	g.waitText(t, "done", 30*time.Second)
	for i, text := range []string{"say 0", "say 1", "say 2", "say 3"} {
		if got := g.waitText(t, text+" *", time.Second); got != text+" ready,started,finished" {
			t.Errorf("say %d: %q", i, got)
		}
	}
	runs := audibleRuns(received(c), 25)
	if len(runs) != 4 {
		t.Fatalf("%d runs of speech, want 4", len(runs))
	}
	for i, r := range runs {
		// Speech of about a second, clearly above µ-law's noise floor.
		t.Logf("say %d: %d samples, RMS %.0f", i, len(r), rmsOf(r))
		if len(r) < 4000 || rmsOf(r) < 300 {
			t.Errorf("say %d: %d samples, RMS %.0f", i, len(r), rmsOf(r))
		}
	}
	if len(runs[0]) != len(runs[1]) || len(runs[0]) == len(runs[2]) {
		t.Errorf("run lengths %d %d %d %d: the same voice twice should match, another voice differ",
			len(runs[0]), len(runs[1]), len(runs[2]), len(runs[3]))
	}
	m, err := servetest.Scrape("http://" + g.GW.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if s, h := m.Get("callstream_tts_syntheses_total"), m.Get("callstream_tts_cache_hits_total"); s != 2 || h != 2 {
		t.Errorf("%v syntheses and %v cache hits, want 2 and 2", s, h)
	}
	if n := strings.Count(warnings(g), "unknown TTS voice"); n != 1 {
		t.Errorf("%d unknown-voice warnings, want 1:\n%s", n, warnings(g))
	}
	_ = c.Hangup(g.Context(5 * time.Second))
	g.waitSessions(t, 5*time.Second)
}

// toneWAV is the WAV twin of the tone fixtures: 1 s of 440 Hz at 48 kHz,
// amplitude 8000, 16-bit mono.
func toneWAV() []byte {
	x := voxtest.Tone(48000, 48000, 440, 8000)
	b := []byte("RIFF")
	b = binary.LittleEndian.AppendUint32(b, uint32(36+2*len(x)))
	b = append(b, "WAVEfmt "...)
	b = binary.LittleEndian.AppendUint32(b, 16)
	b = binary.LittleEndian.AppendUint16(b, 1)
	b = binary.LittleEndian.AppendUint16(b, 1)
	b = binary.LittleEndian.AppendUint32(b, 48000)
	b = binary.LittleEndian.AppendUint32(b, 96000)
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, 16)
	b = append(b, "data"...)
	b = binary.LittleEndian.AppendUint32(b, uint32(2*len(x)))
	for _, v := range x {
		b = binary.LittleEndian.AppendUint16(b, uint16(v))
	}
	return b
}

// TestCallPlayFormats plays the same tone as WAV, MP3 and Ogg/Opus (CELT
// and SILK) to a real SIP caller with call.startPlayback, then the Opus
// file again through createURLPlayer with two markers: every copy is
// heard within 1 dB of the WAV's level and as long, the events come as
// Ready, Started, markers, Finished, and an Ogg/Vorbis file finishes with
// an error naming the format.
func TestCallPlayFormats(t *testing.T) {
	files := map[string][]byte{"/tone.wav": toneWAV()}
	for path, name := range map[string]string{"/tone.mp3": "tone440.mp3", "/celt.opus": "tone440_celt.opus", "/silk.opus": "tone440_silk.opus"} {
		b, err := os.ReadFile("../media/testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		files[path] = b
	}
	mux := http.NewServeMux()
	for path, b := range files {
		mux.HandleFunc(path, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(b) })
	}
	mux.HandleFunc("/vorbis.ogg", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(vorbisHeaderPage()) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	base := srv.URL
	cfg, _ := json.Marshal(map[string]string{"http": base})
	g := startGateway(t, scenario.Config{CustomData: string(cfg), Source: `
VoxEngine.addEventListener(AppEvents.CallAlerting, function (e) {
  var call = e.call, base = JSON.parse(VoxEngine.customData()).http;
  var urls = ['/tone.wav', '/tone.mp3', '/celt.opus', '/silk.opus', '/vorbis.ogg'], n = 0, order = [];
  call.addEventListener(CallEvents.PlaybackReady, function () { order.push('ready'); });
  call.addEventListener(CallEvents.PlaybackStarted, function () { order.push('started'); });
  call.addEventListener(CallEvents.PlaybackFinished, function (ev) {
    order.push('finished');
    Logger.write('play ' + urls[n] + ' ' + order.join(',') + (ev.error ? ' error ' + ev.error : ''));
    order = [];
    if (++n < urls.length) setTimeout(function () { call.startPlayback(base + urls[n]); }, 300);
    else setTimeout(player, 300);
  });
  function player() {
    var p = VoxEngine.createURLPlayer(base + '/celt.opus', {loop: false, progressivePlayback: true}), events = [];
    p.addMarker(-250);
    p.addMarker(500);
    p.addEventListener(PlayerEvents.PlaybackReady, function () { events.push('ready'); });
    p.addEventListener(PlayerEvents.Started, function () { events.push('started'); p.sendMediaTo(call); });
    p.addEventListener(PlayerEvents.PlaybackMarkerReached, function (e) { events.push('marker ' + e.offset); });
    p.addEventListener(PlayerEvents.PlaybackFinished, function (e) {
      events.push('finished');
      Logger.write('player ' + events.join(',') + (e.error ? ' error ' + e.error : ''));
    });
  }
  call.addEventListener(CallEvents.Connected, function () { call.startPlayback(base + urls[0]); });
  call.addEventListener(CallEvents.Disconnected, function () { VoxEngine.terminate(); });
  call.answer();
});`})
	c := g.Dial(sipcaller.Config{})
	got := g.waitText(t, "player *", 30*time.Second)
	if got != "player ready,started,marker 500,marker -250,finished" {
		t.Errorf("createURLPlayer events: %q", got)
	}
	for _, u := range []string{"/tone.wav", "/tone.mp3", "/celt.opus", "/silk.opus"} {
		if got := g.waitText(t, "play "+u+" *", time.Second); got != "play "+u+" ready,started,finished" {
			t.Errorf("%s: %q", u, got)
		}
	}
	vorbis := g.waitText(t, "play /vorbis.ogg *", time.Second)
	if !strings.Contains(vorbis, "finished error") || !strings.Contains(vorbis, "Vorbis audio is not supported; use WAV, MP3 or Ogg/Opus") {
		t.Errorf("vorbis: %q", vorbis)
	}
	runs := audibleRuns(received(c), 5)
	if len(runs) != 5 {
		t.Fatalf("%d runs of tone, want 5 (wav, mp3, celt, silk, player)", len(runs))
	}
	want := rmsOf(runs[0][800 : len(runs[0])-800])
	for i, name := range []string{"wav", "mp3", "celt", "silk", "player"} {
		r := runs[i]
		if len(r) < 7840 || len(r) > 8480 {
			t.Errorf("%s: %d samples heard, want about 8000", name, len(r))
			continue
		}
		db := 20 * math.Log10(rmsOf(r[800:len(r)-800])/want)
		t.Logf("%s: %d samples, %+.2f dB from the WAV", name, len(r), db)
		if math.Abs(db) > 1 {
			t.Errorf("%s: %+.2f dB from the WAV", name, db)
		}
	}
	_ = c.Hangup(g.Context(5 * time.Second))
	g.waitSessions(t, 5*time.Second)
}

// vorbisHeaderPage is the first page of an Ogg/Vorbis file: its
// identification header, checksummed.
func vorbisHeaderPage() []byte {
	body := []byte("\x01vorbis\x00\x00\x00\x00\x01\x44\xac\x00\x00\x00\x00\x00\x00\x00\xee\x02\x00\x00\x00\x00\x00\xb8\x01")
	h := []byte("OggS\x00\x02")
	h = binary.LittleEndian.AppendUint64(h, 0)
	h = binary.LittleEndian.AppendUint32(h, 1) // serial
	h = binary.LittleEndian.AppendUint32(h, 0) // sequence
	h = binary.LittleEndian.AppendUint32(h, 0) // checksum, below
	h = append(h, 1, byte(len(body)))
	page := append(h, body...)
	var crc uint32
	for _, c := range page {
		crc ^= uint32(c) << 24
		for range 8 {
			if crc&0x80000000 != 0 {
				crc = crc<<1 ^ 0x04C11DB7
			} else {
				crc <<= 1
			}
		}
	}
	binary.LittleEndian.PutUint32(page[22:], crc)
	return page
}
