package scenario

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/dop251/goja"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/logsafe"
	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/tts"
)

// audioSource produces a clip of 8 kHz µ-law audio: a fetched file or
// synthesized speech.
type audioSource struct {
	desc string
	load func(ctx context.Context, s *session) ([]byte, error)
}

// player plays a clip into one unit: the call of startPlayback or say
// (events on the call), or wherever a URL or TTS player object is sent
// (events on the player). It is a call.Source read by one clock at a time.
type player struct {
	s     *session
	id    string
	obj   *goja.Object // nil for startPlayback and say
	et    *eventTarget
	owner *jsCall // the call of startPlayback or say
	loop  bool

	mu       sync.Mutex
	data     []byte
	pos      int
	paused   bool
	over     bool     // finished or stopped: plays nothing more
	marks    []marker // addMarker's, in the order they are reached
	markNext int      // the next of marks to reach
	markMs   []int64  // addMarker's offsets (loop only)

	// Loop only.
	ended  bool // PlaybackFinished or stop done
	target *goja.Object
	detach func()
}

// newPlayer makes a player; with object it also gets its JavaScript object.
func (s *session) newPlayer(owner *jsCall, object bool) *player {
	p := &player{s: s, id: s.newID("player"), owner: owner}
	s.players = append(s.players, p)
	if !object {
		return p
	}
	vm := s.vm
	obj := vm.NewObject()
	p.obj = obj
	p.et = newEventTarget(obj, nil)
	p.et.methods(vm)
	m := func(name string, fn func(goja.FunctionCall) goja.Value) { _ = obj.Set(name, fn) }
	m("id", func(goja.FunctionCall) goja.Value { return vm.ToValue(p.id) })
	m("sendMediaTo", func(c goja.FunctionCall) goja.Value {
		s.sendMedia(obj, c.Argument(0), c.Argument(1))
		return goja.Undefined()
	})
	m("stopMediaTo", func(c goja.FunctionCall) goja.Value {
		s.stopMedia(obj, c.Argument(0), nil)
		return goja.Undefined()
	})
	m("stop", func(goja.FunctionCall) goja.Value { p.stop(); return goja.Undefined() })
	m("addMarker", func(c goja.FunctionCall) goja.Value {
		p.addMarker(c.Argument(0).ToInteger())
		return goja.Undefined()
	})
	m("pause", func(goja.FunctionCall) goja.Value { p.setPaused(true); return goja.Undefined() })
	m("resume", func(goja.FunctionCall) goja.Value { p.setPaused(false); return goja.Undefined() })
	s.units[obj] = p
	return p
}

// load fetches or synthesizes the clip in the background.
func (p *player) load(src audioSource) {
	s := p.s
	s.goroutine(func() {
		data, err := src.load(s.ctx, s)
		if err != nil {
			err = fmt.Errorf("%w: %s: %w", ErrPlayback, src.desc, err)
		}
		s.post(func() { p.loaded(data, err) })
	})
}

// loaded starts playback of the clip (loop).
func (p *player) loaded(data []byte, err error) {
	if p.ended {
		return
	}
	if err == nil && len(data) == 0 {
		err = fmt.Errorf("%w: empty audio", ErrPlayback)
	}
	if err != nil {
		p.finish(err)
		return
	}
	p.mu.Lock()
	p.data = data
	p.mu.Unlock()
	p.placeMarkers()
	seconds := float64(len(data)) / media.SampleRate
	if p.owner != nil {
		p.s.dispatch(p.owner.et, evPlaybackReady, p.owner.event(evPlaybackReady, "duration", seconds))
		p.s.dispatch(p.owner.et, evPlaybackStarted, p.owner.event(evPlaybackStarted, "duration", seconds))
		return
	}
	p.s.dispatch(p.et, evPlayerReady, p.event(evPlayerReady, "duration", seconds))
	p.s.dispatch(p.et, evPlayerStarted, p.event(evPlayerStarted, "duration", seconds))
}

func (p *player) event(name string, fields ...any) *goja.Object {
	return p.s.event(name, append([]any{"player", p.obj, "id", p.id}, fields...)...)
}

