package call

import (
	"context"
	"sync"
)

// Player plays µ-law audio to the caller, loop times (0 = until stopped).
// It is a Source; Done is closed when the last loop has been played.
type Player struct {
	data  []byte
	loop  int
	pos   int
	loops int
	last  bool // the last frame has been handed out; done follows on the next tick
	once  sync.Once
	done  chan struct{}
}

// NewPlayer returns a player of 8 kHz µ-law audio.
func NewPlayer(ulaw []byte, loop int) *Player {
	return &Player{data: ulaw, loop: loop, done: make(chan struct{})}
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
			fillSilence(dst[n:])
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

// Play plays µ-law audio to the caller and returns when it has been played,
// when ctx ends or when the call ends. Another source replacing it also
// ends it.
func (c *Call) Play(ctx context.Context, ulaw []byte, loop int) error {
	if !c.Answered() {
		if err := c.Answer(); err != nil {
			return err
		}
	}
	p := NewPlayer(ulaw, loop)
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
