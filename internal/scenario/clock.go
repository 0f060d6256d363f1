package scenario

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callstream/callstream/internal/call"
	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/rtpio"
)

// checkEvery is how many 20 ms ticks pass between the clock's checks
// (media silence, a call's first audio).
const checkEvery = 5

// frameSink takes one 20 ms µ-law frame per tick.
type frameSink interface {
	writeFrame(index uint64, frame []byte)
}

// pump moves audio from a source to a sink that has no clock of its own
// (a WebSocket, a Recorder): one frame per tick, silence when the source
// has none.
type pump struct {
	src   call.Source
	dst   frameSink
	frame [media.FrameSamples]byte
}

// mediaClock is a session's 20 ms clock: it runs the pumps and, every
// 100 ms, the checks that fire MEDIA_ENDED and AudioStarted. Calls have
// their own clocks; this one serves everything else. Lists are replaced,
// never changed in place, so a tick reads them without locks.
type mediaClock struct {
	s      *session
	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex // serialises list updates
	pumps  atomic.Pointer[[]*pump]
	socks  atomic.Pointer[[]*jsSocket]
	calls  atomic.Pointer[[]*jsCall]
}

func newMediaClock(s *session) *mediaClock {
	ctx, cancel := context.WithCancel(s.ctx)
	m := &mediaClock{s: s, ctx: ctx, cancel: cancel}
	m.pumps.Store(&[]*pump{})
	m.socks.Store(&[]*jsSocket{})
	m.calls.Store(&[]*jsCall{})
	return m
}

// run ticks on an absolute 20 ms schedule (late ticks are caught up,
// delay never accumulates) until stop or the session's end.
func (m *mediaClock) run() {
	pacer := rtpio.NewPacer(time.Now(), media.FrameDuration, 200*time.Millisecond)
	limit := m.s.lim.MediaEndSilence
	for {
		n, err := pacer.Wait(m.ctx)
		if err != nil {
			return
		}
		index := n + 1
		for _, p := range *m.pumps.Load() {
			if !p.src.ReadFrame(p.frame[:]) {
				for i := range p.frame {
					p.frame[i] = 0xFF
				}
			}
			p.dst.writeFrame(index, p.frame[:])
		}
		if index%checkEvery != 0 {
			continue
		}
		now := time.Now().UnixNano()
		for _, w := range *m.socks.Load() {
			w.checkSilence(now, limit)
		}
		for _, jc := range *m.calls.Load() {
			jc.checkAudio()
		}
	}
}

// stop ends the clock.
func (m *mediaClock) stop() { m.cancel() }

func update[T comparable](mu *sync.Mutex, p *atomic.Pointer[[]T], add bool, v T) {
	mu.Lock()
	defer mu.Unlock()
	old := *p.Load()
	next := make([]T, 0, len(old)+1)
	for _, x := range old {
		if x != v {
			next = append(next, x)
		}
	}
	if add {
		next = append(next, v)
	}
	p.Store(&next)
}

func (m *mediaClock) addPump(p *pump)          { update(&m.mu, &m.pumps, true, p) }
func (m *mediaClock) removePump(p *pump)       { update(&m.mu, &m.pumps, false, p) }
func (m *mediaClock) addSocket(w *jsSocket)    { update(&m.mu, &m.socks, true, w) }
func (m *mediaClock) removeSocket(w *jsSocket) { update(&m.mu, &m.socks, false, w) }
func (m *mediaClock) addCall(jc *jsCall)       { update(&m.mu, &m.calls, true, jc) }
func (m *mediaClock) removeCall(jc *jsCall)    { update(&m.mu, &m.calls, false, jc) }

// checkAudio fires AudioStarted once the caller's first audio has arrived
// (media clock goroutine).
func (jc *jsCall) checkAudio() {
	if jc.audio.Load() || jc.c.Stats().FramesIn == 0 {
		return
	}
	jc.audio.Store(true)
	jc.s.post(func() {
		if jc.ended {
			return
		}
		jc.s.dispatch(jc.et, evAudioStarted, jc.event(evAudioStarted))
		jc.s.dispatch(jc.et, evFirstAudio, jc.event(evFirstAudio))
	})
}
