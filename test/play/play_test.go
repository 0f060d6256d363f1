package play

import (
	"bytes"
	"encoding/binary"
	"math"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/gatewaytest"
	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipcaller"
)

// The MP3 fixture of package media: about 1.3 s of speech at 22.05 kHz.
const mp3Fixture = "../../internal/media/testdata/speech_22k.mp3"

// cacheable lets the gateway keep a file for a minute.
var cacheable = http.Header{"Cache-Control": {"max-age=60"}}

func readMP3(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(mp3Fixture)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// expectedULaw is the fixture as the gateway must play it to a PCMU
// caller: decoded, resampled once and encoded once, without the silence
// at its ends (a call hears it between other silence).
func expectedULaw(t *testing.T, mp3 []byte) []byte {
	t.Helper()
	a, err := media.Decode(mp3, 0)
	if err != nil {
		t.Fatal(err)
	}
	u, err := a.ForCall(codec.PCMU)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Trim(u, "\xff\x7f")
}

// waitEnded waits for the gateway to hang the call up.
func waitEnded(t *testing.T, c *sipcaller.Call) {
	t.Helper()
	select {
	case <-c.Ended():
	case <-time.After(30 * time.Second):
		t.Fatal("the gateway did not hang up after the document")
	}
}

func heardLoudness(t *testing.T, c *sipcaller.Call) servetest.Loudness {
	t.Helper()
	pcm, err := c.HeardPCM()
	if err != nil {
		t.Fatalf("decoding what the caller heard: %v", err)
	}
	return servetest.Measure(pcm, c.Format().Rate, 300)
}

// TestPlayMP3CachedPerFormat: an MP3 served as audio/wav (the bytes say
// what it is) reaches a PCMU caller byte for byte as decoded here, between
// the document's silences; a second call plays it from the cache (one
// request for the file); a 44.1 kHz stereo WAV reaches a G.722 caller as
// a one-second 1 kHz tone at its level. Everything is released afterwards.
func TestPlayMP3CachedPerFormat(t *testing.T) {
	env := servetest.StartEnv(t, servetest.EnvOptions{})
	base := env.Baseline(t)
	mp3 := readMP3(t)
	want := expectedULaw(t, mp3)
	env.App.Set("/speech.mp3", gatewaytest.Response{Raw: mp3, Header: cacheable})
	env.App.DocTo("/app", "mp3-1", `<Response><Pause length="0.5"/><Play>{{.App}}/speech.mp3</Play><Pause length="0.5"/><Hangup/></Response>`)
	env.App.DocTo("/app", "mp3-2", `<Response><Pause length="0.5"/><Play>{{.App}}/speech.mp3</Play><Pause length="0.5"/><Hangup/></Response>`)

	for _, to := range []string{"mp3-1", "mp3-2"} {
		c, err := env.Dial(t, sipcaller.Config{To: to})
		if err != nil {
			t.Fatal(err)
		}
		waitEnded(t, c)
		if !bytes.Contains(c.Heard(), want) {
			t.Fatalf("%s: the decoded MP3 was not heard whole: %s", to, servetest.Divergence(c.Heard(), want))
		}
		l := heardLoudness(t, c)
		wantLoud := servetest.Measure(codec.DecodeULaw(nil, want), 8000, 300).Loud
		t.Logf("%s: %d frames heard, %d loud (the file: %d), from frame %d to %d", to, l.Frames, l.Loud, wantLoud, l.First, l.Last)
		if l.Loud < wantLoud-2 || l.Loud > wantLoud+2 || l.First < 20 || l.Frames-1-l.Last < 20 {
			t.Errorf("%s: %d loud frames from %d to %d of %d; want %d between half-second silences",
				to, l.Loud, l.First, l.Last, l.Frames, wantLoud)
		}
	}
	fetches := 0
	for _, r := range env.App.Requests() {
		if r.Path == "/speech.mp3" {
			fetches++
		}
	}
	if fetches != 1 {
		t.Errorf("the MP3 was requested %d times for two PCMU calls, want once", fetches)
	}

	// 44.1 kHz stereo 16-bit: a 1 kHz tone at -12 dBFS in both channels.
	const amp = 8192
	env.App.Set("/tone44k.wav", gatewaytest.Response{Raw: stereoTone(44100, amp, 1), Header: cacheable})
	env.App.DocTo("/app", "wide", `<Response><Pause length="0.5"/><Play>{{.App}}/tone44k.wav</Play><Pause length="0.5"/><Hangup/></Response>`)
	wide, err := env.Dial(t, sipcaller.Config{To: "wide", Codec: "G722", Only: true})
	if err != nil {
		t.Fatal(err)
	}
	if wide.Codec() != "G722" {
		t.Fatalf("the wideband call runs %s", wide.Codec())
	}
	waitEnded(t, wide)
	l := heardLoudness(t, wide)
	db := 20 * math.Log10(l.LoudRMS/(amp/math.Sqrt2))
	t.Logf("G.722: %d frames heard, %d loud at %+.2f dB", l.Frames, l.Loud, db)
	if l.Loud < 48 || l.Loud > 52 {
		t.Errorf("G.722 call: %d loud frames, want 50 (one second)", l.Loud)
	}
	if math.Abs(db) > 1 {
		t.Errorf("G.722 call: the tone at %+.2f dB from the file's level, want within 1 dB", db)
	}
	env.Settled(t, base, 10*time.Second)
}

// stereoTone returns seconds of a 1 kHz sine of amplitude amp in both
// channels of a 16-bit WAV file at rate.
func stereoTone(rate int, amp, seconds float64) []byte {
	n := int(float64(rate) * seconds)
	data := make([]byte, 0, 4*n)
	for i := range n {
		v := uint16(int16(amp * math.Sin(2*math.Pi*1000*float64(i)/float64(rate))))
		data = binary.LittleEndian.AppendUint16(binary.LittleEndian.AppendUint16(data, v), v)
	}
	hdr := []byte("RIFF")
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(36+len(data)))
	hdr = append(hdr, "WAVEfmt "...)
	hdr = binary.LittleEndian.AppendUint32(hdr, 16)
	hdr = binary.LittleEndian.AppendUint16(hdr, 1) // PCM
	hdr = binary.LittleEndian.AppendUint16(hdr, 2)
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(rate))
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(rate*4))
	hdr = binary.LittleEndian.AppendUint16(hdr, 4)
	hdr = binary.LittleEndian.AppendUint16(hdr, 16)
	hdr = append(hdr, "data"...)
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(len(data)))
	return append(hdr, data...)
}

