// Package tts turns text into speech for calls: espeak-ng run as a
// subprocess, its WAV output resampled once to the rate asked and encoded
// in the format asked, the result kept in a byte-bounded cache shared by
// every call. FlexML's <Say> and the scenario runtime's say and
// createTTSPlayer both use it.
package tts

import (
	"bytes"
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/media"
)

// Defaults and bounds of a Synth.
const (
	// MaxText is the longest text Render speaks, in characters.
	MaxText = 4096
	// DefaultCommand is the synthesizer run when Config.Command is empty.
	DefaultCommand = "espeak-ng"
	// DefaultCacheBytes bounds the rendered audio kept for reuse.
	DefaultCacheBytes = 32 << 20
	// DefaultTimeout bounds one run of the synthesizer.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxOutput bounds the WAV bytes read from one run: about six
	// minutes of espeak-ng's 22.05 kHz 16-bit speech, more than MaxText
	// characters take.
	DefaultMaxOutput = 16 << 20
	// maxStderr bounds what is kept of the synthesizer's error output.
	maxStderr = 512
	// maxWarned bounds the voice warnings remembered as given once.
	maxWarned = 256
)

// Errors of Render; each is wrapped with the details.
var (
	// ErrUnavailable: the synthesizer command cannot be run (not
	// installed, not on PATH, not executable).
	ErrUnavailable = errors.New("tts: synthesizer not available")
	// ErrTextTooLong: the text has more than MaxText characters.
	ErrTextTooLong = errors.New("tts: text too long")
	// ErrNoText: the text is empty or only white space.
	ErrNoText = errors.New("tts: no text")
	// ErrSynthesis: the synthesizer failed, timed out, wrote too much or
	// wrote something that is not WAV audio.
	ErrSynthesis = errors.New("tts: synthesis failed")
)

// Metrics counts the work of a Synth; the gateway's Prometheus metrics
// implement it. Implementations must not block.
type Metrics interface {
	// TTSSynthesized counts one run of the synthesizer.
	TTSSynthesized()
	// TTSCacheHit counts one Render served without running it: from the
	// cache, or by joining a run already under way for the same audio.
	TTSCacheHit()
}

// Config configures a Synth; every zero field means its default.
type Config struct {
	// Command is the synthesizer, run as Command -v VOICE --stdout with the
	// text on its standard input; it must write a WAV file (mono, 16-bit
	// PCM, µ-law or A-law, any rate) to its standard output. Default
	// "espeak-ng", looked up on PATH.
	Command string
	// MaxConcurrent bounds the synthesizer runs at once (default: the
	// number of CPUs); more wait their turn, as long as their ctx allows.
	MaxConcurrent int
	// CacheBytes bounds the rendered audio kept for reuse (default 32 MiB;
	// negative: none kept).
	CacheBytes int64
	// Timeout bounds one run's wall time (default 10 s); the process is
	// killed when it passes.
	Timeout time.Duration
	// MaxOutput bounds the bytes read from one run (default 16 MiB).
	MaxOutput int64
	// Logger gets the one-time voice warnings and failed runs.
	Logger *slog.Logger
	// Metrics, when set, counts runs and cache hits.
	Metrics Metrics
}

// Stats are a Synth's counters.
type Stats struct {
	Syntheses uint64 // synthesizer runs started
	CacheHits uint64 // renders served without a run of their own
	Cached    int64  // bytes of audio in the cache
}

// Synth renders speech. One Synth serves every call; it is safe for
// concurrent use. Close stops runs in progress.
type Synth struct {
	cfg   Config
	log   *slog.Logger
	slots chan struct{} // one token per run at once

	ctx    context.Context // ends runs at Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // runs in progress

	syntheses, hits atomic.Uint64

	mu      sync.Mutex
	entries map[key]*list.Element // of *entry
	lru     list.List             // front: most recently used
	bytes   int64
	flights map[key]*flight
	warned  map[string]bool
}

// key identifies rendered audio: the text, the espeak-ng voice it was
// spoken with and the format it was encoded in.
type key struct {
	text, voice string
	format      codec.Format
}

type entry struct {
	k    key
	data []byte
}

// flight is one synthesizer run that every Render of the same key waits for.
type flight struct {
	done    chan struct{}
	data    []byte
	err     error
	waiters int
	cancel  context.CancelFunc
}

