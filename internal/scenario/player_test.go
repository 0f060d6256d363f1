package scenario

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/scenario/voxtest"
)

// TestPlayers checks createURLPlayer (a µ-law WAV, a 22.05 kHz stereo
// PCM WAV, downmixed and resampled, and an MP3) sent to a WebSocket, its events, a URL that is not audio, and
// createTTSPlayer with and without the TTS program.
func TestPlayers(t *testing.T) {
	t.Parallel()
	x := voxtest.Tone(22050, 22050, 1000, 8000)
	mux := http.NewServeMux()
	mux.HandleFunc("/prompt.wav", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(assets.PromptWAV()) })
	mux.HandleFunc("/tone.wav", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(stereoWAV(x, 22050)) })
	mp3, err := os.ReadFile("../media/testdata/speech_22k.mp3")
	if err != nil {
		t.Fatal(err)
	}
	mux.HandleFunc("/speech", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(mp3) })
	mux.HandleFunc("/page.html", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("<html></html>")) })
	base := newHTTPServer(t, mux)
	ws := newWSApp(t, nil)
	_, haveTTS := exec.LookPath("espeak-ng")
	e := newEnv(t, `
VoxEngine.addEventListener(AppEvents.Started, function () {
  var cfg = JSON.parse(VoxEngine.customData());
  function play(name, player, encoding) {
    var dst = new WebSocket(cfg.ws + '/' + name);
    player.addEventListener(PlayerEvents.PlaybackReady, function (e) { Logger.write(name + ' ready ' + e.duration); });
    player.addEventListener(PlayerEvents.Started, function () { Logger.write(name + ' started'); });
    player.addEventListener(PlayerEvents.PlaybackFinished, function (e) {
      Logger.write(name + ' finished ' + (e.error ? 'error ' + e.error : 'ok'));
      setTimeout(function () { dst.close(); }, 100);
    });
    player.sendMediaTo(dst, {encoding: encoding});
  }
  play('prompt', VoxEngine.createURLPlayer(cfg.http + '/prompt.wav'), 'ULAW');
  play('tone', VoxEngine.createURLPlayer(cfg.http + '/tone.wav'), 'PCM8');
  play('mp3', VoxEngine.createURLPlayer(cfg.http + '/speech'), 'ULAW');
  play('page', VoxEngine.createURLPlayer(cfg.http + '/page.html'), 'ULAW');
  play('tts', VoxEngine.createTTSPlayer('Hello there', {language: VoiceList.Default.en_US_Female}), 'ULAW');
});`, nil)
	cfg, _ := json.Marshal(map[string]string{"ws": ws.URL(""), "http": base})
	e.start(t, string(cfg))
	e.logs.waitText(t, 5*time.Second, "prompt ready 1.5")
	e.logs.waitText(t, 5*time.Second, "prompt finished ok")
	e.logs.waitText(t, 5*time.Second, "tone finished ok")
	e.logs.waitText(t, 5*time.Second, "mp3 finished ok")
	page := e.logs.waitText(t, 5*time.Second, "page finished error *")
	if !strings.Contains(page, "only WAV, MP3 or Ogg/Opus audio is supported") {
		t.Errorf("page: %q", page)
	}
	tts := e.logs.waitText(t, 10*time.Second, "tts finished *")
	if haveTTS == nil && tts != "tts finished ok" {
		t.Errorf("tts: %q", tts)
	}
	if haveTTS != nil && !strings.Contains(tts, "espeak-ng") {
		t.Errorf("tts without the program: %q", tts)
	}
	audio := func(path string) []byte {
		c := ws.conn(t, path)
		<-c.Closed()
		var out []byte
		for _, m := range gwMessages(t, c) {
			if m.Event == "media" {
				p, _ := base64.StdEncoding.DecodeString(m.Media.Payload)
				out = append(out, p...)
			}
		}
		return out
	}
	prompt, _ := media.ReadWAV(bytes.NewReader(assets.PromptWAV()))
	if got := audio("/prompt"); !bytes.Contains(got, bytes.Trim(prompt.Data, "\xff")) {
		t.Errorf("the prompt did not arrive intact: %d bytes", len(got))
	}
	decoded, err := media.Decode(mp3, 0)
	if err != nil {
		t.Fatal(err)
	}
	speech, err := decoded.ForCall(codec.PCMU)
	if err != nil {
		t.Fatal(err)
	}
	if got := audio("/mp3"); !bytes.Contains(got, bytes.Trim(speech, "\xff\x7f")) {
		t.Errorf("the MP3 did not arrive as decoded: %d bytes, want %d", len(got), len(speech))
	}
	s := codec.PCM16LEToSamples(nil, audio("/tone"))
	first := 0
	for first < len(s) && s[first] == 0 {
		first++
	}
	if len(s)-first < 7900 {
		t.Fatalf("tone: %d samples", len(s)-first)
	}
	mid := s[first+500 : first+7500]
	if f := voxtest.Power(mid, 8000, 1000) / voxtest.MeanPower(mid); f < 0.98 {
		t.Errorf("22.05 kHz tone: 1 kHz holds %.3f at 8 kHz", f)
	}
	if haveTTS == nil {
		speech := bytes.Trim(audio("/tts"), "\xff")
		if len(speech) < 4000 {
			t.Errorf("tts: %d bytes of audio", len(speech))
		}
	}
}

// stereoWAV writes x on both channels of a 16-bit PCM WAV file.
func stereoWAV(x []int16, rate int) []byte {
	data := make([]byte, 0, 4*len(x))
	for _, v := range x {
		data = binary.LittleEndian.AppendUint16(data, uint16(v))
		data = binary.LittleEndian.AppendUint16(data, uint16(v))
	}
	var b bytes.Buffer
	w32 := func(v uint32) { _ = binary.Write(&b, binary.LittleEndian, v) }
	w16 := func(v uint16) { _ = binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	w32(uint32(36 + len(data)))
	b.WriteString("WAVEfmt ")
	w32(16)
	w16(1)
	w16(2)
	w32(uint32(rate))
	w32(uint32(rate * 4))
	w16(4)
	w16(16)
	b.WriteString("data")
	w32(uint32(len(data)))
	b.Write(data)
	return b.Bytes()
}