// TestPlayOfAFileThatIsNotAudio: a Play whose URL answers with an HTML
// page fails with an error naming the URL without its query, and the
// document goes on: the next Play, looped twice, is heard twice.
func TestPlayOfAFileThatIsNotAudio(t *testing.T) {
	env := servetest.StartEnv(t, servetest.EnvOptions{})
	mp3 := readMP3(t)
	want := expectedULaw(t, mp3)
	env.App.Set("/page", gatewaytest.Response{Body: "<html><body>Sign in</body></html>", ContentType: "audio/mpeg"})
	env.App.Set("/speech.mp3", gatewaytest.Response{Raw: mp3, ContentType: "audio/mpeg"})
	env.App.DocTo("/app", "not-audio",
		`<Response><Play>{{.App}}/page?token=QSECRET</Play><Play loop="2">{{.App}}/speech.mp3</Play><Hangup/></Response>`)
	c, err := env.Dial(t, sipcaller.Config{To: "not-audio"})
	if err != nil {
		t.Fatal(err)
	}
	sid := env.CallSid(t, "not-audio")
	line := env.WaitLog(t, "ERROR", "play failed", map[string]string{"call_sid": sid})
	if u, _ := line["url"].(string); u != env.App.URL("/page") {
		t.Errorf("the failed Play is logged with url %q, want %q", u, env.App.URL("/page"))
	}
	if e, _ := line["err"].(string); !strings.Contains(e, "not WAV or MP3 audio: the file is an HTML or XML document") {
		t.Errorf("the failed Play is logged with err %q, want it to say the file is HTML, not WAV or MP3", e)
	}
	waitEnded(t, c)
	if n := bytes.Count(c.Heard(), want); n != 2 {
		t.Errorf("the looped MP3 was heard %d times whole, want 2", n)
	}
	if strings.Contains(env.Logs.String(), "QSECRET") {
		t.Error("a log line holds the Play URL's query")
	}
}
