package tts

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/media"
)

// fakeSynth is a synthesizer script in a temporary folder: each run
// appends a line to runs, saves its arguments and standard input, waits
// until gate exists when gated, then writes a WAV file (a 440 Hz tone of
// 0.5 s at 22.05 kHz, like espeak-ng's rate).
type fakeSynth struct {
	dir, command string
}

func newFakeSynth(t *testing.T, gated bool, body string) *fakeSynth {
	t.Helper()
	dir := t.TempDir()
	tone := make([]int16, 11025)
	for i := range tone {
		tone[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(i)/22050))
	}
	f, err := os.Create(filepath.Join(dir, "out.wav"))
	if err != nil {
		t.Fatal(err)
	}
	if err := media.WriteWAV(f, media.EncodingPCM16, 22050, codec.SamplesToPCM16LE(nil, tone)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	script := "#!/bin/sh\ncd '" + dir + "'\necho run >> runs\necho \"$@\" > args\ncat > stdin\n"
	if gated {
		script += "while [ ! -e gate ]; do sleep 0.01; done\n"
	}
	if body == "" {
		body = "cat out.wav\n"
	}
	script += body
	cmd := filepath.Join(dir, "synth.sh")
	if err := os.WriteFile(cmd, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return &fakeSynth{dir: dir, command: cmd}
}

func (f *fakeSynth) runs(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.dir, "runs"))
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "run\n")
}

func (f *fakeSynth) read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// countingMetrics is a Metrics that counts.
type countingMetrics struct {
	mu         sync.Mutex
	runs, hits int
}

func (m *countingMetrics) TTSSynthesized() { m.mu.Lock(); m.runs++; m.mu.Unlock() }
func (m *countingMetrics) TTSCacheHit()    { m.mu.Lock(); m.hits++; m.mu.Unlock() }

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestChooseVoice checks the voice and language table.
func TestChooseVoice(t *testing.T) {
	cases := []struct {
		voice, language, want string
		warn                  bool
	}{
		{"", "", "en-us", false},
		{"man", "", "en-us", false},
		{"MAN", "en-US", "en-us", false},
		{"woman", "", "en-us+f3", false},
		{"woman", "en-GB", "en-gb+f3", false},
		{"man", "es-ES", "es", false},
		{"man", "es-MX", "es-419", false},
		{"man", "fr-FR", "fr-fr", false},
		{"man", "de-DE", "de", false},
		{"woman", "it-IT", "it+f3", false},
		{"man", "pt-BR", "pt-br", false},
		{"man", "pt_pt", "pt", false},
		{"man", "en-us", "en-us", false},
		{"man", "es-AR", "es", false}, // the primary language
		{"man", "xx-YY", "en-us", true},
		{"alice", "", "en-us+f3", true},
		{"alice", "de-DE", "de+f3", true},
		{"Polly.Joanna", "", "en-us+f3", true},
		{"Polly.Matthew-Neural", "", "en-us", true},
		{"Polly.Hans", "", "de", true},
		{"Polly.Celine", "en-GB", "en-gb+f3", true}, // language wins
		{"Google.fr-FR-Standard-A", "", "fr-fr", true},
		{"robot", "", "en-us", true},
	}
	for _, c := range cases {
		got := ChooseVoice(c.voice, c.language)
		if got.Espeak != c.want || (got.Warning != "") != c.warn {
			t.Errorf("ChooseVoice(%q, %q) = %q, warning %q; want %q, warning %v",
				c.voice, c.language, got.Espeak, got.Warning, c.want, c.warn)
		}
	}
	if w := ChooseVoice("man", "xx-YY").Warning; !strings.Contains(w, `unknown language "xx-YY"; using en-US`) {
		t.Errorf("warning %q", w)
	}
}

