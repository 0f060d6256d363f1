package bench

import (
	"context"
	"math"
	"sync"
	"time"

	"github.com/callstream/callstream/internal/rtpio"
)

// Pacing: calls are grouped; one goroutine per group sends every call's
// frame each 20 ms on an absolute schedule. Groups start at phases spread
// over the 20 ms period, so the load reaches the target as many small
// bursts rather than one per tick.
const (
	frameDuration = 20 * time.Millisecond
	groupSize     = 16
	maxBehind     = 100 * time.Millisecond
)

// sendGroup paces the frames of up to groupSize calls.
type sendGroup struct {
	t     *tracker
	start time.Time // tick 0

	mu    sync.Mutex
	calls []*benchCall
}

// senders owns the send groups and their goroutines.
type senders struct {
	t      *tracker
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	groups []*sendGroup
}

func newSenders(t *tracker) *senders {
	ctx, cancel := context.WithCancel(context.Background())
	return &senders{t: t, ctx: ctx, cancel: cancel}
}

// add starts pacing c in group idx/groupSize.
func (s *senders) add(c *benchCall) {
	gi := c.idx / groupSize
	s.mu.Lock()
	for len(s.groups) <= gi {
		n := len(s.groups)
		// Golden-ratio phases: any number of groups stays spread out.
		_, frac := math.Modf(float64(n) * 0.6180339887)
		g := &sendGroup{t: s.t, start: time.Now().Truncate(frameDuration).Add(time.Duration(frac * float64(frameDuration)))}
		s.groups = append(s.groups, g)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			g.loop(s.ctx)
		}()
	}
	g := s.groups[gi]
	s.mu.Unlock()
	g.mu.Lock()
	g.calls = append(g.calls, c)
	g.mu.Unlock()
}

// Close stops every group and waits for their goroutines.
func (s *senders) Close() {
	s.cancel()
	s.wg.Wait()
}

// loop sends one frame per call per tick until ctx ends.
func (g *sendGroup) loop(ctx context.Context) {
	p := rtpio.NewPacer(g.start, frameDuration, maxBehind)
	var (
		frame    [FrameBytes]byte
		calls    []*benchCall
		lastSkip uint64
	)
	for {
		tick, err := p.Wait(ctx)
		if err != nil {
			return
		}
		due := int64(g.start.Add(time.Duration(tick) * frameDuration).Sub(epoch))
		wi := g.t.open.Load()
		w := g.t.at(int(wi))
		if s := p.Skipped(); s != lastSkip {
			g.t.all.skipped.Add(s - lastSkip)
			if w != nil {
				w.skipped.Add(s - lastSkip)
			}
			lastSkip = s
		}
		g.mu.Lock()
		calls = append(calls[:0], g.calls...)
		g.mu.Unlock()
		for _, c := range calls {
			if c.stopped.Load() {
				continue
			}
			seq := c.nextSeq
			c.nextSeq++
			PutFrameID(frame[:], c.idx, seq)
			at := now()
			lag := time.Duration(at - due)
			g.t.recordSend(c, seq, at, wi, lag > lateSend)
			// Count the frame as sent before it leaves: a window is
			// closed once its arrivals catch up with its sends, so an
			// arrival must never be counted ahead of its send.
			g.t.all.sent.Add(1)
			if w != nil {
				w.sent.Add(1)
			}
			if err := c.sender.SendFrame(frame[:]); err != nil {
				c.sent[seq%ringLen].meta.Store(0)
				g.t.all.sent.Add(^uint64(0))
				g.t.all.sendErr.Add(1)
				if w != nil {
					w.sent.Add(^uint64(0))
					w.sendErr.Add(1)
				}
				continue
			}
			if w != nil {
				w.sendLag.Add(lag)
			}
		}
	}
}
