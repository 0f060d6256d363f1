package scenario

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/pacetest"
	"github.com/callstream/callstream/internal/scenario/voxtest"
	"github.com/callstream/callstream/internal/wsapp"
)

// mediaScript binds the remote's stream to a recorder, reports MEDIA
// events and stops the recorder when the stream ends.
const mediaScript = `
VoxEngine.addEventListener(AppEvents.Started, function () {
  var cfg = JSON.parse(VoxEngine.customData());
  var ws = VoxEngine.createWebSocket(cfg.url);
  var rec = VoxEngine.createRecorder();
  var opts = {tag: cfg.tag};
  if (cfg.encoding) opts.encoding = cfg.encoding;
  ws.sendMediaTo(rec, opts);
  ws.onmediastarted = function (e) {
    Logger.write('started ' + e.tag + ' ' + e.encoding + ' ' + JSON.stringify(e.customParameters) + ' ' + (e.websocket === ws));
  };
  ws.addEventListener(WebSocketEvents.MEDIA_ENDED, function (e) {
    Logger.write('ended ' + e.tag + ' ' + e.mediaInfo.duration);
    rec.stop();
  });
  ws.onerror = function () { Logger.write('error'); };
  ws.onopen = function () { ws.send('go'); };
  rec.addEventListener(RecorderEvents.Stopped, function (e) { Logger.write('recorded ' + e.url); });
});`