// TestRenderFake renders through a fake synthesizer: the text goes on
// standard input (never through a shell), the voice as -v, the output is
// resampled and encoded to each format, and a second render is a cache hit.
func TestRenderFake(t *testing.T) {
	fake := newFakeSynth(t, false, "")
	m := &countingMetrics{}
	s := New(Config{Command: fake.command, Metrics: m})
	defer s.Close()
	text := `-v x "$(rm -rf /)"; hello`
	for _, f := range []codec.Format{codec.PCMU, codec.PCMA, codec.G722, codec.L16(16000), codec.L16(8000)} {
		out, err := s.Render(ctxFor(t, 10*time.Second), "  "+text+"\n", "woman", "de-DE", f)
		if err != nil {
			t.Fatalf("%v: %v", f, err)
		}
		// 0.5 s, in whole 20 ms frames.
		frames := len(out) / f.MaxFrameBytes()
		if len(out)%f.MaxFrameBytes() != 0 || frames < 24 || frames > 26 {
			t.Errorf("%v: %d bytes, want 25 frames of %d", f, len(out), f.MaxFrameBytes())
		}
		dec, _ := codec.NewDecoder(f)
		pcm, err := dec.Decode(nil, out)
		if err != nil {
			t.Fatal(err)
		}
		var sum float64
		for _, v := range pcm[len(pcm)/4 : 3*len(pcm)/4] {
			sum += float64(v) * float64(v)
		}
		if rms := math.Sqrt(sum / float64(len(pcm)/2)); rms < 4000 || rms > 7000 {
			t.Errorf("%v: tone RMS %.0f, want about 5657", f, rms)
		}
	}
	if got := fake.read(t, "stdin"); got != text {
		t.Errorf("stdin %q, want %q", got, text)
	}
	if got := strings.TrimSpace(fake.read(t, "args")); got != "-v de+f3 --stdout" {
		t.Errorf("args %q", got)
	}
	if _, err := s.Render(ctxFor(t, 10*time.Second), text, "", "", codec.PCMU); err != nil {
		t.Fatal(err)
	}
	runs := fake.runs(t)
	// The same text and format again, voice spelled differently: cached.
	for _, v := range []string{"", "man"} {
		if _, err := s.Render(ctxFor(t, 10*time.Second), text, v, "en-US", codec.PCMU); err != nil {
			t.Fatal(err)
		}
	}
	if got := fake.runs(t); got != runs || runs != 6 {
		t.Errorf("runs %d then %d, want 6 and no more", runs, got)
	}
	st := s.Stats()
	if st.Syntheses != 6 || st.CacheHits != 2 || m.runs != 6 || m.hits != 2 || st.Cached == 0 {
		t.Errorf("stats %+v, metrics %d runs %d hits", st, m.runs, m.hits)
	}
}

// TestRenderTextBounds checks the text bound and empty text.
func TestRenderTextBounds(t *testing.T) {
	fake := newFakeSynth(t, false, "")
	s := New(Config{Command: fake.command})
	defer s.Close()
	long := strings.Repeat("é", MaxText+1)
	_, err := s.Render(ctxFor(t, 5*time.Second), long, "", "", codec.PCMU)
	if !errors.Is(err, ErrTextTooLong) || !strings.Contains(err.Error(), "4097 characters, at most 4096") {
		t.Errorf("long text: %v", err)
	}
	if _, err := s.Render(ctxFor(t, 5*time.Second), " \n\t", "", "", codec.PCMU); !errors.Is(err, ErrNoText) {
		t.Errorf("empty text: %v", err)
	}
	if fake.runs(t) != 0 {
		t.Error("the synthesizer ran for refused text")
	}
	if _, err := s.Render(ctxFor(t, 10*time.Second), strings.Repeat("é", MaxText), "", "", codec.PCMU); err != nil {
		t.Errorf("text at the bound: %v", err)
	}
}

// TestRenderSingleflight renders the same text from 20 goroutines at once:
// one run serves them all.
func TestRenderSingleflight(t *testing.T) {
	fake := newFakeSynth(t, true, "")
	s := New(Config{Command: fake.command})
	defer s.Close()
	const n = 20
	outs := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			outs[i], errs[i] = s.Render(ctxFor(t, 20*time.Second), "the same text", "man", "en-US", codec.PCMU)
		})
	}
	// Every render but the first joins the first one's run.
	waitFor(t, 10*time.Second, "19 renders to join", func() bool { return s.Stats().CacheHits == n-1 })
	if err := os.WriteFile(filepath.Join(fake.dir, "gate"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || len(outs[i]) == 0 || &outs[i][0] != &outs[0][0] {
			t.Fatalf("render %d: %d bytes, %v (not the shared audio)", i, len(outs[i]), errs[i])
		}
	}
	if got := fake.runs(t); got != 1 || s.Stats().Syntheses != 1 {
		t.Errorf("%d runs (stats %+v), want 1", got, s.Stats())
	}
}