// ReadFrame plays the next 20 ms (a call.Source).
func (p *player) ReadFrame(dst []byte) bool {
	p.mu.Lock()
	if p.over || p.paused || p.data == nil {
		p.mu.Unlock()
		return false
	}
	n := copy(dst, p.data[p.pos:])
	p.pos += n
	for p.markNext < len(p.marks) && p.marks[p.markNext].pos <= p.pos {
		ms := p.marks[p.markNext].ms
		p.markNext++
		p.s.post(func() { p.markerReached(ms) })
	}
	end := false
	if p.pos >= len(p.data) {
		p.pos = 0
		p.markNext = 0
		if p.loop {
			for n < len(dst) {
				m := copy(dst[n:], p.data)
				n += m
				p.pos = m % len(p.data)
			}
		} else {
			for i := n; i < len(dst); i++ {
				dst[i] = 0xFF
			}
			p.over = true
			end = true
		}
	}
	p.mu.Unlock()
	if end {
		p.s.post(func() { p.finish(nil) })
	}
	return true
}

func (p *player) setPaused(v bool) {
	p.mu.Lock()
	p.paused = v
	p.mu.Unlock()
}

// finish ends playback: PlaybackFinished, with the error when it failed.
func (p *player) finish(err error) {
	if p.ended {
		return
	}
	p.end()
	var fields []any
	if err != nil {
		level := slog.LevelWarn
		if errors.Is(err, tts.ErrUnavailable) {
			// The missing TTS program is warned about once a session.
			if p.s.ttsWarned {
				level = slog.LevelDebug
			}
			p.s.ttsWarned = true
		}
		p.s.log.Log(p.s.ctx, level, "playback failed", "player", p.id, "err", err)
		fields = []any{"error", err.Error()}
	}
	if p.owner != nil {
		p.s.dispatch(p.owner.et, evPlaybackFinished, p.owner.event(evPlaybackFinished, fields...))
		return
	}
	p.s.dispatch(p.et, evPlayerFinished, p.event(evPlayerFinished, fields...))
}

// stop stops playback without PlaybackFinished.
func (p *player) stop() {
	if p.ended {
		return
	}
	p.end()
	if p.obj != nil {
		p.s.dispatch(p.et, evPlayerStopped, p.event(evPlayerStopped))
	}
}

// end marks the player over, detaches it and forgets it.
func (p *player) end() {
	p.ended = true
	p.mu.Lock()
	p.over = true
	p.mu.Unlock()
	p.stopTo(nil)
	for i, x := range p.s.players {
		if x == p {
			p.s.players = append(p.s.players[:i], p.s.players[i+1:]...)
			break
		}
	}
}

// sendTo plays into unit, moving from where it played before.
func (p *player) sendTo(unit *goja.Object, sk sink, o mediaOpts) {
	if p.ended {
		return
	}
	p.stopTo(nil)
	detach, err := sk.attach(p, o, func() { p.replaced(unit) })
	if err != nil {
		p.s.mediaError(sk, err)
		return
	}
	p.target, p.detach = unit, detach
}

// replaced runs when unit started playing something else.
func (p *player) replaced(unit *goja.Object) {
	if p.target != unit {
		return
	}
	p.target, p.detach = nil, nil
	if p.owner != nil {
		// startPlayback or say cut off by other audio.
		p.stop()
	}
}

// stopTo stops playing into unit (any unit when nil).
func (p *player) stopTo(unit *goja.Object) {
	if p.detach == nil || (unit != nil && unit != p.target) {
		return
	}
	d := p.detach
	p.target, p.detach = nil, nil
	d()
}

// fetchSource fetches a WAV file over HTTP(S), through the player cache:
// the decoded audio is shared with every player of the same URL.
func fetchSource(raw string) audioSource {
	return audioSource{desc: logsafe.URL(raw), load: func(ctx context.Context, s *session) ([]byte, error) {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, errors.New("want an http or https URL")
		}
		_, cache := s.rt.fetcher()
		return cache.Get(ctx, raw, s.log)
	}}
}