// record fetches a recording and returns its µ-law audio.
func fetchRecording(t testing.TB, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a, err := media.ReadWAV(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if a.Encoding != media.EncodingULaw || a.SampleRate != 8000 {
		t.Fatalf("recording %v %d Hz", a.Encoding, a.SampleRate)
	}
	return a.Data
}

// trimSilence drops leading and trailing µ-law silence.
func trimSilence(b []byte) []byte {
	return bytes.TrimRight(bytes.TrimLeft(b, "\xff"), "\xff")
}

// TestRemoteMediaEncodings sends the remote's audio in every encoding
// (chunks of odd sizes, faster than real time) into a recorder and checks
// MEDIA_STARTED, MEDIA_ENDED and the exact audio recorded.
func TestRemoteMediaEncodings(t *testing.T) {
	t.Parallel()
	ulaw := voxtest.Clip(4000) // 0.5 s
	alaw := make([]byte, len(ulaw))
	codec.TranscodeULawToALaw(alaw, ulaw)
	viaALaw := make([]byte, len(alaw))
	codec.TranscodeALawToULaw(viaALaw, alaw)
	pcm8 := codec.SamplesToPCM16LE(nil, codec.DecodeULaw(nil, ulaw))
	tests := []struct {
		enc   string
		rate  int
		data  []byte
		chunk int
		want  []byte
	}{
		{"ULAW", 8000, ulaw, 333, ulaw},
		{"ALAW", 8000, alaw, 160, viaALaw},
		{"PCM8", 8000, pcm8, 777, ulaw}, // odd chunks split samples
		{"PCM16_8KHZ", 8000, pcm8, 320, ulaw},
		{"audio/x-mulaw", 8000, ulaw, 1000, ulaw},
	}
	for _, tc := range tests {
		t.Run(tc.enc, func(t *testing.T) {
			t.Parallel()
			ws := newWSApp(t, func(c *wsapp.Conn) {
				r := remote{c}
				r.waitGo(t)
				r.start(t, "t1", tc.enc, tc.rate, map[string]string{"k": "v"})
				r.sendChunks(t, "t1", tc.data, tc.chunk)
				r.stop(t, "t1")
			})
			e := newEnv(t, mediaScript, nil)
			cfg, _ := json.Marshal(map[string]string{"url": ws.URL("/m"), "tag": "t1"})
			info := e.start(t, string(cfg))
			url := strings.TrimPrefix(e.logs.waitText(t, 5*time.Second, "recorded *"), "recorded ")
			got := e.logs.texts(info.ID)
			canon := map[string]string{"PCM16_8KHZ": "PCM8", "audio/x-mulaw": "ULAW"}[tc.enc]
			if canon == "" {
				canon = tc.enc
			}
			if want := fmt.Sprintf(`started t1 %s {"k":"v"} true`, canon); got[0] != want {
				t.Errorf("got %q, want %q", got[0], want)
			}
			if want := "ended t1 500"; got[1] != want {
				t.Errorf("got %q, want %q", got[1], want)
			}
			rec := trimSilence(fetchRecording(t, url))
			if !bytes.Equal(rec, trimSilence(tc.want)) {
				t.Errorf("recorded %d bytes, want %d; equal prefix %d", len(rec), len(tc.want), commonPrefix(rec, tc.want))
			}
		})
	}
}

func commonPrefix(a, b []byte) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// TestRemoteMediaPCM16 sends a 1 kHz tone as PCM16 at 16 kHz: what is
// recorded at 8 kHz is the tone, with nothing left of the images a plain
// decimation would fold back.
func TestRemoteMediaPCM16(t *testing.T) {
	t.Parallel()
	// 1 kHz plus 5.3 kHz: the 5.3 kHz part must be filtered out (it would
	// alias to 2.7 kHz without a low-pass).
	x := voxtest.Tone(8000, 16000, 1000, 6000)
	y := voxtest.Tone(8000, 16000, 5300, 6000)
	for i := range x {
		x[i] += y[i]
	}
	data := codec.SamplesToPCM16LE(nil, x)
	ws := newWSApp(t, func(c *wsapp.Conn) {
		r := remote{c}
		r.waitGo(t)
		r.start(t, "", "PCM16", 16000, nil)
		r.sendChunks(t, "", data, 640)
		r.stop(t, "")
	})
	e := newEnv(t, mediaScript, nil)
	cfg, _ := json.Marshal(map[string]string{"url": ws.URL("/m"), "encoding": "PCM16_16KHZ"})
	e.start(t, string(cfg))
	url := strings.TrimPrefix(e.logs.waitText(t, 5*time.Second, "recorded *"), "recorded ")
	e.logs.waitText(t, time.Second, `started  PCM16 {} true`)
	rec := codec.DecodeULaw(nil, trimSilence(fetchRecording(t, url)))
	if len(rec) < 3900 || len(rec) > 4100 {
		t.Fatalf("recorded %d samples, want about 4000", len(rec))
	}
	mid := rec[400:3600]
	p1, p3, all := voxtest.Power(mid, 8000, 1000), voxtest.Power(mid, 8000, 2700), voxtest.MeanPower(mid)
	if p1/all < 0.97 {
		t.Errorf("1 kHz holds %.3f of the power, want > 0.97", p1/all)
	}
	if db := 10 * math.Log10(p3/p1); db > -60 {
		t.Errorf("5.3 kHz aliased to 2.7 kHz at %.1f dB, want < -60 dB", db)
	}
}

// TestStartWhileBinding has the remote's start (PCM16 at 16 kHz) arrive
// after sendMediaTo has made the unit's buffer and before the buffer joins
// the stream: the buffer takes the announced format, so what is recorded
// is the remote's 1 kHz tone for its length, not its bytes read as µ-law.
// Not parallel: it sets the package's test hooks.
func TestStartWhileBinding(t *testing.T) {
	const tag = "race"
	reached, started := make(chan struct{}), make(chan struct{})
	var reachedOnce, startedOnce sync.Once
	onBind := func(tg string) {
		if tg != tag {
			return
		}
		reachedOnce.Do(func() { close(reached) })
		select {
		case <-started:
		case <-time.After(5 * time.Second):
			t.Error("the remote's start was not taken while the script was binding")
		}
	}
	onStart := func(tg string) {
		if tg == tag {
			startedOnce.Do(func() { close(started) })
		}
	}
	bindMadeHook.Store(&onBind)
	remoteStartHook.Store(&onStart)
	t.Cleanup(func() { bindMadeHook.Store(nil); remoteStartHook.Store(nil) })

	tone := codec.SamplesToPCM16LE(nil, voxtest.Tone(8000, 16000, 1000, 8000)) // 0.5 s
	ws := newWSApp(t, func(c *wsapp.Conn) {
		select {
		case <-reached:
		case <-time.After(5 * time.Second):
			t.Error("the script never bound the stream")
			return
		}
		r := remote{c}
		r.start(t, tag, "PCM16", 16000, nil)
		r.waitGo(t) // the binding is in place
		r.sendChunks(t, tag, tone, 640)
		r.stop(t, tag)
	})
	e := newEnv(t, mediaScript, nil)
	cfg, _ := json.Marshal(map[string]string{"url": ws.URL("/m"), "tag": tag})
	e.start(t, string(cfg))
	url := strings.TrimPrefix(e.logs.waitText(t, 5*time.Second, "recorded *"), "recorded ")
	rec := codec.DecodeULaw(nil, trimSilence(fetchRecording(t, url)))
	if len(rec) < 3900 || len(rec) > 4100 {
		t.Fatalf("recorded %d samples, want about 4000 (0.5 s at 8 kHz)", len(rec))
	}
	mid := rec[400:3600]
	if p := voxtest.Power(mid, 8000, 1000) / voxtest.MeanPower(mid); p < 0.97 {
		t.Errorf("1 kHz holds %.3f of the recorded power, want > 0.97", p)
	}
}

// TestRemoteMediaRefused checks that a start whose sample rate does not
// match its encoding, an unknown encoding, OPUS without the build tag and
// a start that contradicts the encoding the script asked for are refused
// with ERROR and no MEDIA_STARTED, and that a valid start then works.
func TestRemoteMediaRefused(t *testing.T) {
	t.Parallel()
	ws := newWSApp(t, func(c *wsapp.Conn) {
		r := remote{c}
		r.waitGo(t)
		r.start(t, "t1", "ULAW", 16000, nil) // a rate the encoding does not have
		r.start(t, "t1", "MP3", 8000, nil)
		r.start(t, "t1", "OPUS", 48000, nil)
		r.start(t, "t1", "ULAW", 8000, nil) // the script asked for PCM16 on t1
		r.start(t, "t2", "PCM8", 8000, nil)
		r.media(t, "t2", 1, make([]byte, 320))
		r.media(t, "t3", 1, make([]byte, 160)) // no start: dropped
		r.stop(t, "t2")
		_ = c.SendText(`{"event":"media","media":{"tag":"t2"}}`) // broken media message
	})
	e := newEnv(t, `
VoxEngine.addEventListener(AppEvents.Started, function () {
  var ws = VoxEngine.createWebSocket(VoxEngine.customData());
  var rec = VoxEngine.createRecorder();
  ws.sendMediaTo(rec, {tag: 't1', encoding: WebSocketAudioEncoding.PCM16});
  ws.onmediastarted = function (e) { Logger.write('started ' + e.tag + ' ' + e.encoding); };
  ws.onmediaended = function (e) { Logger.write('ended ' + e.tag); };
  ws.onerror = function () { Logger.write('error'); };
  ws.onmessage = function (e) { Logger.write('message ' + e.text); };
  ws.onopen = function () { ws.send('go'); };
});`, nil)
	info := e.start(t, ws.URL("/m"))
	e.logs.waitText(t, 5*time.Second, "ended t2")
	time.Sleep(100 * time.Millisecond) // watch: nothing more may be logged
	got := e.logs.texts(info.ID)
	want := []string{"error", "error", "error", "error", "started t2 PCM8", "error", "ended t2"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	msgs := []string{"ULAW is 8000 Hz, not 16000 Hz", `"MP3"`, "the script asked for PCM16"}
	if !OpusSupported {
		msgs = append(msgs, "-tags opus")
	}
	for _, msg := range msgs {
		if r := e.logs.find(func(r record) bool { return strings.Contains(r.str("err"), msg) }); r == nil {
			t.Errorf("no log naming %q", msg)
		}
	}
}

// TestMediaEndedAfterSilence checks that MEDIA_ENDED fires one second
// after the remote's audio has stopped arriving and has been played.
func TestMediaEndedAfterSilence(t *testing.T) {
	t.Parallel()
	var sentAt time.Time
	var mu sync.Mutex
	ws := newWSApp(t, func(c *wsapp.Conn) {
		r := remote{c}
		r.waitGo(t)
		r.start(t, "t", "ULAW", 8000, nil)
		r.sendChunks(t, "t", voxtest.Clip(1600), 1600) // 200 ms, then nothing
		mu.Lock()
		sentAt = time.Now()
		mu.Unlock()
	})
	e := newEnv(t, mediaScript, nil)
	cfg, _ := json.Marshal(map[string]string{"url": ws.URL("/m"), "tag": "t"})
	e.start(t, string(cfg))
	r := e.logs.wait(t, 5*time.Second, "ended", func(r record) bool { return r.str("text") == "ended t 200" })
	_ = r
	mu.Lock()
	took := time.Since(sentAt)
	mu.Unlock()
	// 200 ms of audio plays, then 1 s of silence; checks run every 100 ms.
	if took < 1000*time.Millisecond || took > 1500*time.Millisecond {
		t.Errorf("MEDIA_ENDED %s after the last media, want 1 to 1.5 s", took)
	}
}

// TestRelayEncodings sends a remote's audio to another socket in every
// encoding and checks the wire format: start with tag, mediaFormat and
// customParameters, media every 20 ms with sequenceNumber, chunk and
// timestamp counting up, payload size and bytes, and stop with mediaInfo.
func TestRelayEncodings(t *testing.T) {
	t.Parallel()
	ulaw := voxtest.Clip(1600)
	tests := []struct {
		enc       string
		wire      string
		rate      int
		frameSize int
		spf       int
		encode    func(frame []byte) []byte
	}{
		{"ULAW", "ULAW", 8000, 160, 160, func(f []byte) []byte { return f }},
		{"ALAW", "ALAW", 8000, 160, 160, func(f []byte) []byte { b := make([]byte, len(f)); codec.TranscodeULawToALaw(b, f); return b }},
		// PCM8 (PCM16_8KHZ, the default) is written PCM16 at 8000.
		{"PCM8", "PCM16", 8000, 320, 160, func(f []byte) []byte { return codec.SamplesToPCM16LE(nil, codec.DecodeULaw(nil, f)) }},
		{"", "PCM16", 8000, 320, 160, func(f []byte) []byte { return codec.SamplesToPCM16LE(nil, codec.DecodeULaw(nil, f)) }},
		{"PCM16", "PCM16", 16000, 640, 320, nil},
	}
	for _, tc := range tests {
		t.Run("enc="+tc.wire+fmt.Sprint(tc.rate)+"/"+tc.enc, func(t *testing.T) {
			t.Parallel()
			ws := newWSApp(t, func(c *wsapp.Conn) {
				if c.Path != "/src" {
					return
				}
				r := remote{c}
				r.waitGo(t)
				r.start(t, "relay", "ULAW", 8000, nil)
				time.Sleep(100 * time.Millisecond)
				r.sendChunks(t, "relay", ulaw, 800)
			})
			e := newEnv(t, `
VoxEngine.addEventListener(AppEvents.Started, function () {
  var cfg = JSON.parse(VoxEngine.customData());
  var src = new WebSocket(cfg.base + '/src');
  var dst = new WebSocket(cfg.base + '/dst');
  var opts = {tag: 'relay', customParameters: {a: '1', b: 'two'}};
  if (cfg.enc) opts.encoding = cfg.enc;
  src.sendMediaTo(dst, opts);
  src.onopen = function () { src.send('go'); };
  src.onmediaended = function () { setTimeout(function () { src.stopMediaTo(dst); Logger.write('stopped'); }, 100); };
});`, nil)
			cfg, _ := json.Marshal(map[string]string{"base": ws.URL(""), "enc": tc.enc})
			e.start(t, string(cfg))
			e.logs.waitText(t, 5*time.Second, "stopped")
			dst := ws.conn(t, "/dst")
			msgs := waitEvent(t, dst, "stop", 5*time.Second)
			st := msgs[0].Start
			if msgs[0].Event != "start" || string(msgs[0].SequenceNumber) != "0" || st.Tag != "relay" ||
				st.MediaFormat.Encoding != tc.wire || st.MediaFormat.SampleRate != tc.rate ||
				!reflect.DeepEqual(st.CustomParameters, map[string]string{"a": "1", "b": "two"}) {
				t.Fatalf("start %+v", msgs[0])
			}
			var audio []byte
			var arrivals []time.Time
			var payloadBytes int
			frames := 0
			for i, m := range msgs[1:] {
				if string(m.SequenceNumber) != fmt.Sprint(i+1) {
					t.Fatalf("message %d sequenceNumber %s", i+1, m.SequenceNumber)
				}
				if m.Event == "stop" {
					if i != len(msgs)-2 || m.Stop.Tag != "relay" || string(m.Stop.MediaInfo.BytesSent) != fmt.Sprint(payloadBytes) ||
						string(m.Stop.MediaInfo.Duration) != fmt.Sprint(frames*20) {
						t.Fatalf("stop %+v after %d frames, %d bytes", m.Stop, frames, payloadBytes)
					}
					break
				}
				if m.Event != "media" || m.Media.Tag != "relay" {
					t.Fatalf("message %d: %+v", i+1, m)
				}
				frames++
				if string(m.Media.Chunk) != fmt.Sprint(frames) || string(m.Media.Timestamp) != fmt.Sprint((frames-1)*tc.spf) {
					t.Fatalf("media %d chunk %s timestamp %s", frames, m.Media.Chunk, m.Media.Timestamp)
				}
				p, _ := base64.StdEncoding.DecodeString(m.Media.Payload)
				if len(p) != tc.frameSize {
					t.Fatalf("payload of %d bytes, want %d", len(p), tc.frameSize)
				}
				payloadBytes += len(p)
				audio = append(audio, p...)
				arrivals = append(arrivals, m.At)
			}
			if err := pacetest.Check(arrivals, 20*time.Millisecond); err != nil {
				t.Error(err)
			}
			if tc.encode != nil {
				want := tc.encode(ulaw)
				if !bytes.Contains(audio, want) {
					t.Errorf("the clip is not in the %s stream", tc.wire)
				}
				return
			}
			// PCM16: 16 kHz of the upsampled clip: the clip's 440 Hz.
			pcm := codec.PCM16LEToSamples(nil, audio)
			nz := 0
			for nz < len(pcm) && pcm[nz] == 0 {
				nz++
			}
			mid := pcm[nz+400 : nz+2800]
			if f := voxtest.Power(mid, 16000, 440) / voxtest.MeanPower(mid); f < 0.9 {
				t.Errorf("440 Hz holds %.3f of the 16 kHz stream", f)
			}
			if img := 10 * math.Log10(voxtest.Power(mid, 16000, 7560)/voxtest.Power(mid, 16000, 440)); img > -40 {
				t.Errorf("image at 7560 Hz %.1f dB: not a proper low-pass", img)
			}
		})
	}
}

// TestClearMediaBuffer checks barge-in: after clearMediaBuffer({tag}) the
// unit fed by that tag hears silence from the next frame, though seconds
// were buffered, while another tag plays on.
func TestClearMediaBuffer(t *testing.T) {
	t.Parallel()
	bargeAt := make(chan time.Time, 1)
	ws := newWSApp(t, func(c *wsapp.Conn) {
		if c.Path != "/src" {
			return
		}
		r := remote{c}
		r.waitGo(t)
		r.start(t, "a", "ULAW", 8000, nil)
		r.start(t, "b", "ULAW", 8000, nil)
		r.sendChunks(t, "a", voxtest.Clip(40000), 1600) // 5 s at once
		r.sendChunks(t, "b", voxtest.Clip(40000), 1600)
		time.Sleep(500 * time.Millisecond)
		bargeAt <- time.Now()
		_ = c.SendText(`{"type":"barge_in"}`)
	})
	e := newEnv(t, `
VoxEngine.addEventListener(AppEvents.Started, function () {
  var base = VoxEngine.customData();
  var src = new WebSocket(base + '/src');
  src.sendMediaTo(new WebSocket(base + '/a'), {tag: 'a', encoding: 'ULAW'});
  src.sendMediaTo(new WebSocket(base + '/b'), {tag: 'b', encoding: 'ULAW'});
  src.onopen = function () { src.send('go'); };
  src.onmessage = function (e) {
    if (JSON.parse(e.text).type === 'barge_in') { src.clearMediaBuffer({tag: 'a'}); Logger.write('cleared'); }
  };
});`, nil)
	e.start(t, ws.URL(""))
	e.logs.waitText(t, 5*time.Second, "cleared")
	at := <-bargeAt
	count := func(msgs []voxtest.Message) (audible, after int) {
		for _, m := range msgs {
			if m.Event != "media" {
				continue
			}
			p, _ := base64.StdEncoding.DecodeString(m.Media.Payload)
			if bytes.Count(p, []byte{0xFF}) == len(p) {
				continue
			}
			audible++
			if m.At.After(at.Add(60 * time.Millisecond)) {
				after++
			}
		}
		return audible, after
	}
	// Tag b goes on for 10 frames past the barge-in: time enough for a
	// frame of tag a, had it not been cleared, to come.
	waitGW(t, ws.conn(t, "/b"), 5*time.Second, "10 audible frames of tag b after the barge-in", func(msgs []voxtest.Message) bool {
		_, after := count(msgs)
		return after >= 10
	})
	if audible, after := count(gwMessages(t, ws.conn(t, "/a"))); audible < 20 || after > 0 {
		t.Errorf("tag a: %d audible frames, %d of them more than 60 ms after the barge-in", audible, after)
	}
}

// TestMediaBufferBound sends 12 s of audio at once: 10 s are buffered and
// the excess is dropped with a warning.
func TestMediaBufferBound(t *testing.T) {
	t.Parallel()
	ws := newWSApp(t, func(c *wsapp.Conn) {
		r := remote{c}
		r.waitGo(t)
		r.start(t, "t", "ULAW", 8000, nil)
		r.sendChunks(t, "t", voxtest.Clip(12*8000), 8000)
		r.stop(t, "t")
	})
	e := newEnv(t, mediaScript, nil)
	cfg, _ := json.Marshal(map[string]string{"url": ws.URL("/m"), "tag": "t"})
	e.start(t, string(cfg))
	w := e.logs.wait(t, 5*time.Second, "overflow warning", func(r record) bool {
		return r["level"] == "WARN" && strings.Contains(r.str("msg"), "remote audio dropped")
	})
	if w.str("limit") != "10s" {
		t.Errorf("warning %v", w)
	}
	stop := e.logs.wait(t, 5*time.Second, "stop", func(r record) bool { return r["msg"] == "remote media stopped" })
	dropped, _ := stop["dropped"].(uint64)
	// 2 s over the bound, less what played while the 12 s arrived.
	if dropped > 16000 || dropped < 15000 {
		t.Errorf("dropped %v bytes, want about 16000 (2 s)", stop["dropped"])
	}
}