// New returns a Synth with cfg's defaults filled in. It does not check the
// command: see Available.
func New(cfg Config) *Synth {
	if cfg.Command == "" {
		cfg.Command = DefaultCommand
	}
	if cfg.MaxConcurrent <= 0 {
		cfg.MaxConcurrent = runtime.NumCPU()
	}
	if cfg.CacheBytes == 0 {
		cfg.CacheBytes = DefaultCacheBytes
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MaxOutput <= 0 {
		cfg.MaxOutput = DefaultMaxOutput
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Synth{
		cfg:     cfg,
		log:     cfg.Logger,
		slots:   make(chan struct{}, cfg.MaxConcurrent),
		ctx:     ctx,
		cancel:  cancel,
		entries: make(map[key]*list.Element),
		flights: make(map[key]*flight),
		warned:  make(map[string]bool),
	}
}

// Command returns the synthesizer command as configured.
func (s *Synth) Command() string { return s.cfg.Command }

// Available returns nil when the synthesizer command can be run, else an
// error wrapping ErrUnavailable that says how to fix it.
func (s *Synth) Available() error {
	if _, err := exec.LookPath(s.cfg.Command); err != nil {
		return fmt.Errorf("%w: %s not found (install the espeak-ng package or give --tts-command): %w",
			ErrUnavailable, s.cfg.Command, err)
	}
	return nil
}

// Stats returns the counters.
func (s *Synth) Stats() Stats {
	s.mu.Lock()
	cached := s.bytes
	s.mu.Unlock()
	return Stats{Syntheses: s.syntheses.Load(), CacheHits: s.hits.Load(), Cached: cached}
}

// Close kills the runs in progress and waits for them to end. Renders
// after Close fail.
func (s *Synth) Close() {
	s.cancel()
	s.wg.Wait()
}

// Render returns text spoken by voice in language (see ChooseVoice) as
// audio in format f (PCMU, PCMA, G722 or L16 at any rate): whole 20 ms
// frames, ready for a player of that format. The slice is shared with
// other callers and the cache: do not modify it. Renders of the same text,
// voice and format share one synthesizer run and then the cache. The text
// is trimmed; it must hold 1 to MaxText characters.
func (s *Synth) Render(ctx context.Context, text, voice, language string, f codec.Format) ([]byte, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, ErrNoText
	}
	if n := utf8.RuneCountInString(text); n > MaxText {
		return nil, fmt.Errorf("%w: %d characters, at most %d", ErrTextTooLong, n, MaxText)
	}
	if !utf8.ValidString(text) {
		text = strings.ToValidUTF8(text, "\uFFFD")
	}
	if f.Name == codec.NameOpus || f.MaxFrameBytes() == 0 {
		return nil, fmt.Errorf("%w: cannot render speech as %v", ErrSynthesis, f)
	}
	if err := s.ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: closed", ErrUnavailable)
	}
	choice := ChooseVoice(voice, language)
	if choice.Warning != "" {
		s.warnOnce(choice.Warning)
	}
	k := key{text: text, voice: choice.Espeak, format: f}

	s.mu.Lock()
	if el, ok := s.entries[k]; ok {
		s.lru.MoveToFront(el)
		data := el.Value.(*entry).data
		s.mu.Unlock()
		s.hit()
		return data, nil
	}
	fl, joined := s.flights[k]
	if !joined {
		runCtx, cancel := context.WithCancel(s.ctx)
		fl = &flight{done: make(chan struct{}), cancel: cancel}
		s.flights[k] = fl
		s.wg.Add(1)
		go s.run(runCtx, k, fl)
	}
	fl.waiters++
	s.mu.Unlock()
	if joined {
		s.hit()
	}
	select {
	case <-fl.done:
		return fl.data, fl.err
	case <-ctx.Done():
		s.mu.Lock()
		fl.waiters--
		if fl.waiters == 0 {
			// Nobody wants this audio any more: stop making it, and let
			// the next Render start afresh.
			fl.cancel()
			if s.flights[k] == fl {
				delete(s.flights, k)
			}
		}
		s.mu.Unlock()
		return nil, ctx.Err()
	}
}

func (s *Synth) hit() {
	s.hits.Add(1)
	if m := s.cfg.Metrics; m != nil {
		m.TTSCacheHit()
	}
}

// warnOnce logs a voice warning the first time it is seen.
func (s *Synth) warnOnce(msg string) {
	s.mu.Lock()
	seen := s.warned[msg]
	if !seen && len(s.warned) < maxWarned {
		s.warned[msg] = true
	}
	s.mu.Unlock()
	if !seen {
		s.log.Warn("text to speech: "+msg, "command", s.cfg.Command)
	}
}

// run makes the audio of one flight, stores it and wakes its waiters.
func (s *Synth) run(ctx context.Context, k key, fl *flight) {
	defer s.wg.Done()
	defer fl.cancel()
	data, err := s.make(ctx, k)
	s.mu.Lock()
	if s.flights[k] == fl {
		delete(s.flights, k)
	}
	if err == nil {
		s.storeLocked(k, data)
	}
	s.mu.Unlock()
	fl.data, fl.err = data, err
	close(fl.done)
}

