package call

import (
	"context"
	"fmt"
	"sync"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/media"
)

// Player plays audio in a call's format to the caller, loop times (0 =
// until stopped). It is a Source; Done is closed when the last loop has
// been played.
type Player struct {
	data    []byte
	silence []byte // one frame of silence in the audio's format
	loop    int
	pos     int
	loops   int
	last    bool // the last frame has been handed out; done follows on the next tick
	once    sync.Once
	done    chan struct{}
}

// NewPlayer returns a player of audio in format f, which must be the
// Format of the call it plays to (see Call.Player).
func NewPlayer(audio []byte, f codec.Format, loop int) *Player {
	return &Player{data: audio, silence: codec.Silence(f, nil), loop: loop, done: make(chan struct{})}
}

// Player returns a player of audio in format from, converted once now into
// the call's Format; when the formats are equal it plays audio itself,
// which it only reads.
func (c *Call) Player(audio []byte, from codec.Format, loop int) (*Player, error) {
	f := c.Format()
	if from.SameEncoding(f) {
		// The bytes play as they are: shared, never copied (a prompt the
		// Play cache holds once serves every call in its codec).
		return NewPlayer(audio, f, loop), nil
	}
	data, err := media.Convert(audio, from, f)
	if err != nil {
		return nil, fmt.Errorf("play: %w", err)
	}
	return NewPlayer(data, f, loop), nil
}

// Done is closed when playback has finished.
func (p *Player) Done() <-chan struct{} { return p.done }

// ReadFrame fills dst with the next frame; a short last frame is padded with silence.
func (p *Player) ReadFrame(dst []byte) bool {
	if len(p.data) == 0 {
		p.finish()
		return false
	}
	if p.last {
		// The last frame went out on the previous tick: done now, so whoever
		// waits for the end never races the last packet.
		p.finish()
		return false
	}
	select {
	case <-p.done:
		return false
	default:
	}
	n := copy(dst, p.data[p.pos:])
	p.pos += n
	if p.pos >= len(p.data) {
		p.loops++
		p.pos = 0
		if p.loop > 0 && p.loops >= p.loop {
			copy(dst[n:], p.silence[n:])
			p.last = true
			return true
		}
		// Looping: fill the rest of the frame from the start.
		for n < len(dst) {
			m := copy(dst[n:], p.data)
			n += m
			p.pos = m % len(p.data)
		}
	}
	return true
}

func (p *Player) finish() { p.once.Do(func() { close(p.done) }) }

// Play plays 8 kHz µ-law audio to the caller and returns when it has been
// played, when ctx ends or when the call ends. Another source replacing it
// also ends it.
func (c *Call) Play(ctx context.Context, ulaw []byte, loop int) error {
	return c.PlayAudio(ctx, ulaw, codec.PCMU, loop)
}

// PlayAudio plays audio of format from to the caller, converted once into
// the call's Format, as Play does.
func (c *Call) PlayAudio(ctx context.Context, audio []byte, from codec.Format, loop int) error {
	if !c.Answered() {
		if err := c.Answer(); err != nil {
			return err
		}
	}
	p, err := c.Player(audio, from, loop)
	if err != nil {
		return err
	}
	c.SetSource(p)
	defer c.ClearSource(p)
	select {
	case <-p.Done():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.Done():
		return ErrEnded
	}
}