// ttsSource synthesizes text with the runtime's synthesizer (package tts,
// the one FlexML's <Say> uses, cached by text and voice) as 8 kHz µ-law.
func ttsSource(text string, v ttsVoice) audioSource {
	return audioSource{desc: "say", load: func(ctx context.Context, s *session) ([]byte, error) {
		if strings.TrimSpace(text) == "" {
			return nil, errors.New("no text")
		}
		if n := utf8.RuneCountInString(text); n > s.lim.TTSChars {
			return nil, fmt.Errorf("%w: text of %d characters, at most %d", tts.ErrTextTooLong, n, s.lim.TTSChars)
		}
		synth := s.rt.synthesizer()
		audio, err := synth.Render(ctx, text, v.voice, v.language, codec.PCMU)
		if errors.Is(err, tts.ErrUnavailable) {
			return nil, fmt.Errorf("text-to-speech needs %q: %w", synth.Command(), err)
		}
		return audio, err
	}}
}

// decodeClip reads a WAV, MP3 or Ogg/Opus file as 8 kHz mono µ-law.
func decodeClip(b []byte) ([]byte, error) {
	return decodeClipFrom(bytes.NewReader(b), len(b))
}

// decodeClipFrom reads a WAV, MP3 or Ogg/Opus file (told from its bytes) as it
// arrives with the gateway's one decoder, media.DecodeReader, and converts
// it once to 8 kHz mono µ-law: mixed down, resampled once, encoded once.
// Audio of more than limit bytes of 8 kHz µ-law is an error.
func decodeClipFrom(r io.Reader, limit int) ([]byte, error) {
	maxDuration := time.Duration(limit) * time.Second / media.SampleRate
	a, err := media.DecodeReader(r, maxDuration)
	if err != nil {
		return nil, fmt.Errorf("only WAV, MP3 or Ogg/Opus audio is supported: %w", err)
	}
	return a.ForCall(codec.PCMU)
}

// dtmfTones are the row and column frequencies of each key.
var dtmfTones = map[rune][2]float64{
	'1': {697, 1209}, '2': {697, 1336}, '3': {697, 1477}, 'A': {697, 1633},
	'4': {770, 1209}, '5': {770, 1336}, '6': {770, 1477}, 'B': {770, 1633},
	'7': {852, 1209}, '8': {852, 1336}, '9': {852, 1477}, 'C': {852, 1633},
	'*': {941, 1209}, '0': {941, 1336}, '#': {941, 1477}, 'D': {941, 1633},
}

// dtmfAudio renders digits as in-band DTMF: 100 ms of tone and 60 ms of
// silence each, as µ-law.
func dtmfAudio(digits string) ([]byte, error) {
	const (
		tone = 800 // samples of tone
		gap  = 480 // samples of silence
		amp  = 7000.0
	)
	var pcm []int16
	for _, d := range digits {
		f, ok := dtmfTones[d]
		if !ok {
			return nil, fmt.Errorf("sendDigits: %q is not a DTMF digit", d)
		}
		for i := range tone {
			t := float64(i) / media.SampleRate
			v := amp*math.Sin(2*math.Pi*f[0]*t) + amp*math.Sin(2*math.Pi*f[1]*t)
			pcm = append(pcm, int16(v))
		}
		pcm = append(pcm, make([]int16, gap)...)
	}
	return codec.EncodeULaw(nil, pcm), nil
}

// prefixSource plays data, then what played before.
type prefixSource struct {
	data    []byte // in the call's format
	pos     int
	next    interface{ ReadFrame([]byte) bool }
	silence []byte // one frame of silence in the call's format
}

func (p *prefixSource) ReadFrame(dst []byte) bool {
	if p.pos < len(p.data) {
		n := copy(dst, p.data[p.pos:])
		if n < len(dst) {
			copy(dst[n:], p.silence[n:])
		}
		p.pos += n
		return true
	}
	if p.next == nil {
		return false
	}
	return p.next.ReadFrame(dst)
}
