package say

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipcaller"
)

// toneSynth writes a synthesizer script that ignores its text and writes
// 0.4 s of a 1 kHz tone (8 kHz PCM WAV), and returns its path.
func toneSynth(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	tone := make([]int16, 3200)
	for i := range tone {
		tone[i] = int16(6000 * math.Sin(2*math.Pi*1000*float64(i)/8000))
	}
	f, err := os.Create(filepath.Join(dir, "tone.wav"))
	if err != nil {
		t.Fatal(err)
	}
	if err := media.WriteWAV(f, media.EncodingPCM16, 8000, codec.SamplesToPCM16LE(nil, tone)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	script := filepath.Join(dir, "synth.sh")
	body := "#!/bin/sh\ncat > /dev/null\nexec cat '" + filepath.Join(dir, "tone.wav") + "'\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script
}

// segments returns the lengths of the runs of loud frames a call heard and
// of the quiet runs between them.
func segments(t *testing.T, c *sipcaller.Call) (loud, gaps []int) {
	t.Helper()
	pcm, err := c.HeardPCM()
	if err != nil {
		t.Fatal(err)
	}
	n := c.Format().Rate / 50
	run, quiet, inLoud := 0, 0, false
	for i := 0; i+n <= len(pcm); i += n {
		var sum float64
		for _, v := range pcm[i : i+n] {
			sum += float64(v) * float64(v)
		}
		isLoud := math.Sqrt(sum/float64(n)) > speechThreshold
		switch {
		case isLoud && !inLoud:
			if len(loud) > 0 {
				gaps = append(gaps, quiet)
			}
			run, inLoud = 1, true
		case isLoud:
			run++
		case inLoud:
			loud = append(loud, run)
			quiet, inLoud = 1, false
		default:
			quiet++
		}
	}
	if inLoud {
		loud = append(loud, run)
	}
	return loud, gaps
}

// TestSayLoop: loop repeats the speech (back to back, or loopPause apart);
// loop="0" repeats it until the caller hangs up, and the call is released.
func TestSayLoop(t *testing.T) {
	env := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{Args: []string{"--tts-command", toneSynth(t)}}})
	base := env.Baseline(t)

	env.App.DocTo("/app", "loop-3", `<Response><Say loop="3">beep</Say><Pause length="0.3"/><Hangup/></Response>`)
	env.App.DocTo("/app", "loop-pause", `<Response><Say loop="2" loopPause="0.5">beep</Say><Pause length="0.3"/><Hangup/></Response>`)
	env.App.DocTo("/app", "loop-0", `<Response><Say loop="0">beep</Say><Hangup/></Response>`)

	c, err := env.Dial(t, sipcaller.Config{To: "loop-3"})
	if err != nil {
		t.Fatal(err)
	}
	waitEnded(t, c)
	// Three times 20 frames back to back: one run of 60.
	if loud, _ := segments(t, c); len(loud) != 1 || loud[0] < 58 || loud[0] > 62 {
		t.Errorf("loop=3: loud runs %v, want one of 60 frames", loud)
	}

	c, err = env.Dial(t, sipcaller.Config{To: "loop-pause"})
	if err != nil {
		t.Fatal(err)
	}
	waitEnded(t, c)
	loud, gaps := segments(t, c)
	if len(loud) != 2 || len(gaps) != 1 || loud[0] < 19 || loud[0] > 21 || loud[1] < 19 || loud[1] > 21 ||
		gaps[0] < 22 || gaps[0] > 35 {
		t.Errorf("loop=2 loopPause=0.5: loud runs %v, gaps %v; want two of 20 frames 25 apart", loud, gaps)
	}

	c, err = env.Dial(t, sipcaller.Config{To: "loop-0"})
	if err != nil {
		t.Fatal(err)
	}
	// Ten repetitions (4 s) and it is still speaking: the caller hangs up.
	if err := c.WaitPackets(servetest.Context(t, 20*time.Second), 200); err != nil {
		t.Fatal(err)
	}
	if loud, _ := segments(t, c); len(loud) != 1 || loud[0] < 180 {
		t.Errorf("loop=0: loud runs %v, want one of at least 180 frames", loud)
	}
	if err := c.Hangup(servetest.Context(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	env.Settled(t, base, 10*time.Second)
}
