package call

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/callstream/callstream/internal/rtpio"
)

// maxBehind is how late the shared clock may run before it skips ticks
// rather than replaying them (after a long stall of the machine).
const maxBehind = 200 * time.Millisecond

// lateGrace is how long a tick waits for audio that a playing call's
// source did not have yet (its reader goroutine had not run): the frame
// then leaves up to 4 ms late instead of not at all, and the caller's
// jitter buffer absorbs that.
const lateGrace = 4 * time.Millisecond

// Clock is the media clock calls share: one goroutine ticks every 20 ms on a
// drift-free schedule (a late tick is caught up, delay never accumulates)
// and runs the tick of every answered call. A call therefore costs no
// goroutine or timer of its own for pacing, and the machine wakes once per
// 20 ms for all calls instead of once per call.
type Clock struct {
	start  time.Time
	tick   atomic.Uint64 // the last tick run
	calls  atomic.Pointer[[]*Call]
	mu     sync.Mutex // serialises updates of calls
	cancel context.CancelFunc
	done   chan struct{}
}

// NewClock starts a clock; Close stops it.
func NewClock() *Clock {
	ctx, cancel := context.WithCancel(context.Background())
	k := &Clock{start: time.Now(), cancel: cancel, done: make(chan struct{})}
	empty := []*Call{}
	k.calls.Store(&empty)
	go k.run(ctx)
	return k
}

// Close stops the clock and waits for its goroutine.
func (k *Clock) Close() {
	k.cancel()
	<-k.done
}

// grid returns the last tick run and its scheduled time.
func (k *Clock) grid() (time.Time, uint64) {
	m := k.tick.Load()
	return k.start.Add(time.Duration(m) * frame), m
}

func (k *Clock) add(c *Call) {
	k.mu.Lock()
	defer k.mu.Unlock()
	old := *k.calls.Load()
	next := make([]*Call, 0, len(old)+1)
	next = append(append(next, old...), c)
	k.calls.Store(&next)
}

func (k *Clock) remove(c *Call) {
	k.mu.Lock()
	old := *k.calls.Load()
	next := make([]*Call, 0, len(old))
	for _, x := range old {
		if x != c {
			next = append(next, x)
		}
	}
	k.calls.Store(&next)
	k.mu.Unlock()
	// Wait out a tick of c that may be running now.
	c.tickMu.Lock()
	//lint:ignore SA2001 the empty critical section is the point: a barrier
	c.tickMu.Unlock()
}

func (k *Clock) run(ctx context.Context) {
	defer close(k.done)
	// The clock owns its thread and sleeps to each tick in the kernel: RTP
	// leaves every 20 ms within a fraction of a millisecond.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pacer := rtpio.NewPacer(k.start, frame, maxBehind)
	pacer.SetPrecise()
	grace := time.NewTimer(time.Hour)
	grace.Stop()
	var late []*Call
	for {
		m, err := pacer.Wait(ctx)
		if err != nil {
			return
		}
		k.tick.Store(m)
		late = late[:0]
		for _, c := range *k.calls.Load() {
			if c.runTick(m) {
				late = append(late, c)
			}
		}
		if len(late) == 0 {
			continue
		}
		grace.Reset(lateGrace)
		select {
		case <-grace.C:
		case <-ctx.Done():
			grace.Stop()
			return
		}
		for _, c := range late {
			c.finishTick(m)
		}
		clear(late)
	}
}