// make waits for a slot, runs the synthesizer and converts its output.
func (s *Synth) make(ctx context.Context, k key) ([]byte, error) {
	select {
	case s.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrSynthesis, ctx.Err())
	}
	wav, err := s.synthesize(ctx, k.text, k.voice)
	<-s.slots
	if err != nil {
		return nil, err
	}
	return encode(wav, k.format)
}

// storeLocked keeps data in the cache, evicting the least recently used
// audio beyond the bound.
func (s *Synth) storeLocked(k key, data []byte) {
	size := int64(len(data) + len(k.text))
	if s.cfg.CacheBytes < 0 || size > s.cfg.CacheBytes {
		return
	}
	s.entries[k] = s.lru.PushFront(&entry{k: k, data: data})
	s.bytes += size
	for s.bytes > s.cfg.CacheBytes {
		el := s.lru.Back()
		e := el.Value.(*entry)
		s.lru.Remove(el)
		delete(s.entries, e.k)
		s.bytes -= int64(len(e.data) + len(e.k.text))
	}
}

// synthesize runs the command once and returns the WAV file it wrote.
func (s *Synth) synthesize(ctx context.Context, text, voice string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	// No shell: the text goes on standard input, the voice is one of the
	// table's names.
	cmd := exec.CommandContext(ctx, s.cfg.Command, "-v", voice, "--stdout")
	killGroup(cmd)
	cmd.WaitDelay = time.Second
	cmd.Stdin = strings.NewReader(text)
	stderr := &capped{max: maxStderr}
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSynthesis, err)
	}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("%w: %s: %w", ErrUnavailable, s.cfg.Command, err)
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrSynthesis, s.cfg.Command, err)
	}
	s.syntheses.Add(1)
	if m := s.cfg.Metrics; m != nil {
		m.TTSSynthesized()
	}
	out, readErr := io.ReadAll(io.LimitReader(stdout, s.cfg.MaxOutput+1))
	tooMuch := int64(len(out)) > s.cfg.MaxOutput
	if tooMuch {
		cancel() // kill it: nothing more is read
	}
	waitErr := cmd.Wait()
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		return nil, fmt.Errorf("%w: %s ran longer than %s and was killed", ErrSynthesis, s.cfg.Command, s.cfg.Timeout)
	case tooMuch:
		return nil, fmt.Errorf("%w: %s wrote more than %d bytes", ErrSynthesis, s.cfg.Command, s.cfg.MaxOutput)
	case ctx.Err() != nil:
		return nil, fmt.Errorf("%w: %w", ErrSynthesis, ctx.Err())
	case waitErr != nil:
		return nil, fmt.Errorf("%w: %s: %w: %s", ErrSynthesis, s.cfg.Command, waitErr, stderr.text())
	case readErr != nil:
		return nil, fmt.Errorf("%w: reading %s: %w", ErrSynthesis, s.cfg.Command, readErr)
	}
	s.log.Debug("text to speech", "voice", voice, "chars", utf8.RuneCountInString(text),
		"wav_bytes", len(out), "took", time.Since(started))
	return out, nil
}

// encode converts the synthesizer's WAV file to f: decoded, resampled once
// from its rate to f's, and encoded.
func encode(wav []byte, f codec.Format) ([]byte, error) {
	w, err := media.OpenWAV(bytes.NewReader(wav))
	if err != nil {
		return nil, fmt.Errorf("%w: output is not WAV audio: %w", ErrSynthesis, err)
	}
	a, err := w.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%w: output is not WAV audio: %w", ErrSynthesis, err)
	}
	if a.Channels != 1 || a.SampleRate < 1000 {
		return nil, fmt.Errorf("%w: output is %d channels at %d Hz, want mono", ErrSynthesis, a.Channels, a.SampleRate)
	}
	var pcm []int16
	switch a.Encoding {
	case media.EncodingULaw:
		pcm = codec.DecodeULaw(nil, a.Data)
	case media.EncodingALaw:
		pcm = codec.DecodeALaw(nil, a.Data)
	case media.EncodingPCM16:
		pcm = codec.PCM16LEToSamples(nil, a.Data)
	default:
		return nil, fmt.Errorf("%w: output encoding %v not supported", ErrSynthesis, a.Encoding)
	}
	if len(pcm) == 0 {
		return nil, fmt.Errorf("%w: no audio", ErrSynthesis)
	}
	pcm = codec.ResampleClip(pcm, a.SampleRate, f.Rate)
	out, err := media.Convert(codec.SamplesToPCM16LE(nil, pcm), codec.L16(f.Rate), f)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSynthesis, err)
	}
	return out, nil
}

// capped keeps the first max bytes written to it.
type capped struct {
	max int
	b   []byte
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - len(c.b); room > 0 {
		c.b = append(c.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (c *capped) text() string { return strings.TrimSpace(strings.ToValidUTF8(string(c.b), "")) }
