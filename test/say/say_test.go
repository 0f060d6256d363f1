package say

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/gatewaytest"
	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipcaller"
)

const sayDoc = `<Response><Pause length="0.5"/><Say>Hello, this is a test of the gateway.</Say><Pause length="0.5"/><Hangup/></Response>`

// speechThreshold is the RMS above which a frame holds speech; silence
// decodes to 0.
const speechThreshold = 300

// measure counts the 20 ms frames in which the caller heard speech.
func measure(t *testing.T, c *sipcaller.Call) servetest.Loudness {
	t.Helper()
	pcm, err := c.HeardPCM()
	if err != nil {
		t.Fatalf("decoding what the caller heard: %v", err)
	}
	return servetest.Measure(pcm, c.Format().Rate, speechThreshold)
}

// checkSpeech checks a call that heard sayDoc: silence, about two seconds
// of speech, silence.
func checkSpeech(t *testing.T, name string, l servetest.Loudness) {
	t.Helper()
	t.Logf("%s: %d frames heard, %d loud, speech from frame %d to %d", name, l.Frames, l.Loud, l.First, l.Last)
	switch {
	case l.Loud < 40:
		t.Errorf("%s: %d loud frames, want at least 40 (0.8 s of speech)", name, l.Loud)
	case l.Last-l.First > 250:
		t.Errorf("%s: speech spans %d frames, want at most 5 s", name, l.Last-l.First)
	case l.First < 12:
		t.Errorf("%s: speech from frame %d, want the half second of silence before it", name, l.First)
	case l.Frames-1-l.Last < 12:
		t.Errorf("%s: speech until frame %d of %d, want the half second of silence after it", name, l.Last, l.Frames)
	}
}

// waitEnded waits for the gateway to hang the call up.
func waitEnded(t *testing.T, c *sipcaller.Call) {
	t.Helper()
	select {
	case <-c.Ended():
	case <-time.After(20 * time.Second):
		t.Fatal("the gateway did not hang up after the document")
	}
}

// TestSaySpeaksAndCaches: a call hears the text spoken between two
// silences; a second call with the same text hears the same bytes from
// the cache (one synthesis, one hit); a G.722 call gets its own wideband
// rendering. Everything is released afterwards.
func TestSaySpeaksAndCaches(t *testing.T) {
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		t.Skip("espeak-ng is not installed")
	}
	env := servetest.StartEnv(t, servetest.EnvOptions{})
	base := env.Baseline(t)
	env.App.Doc("/app", sayDoc)

	metrics := func() (syntheses, hits float64) {
		m := env.Metrics(t)
		return m.Get("callstream_tts_syntheses_total"), m.Get("callstream_tts_cache_hits_total")
	}
	if s, h := metrics(); s != 0 || h != 0 {
		t.Fatalf("before any call: %v syntheses, %v hits", s, h)
	}

	first, err := env.Dial(t, sipcaller.Config{To: "say-1"})
	if err != nil {
		t.Fatal(err)
	}
	waitEnded(t, first)
	l1 := measure(t, first)
	checkSpeech(t, "first call", l1)
	if s, h := metrics(); s != 1 || h != 0 {
		t.Errorf("after the first call: %v syntheses, %v hits; want 1 and 0", s, h)
	}

	second, err := env.Dial(t, sipcaller.Config{To: "say-2"})
	if err != nil {
		t.Fatal(err)
	}
	waitEnded(t, second)
	checkSpeech(t, "second call", measure(t, second))
	if s, h := metrics(); s != 1 || h != 1 {
		t.Errorf("after the second call: %v syntheses, %v hits; want 1 and 1", s, h)
	}
	// The same rendering, byte for byte: a second of speech from the
	// first call's first loud frame.
	if l1.First >= 0 {
		speech := first.Heard()[l1.First*160:]
		speech = speech[:min(len(speech), 50*160)]
		if !bytes.Contains(second.Heard(), speech) {
			t.Errorf("the second call did not hear the first call's speech: %s",
				servetest.Divergence(second.Heard(), speech))
		}
	}

	wide, err := env.Dial(t, sipcaller.Config{To: "say-wide", Codec: "G722", Only: true})
	if err != nil {
		t.Fatal(err)
	}
	if wide.Codec() != "G722" {
		t.Fatalf("the wideband call runs %s", wide.Codec())
	}
	waitEnded(t, wide)
	checkSpeech(t, "G.722 call", measure(t, wide))
	if s, h := metrics(); s != 2 || h != 1 {
		t.Errorf("after the G.722 call: %v syntheses, %v hits; want 2 and 1", s, h)
	}
	env.Settled(t, base, 10*time.Second)
}

// TestSayWithoutSynthesizer: a gateway whose text-to-speech program is
// missing says so once at start-up; a <Say> is skipped with a warning
// naming the call, and the next verb plays.
func TestSayWithoutSynthesizer(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-espeak")
	env := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{Args: []string{"--tts-command", missing}}})
	startup := 0
	for _, m := range env.Logs.Records("WARN", "") {
		if msg, _ := m["msg"].(string); strings.HasPrefix(msg, "Say is skipped: ") &&
			strings.Contains(msg, "install the espeak-ng package") {
			startup++
		}
	}
	if startup != 1 {
		t.Errorf("%d start-up warnings about the missing program, want 1", startup)
	}

	env.App.Set("/prompt.wav", gatewaytest.Response{Raw: assets.PromptWAV()})
	env.App.Doc("/app", `<Response><Say>Hello there</Say><Play>{{.App}}/prompt.wav</Play><Hangup/></Response>`)
	c, err := env.Dial(t, sipcaller.Config{To: "say-missing"})
	if err != nil {
		t.Fatal(err)
	}
	sid := env.CallSid(t, "say-missing")
	env.WaitLog(t, "WARN", "<Say> skipped", map[string]string{"call_sid": sid})
	prompt, err := media.ReadWAV(bytes.NewReader(assets.PromptWAV()))
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Trim(prompt.Data, "\xff")
	waitEnded(t, c)
	if !bytes.Contains(c.Heard(), want) {
		t.Errorf("the Play after the skipped Say was not heard: %s", servetest.Divergence(c.Heard(), want))
	}
	if m := env.Metrics(t); m.Get("callstream_tts_syntheses_total") != 0 {
		t.Errorf("%v syntheses with no program", m.Get("callstream_tts_syntheses_total"))
	}
}