// TestRenderWaiterLeaves: a render whose ctx ends returns at once; when
// the last waiter leaves the run is killed, and the next render starts a
// new one.
func TestRenderWaiterLeaves(t *testing.T) {
	fake := newFakeSynth(t, true, "")
	s := New(Config{Command: fake.command})
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := s.Render(ctx, "hello", "", "", codec.PCMU)
		done <- err
	}()
	waitFor(t, 10*time.Second, "the run to start", func() bool { return fake.runs(t) == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("render after cancel: %v", err)
	}
	if err := os.WriteFile(filepath.Join(fake.dir, "gate"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Render(ctxFor(t, 10*time.Second), "hello", "", "", codec.PCMU); err != nil {
		t.Fatal(err)
	}
	if got := fake.runs(t); got != 2 {
		t.Errorf("%d runs, want 2 (the abandoned one is not cached)", got)
	}
}

// TestRenderTimeoutKills: a synthesizer that runs too long is killed with
// its children, and the error says so.
func TestRenderTimeoutKills(t *testing.T) {
	fake := newFakeSynth(t, false, "sleep 60 &\necho $! > child\nwait\n")
	s := New(Config{Command: fake.command, Timeout: 300 * time.Millisecond})
	defer s.Close()
	started := time.Now()
	_, err := s.Render(ctxFor(t, 30*time.Second), "hello", "", "", codec.PCMU)
	if !errors.Is(err, ErrSynthesis) || !strings.Contains(err.Error(), "ran longer than 300ms and was killed") {
		t.Fatalf("err %v", err)
	}
	if d := time.Since(started); d > 10*time.Second {
		t.Errorf("took %s", d)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(fake.read(t, "child")))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the child to die", func() bool { return !alive(pid) })
	if s.Stats().Cached != 0 {
		t.Error("a failed run was cached")
	}
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b)[strings.LastIndexByte(string(b), ')')+1:])
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

// TestRenderBadOutput: too much output, not WAV, a failing command.
func TestRenderBadOutput(t *testing.T) {
	cases := map[string]struct{ body, want string }{
		"too much": {"head -c 100000 /dev/zero\n", "wrote more than 4096 bytes"},
		"not wav":  {"echo not audio\n", "output is not WAV audio"},
		"fails":    {"echo broken voice >&2\nexit 3\n", "exit status 3: broken voice"},
	}
	for name, c := range cases {
		fake := newFakeSynth(t, false, c.body)
		s := New(Config{Command: fake.command, MaxOutput: 4096})
		_, err := s.Render(ctxFor(t, 10*time.Second), "hello", "", "", codec.PCMU)
		if !errors.Is(err, ErrSynthesis) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
		}
		s.Close()
	}
}

// TestUnavailable: a missing command fails Available and Render with
// ErrUnavailable, and counts no synthesis.
func TestUnavailable(t *testing.T) {
	for _, cmd := range []string{filepath.Join(t.TempDir(), "no-such-tts"), "callstream-no-such-tts"} {
		s := New(Config{Command: cmd})
		if err := s.Available(); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "not found") {
			t.Errorf("%s: Available: %v", cmd, err)
		}
		_, err := s.Render(ctxFor(t, 5*time.Second), "hello", "", "", codec.PCMU)
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("%s: Render: %v", cmd, err)
		}
		if st := s.Stats(); st.Syntheses != 0 {
			t.Errorf("%s: %+v", cmd, st)
		}
		s.Close()
	}
}

// TestCacheBound: the cache keeps at most CacheBytes, dropping the least
// recently used audio.
func TestCacheBound(t *testing.T) {
	fake := newFakeSynth(t, false, "")
	// One render is 4,000 bytes of µ-law: room for two.
	s := New(Config{Command: fake.command, CacheBytes: 9000})
	defer s.Close()
	render := func(text string) {
		t.Helper()
		if _, err := s.Render(ctxFor(t, 10*time.Second), text, "", "", codec.PCMU); err != nil {
			t.Fatal(err)
		}
	}
	render("a")
	render("b")
	render("a") // hit; b is now the oldest
	render("c") // evicts b
	render("a") // hit
	if got := fake.runs(t); got != 3 {
		t.Fatalf("%d runs, want 3", got)
	}
	render("b")
	if got, st := fake.runs(t), s.Stats(); got != 4 || st.Cached > 9000 || st.CacheHits != 2 {
		t.Errorf("%d runs, stats %+v", got, st)
	}
}

// TestRenderEspeak speaks with espeak-ng itself, when installed: speech
// of a plausible length and loudness in µ-law and G.722.
func TestRenderEspeak(t *testing.T) {
	if _, err := exec.LookPath(DefaultCommand); err != nil {
		t.Skip("espeak-ng is not installed")
	}
	s := New(Config{})
	defer s.Close()
	if err := s.Available(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []codec.Format{codec.PCMU, codec.G722} {
		out, err := s.Render(ctxFor(t, 20*time.Second), "Hello, this is a test of the gateway.", "woman", "en-GB", f)
		if err != nil {
			t.Fatal(err)
		}
		dec, _ := codec.NewDecoder(f)
		pcm, _ := dec.Decode(nil, out)
		secs := float64(len(pcm)) / float64(f.Rate)
		loud := 0
		for i := 0; i+f.Rate/50 <= len(pcm); i += f.Rate / 50 {
			var sum float64
			for _, v := range pcm[i : i+f.Rate/50] {
				sum += float64(v) * float64(v)
			}
			if math.Sqrt(sum/float64(f.Rate/50)) > 500 {
				loud++
			}
		}
		if secs < 1 || secs > 5 || loud < 25 {
			t.Errorf("%v: %.2f s, %d loud frames", f, secs, loud)
		}
	}
}
