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

// lanes is how many phases the clock spreads its calls over: a call ticks
// every 20 ms in its lane, and lane l ticks l·5 ms after lane 0. Calls'
// frames then leave in four smaller bursts each 20 ms instead of one: the
// streams' writers, the RTP sends and the apps see a quarter of the calls
// at a time.
const lanes = 4

// Clock is the media clock calls share: one goroutine ticks on a drift-free
// schedule (a late tick is caught up, delay never accumulates) and runs the
// tick of every answered call, each call every 20 ms in its lane (see
// lanes). A call therefore costs no goroutine or timer of its own for
// pacing, and the machine wakes once per lane tick for all calls instead of
// once per call.
type Clock struct {
	start  time.Time
	lanes  [lanes]lane
	nextL  atomic.Uint32 // round robin of lanes for new calls
	mu     sync.Mutex    // serialises updates of the lanes' calls
	cancel context.CancelFunc
	done   chan struct{}
}

// lane is one phase of the clock: its calls and its last tick.
type lane struct {
	tick  atomic.Uint64 // the last tick run in the lane
	calls atomic.Pointer[[]*Call]
}

// NewClock starts a clock; Close stops it.
func NewClock() *Clock {
	ctx, cancel := context.WithCancel(context.Background())
	k := &Clock{start: time.Now(), cancel: cancel, done: make(chan struct{})}
	for i := range k.lanes {
		empty := []*Call{}
		k.lanes[i].calls.Store(&empty)
	}
	go k.run(ctx)
	return k
}

// Close stops the clock and waits for its goroutine.
func (k *Clock) Close() {
	k.cancel()
	<-k.done
}

// assign returns the lane of a new call.
func (k *Clock) assign() int { return int(k.nextL.Add(1) % lanes) }

// grid returns the last tick run in lane l and its scheduled time.
func (k *Clock) grid(l int) (time.Time, uint64) {
	m := k.lanes[l].tick.Load()
	return k.start.Add(time.Duration(l)*frame/lanes + time.Duration(m)*frame), m
}

func (k *Clock) add(c *Call) {
	k.mu.Lock()
	defer k.mu.Unlock()
	ln := &k.lanes[c.lane]
	old := *ln.calls.Load()
	next := make([]*Call, 0, len(old)+1)
	next = append(append(next, old...), c)
	ln.calls.Store(&next)
}

func (k *Clock) remove(c *Call) {
	k.mu.Lock()
	ln := &k.lanes[c.lane]
	old := *ln.calls.Load()
	next := make([]*Call, 0, len(old))
	for _, x := range old {
		if x != c {
			next = append(next, x)
		}
	}
	ln.calls.Store(&next)
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
	pacer := rtpio.NewPacer(k.start, frame/lanes, maxBehind)
	pacer.SetPrecise()
	grace := time.NewTimer(time.Hour)
	grace.Stop()
	var late []*Call
	for {
		s, err := pacer.Wait(ctx)
		if err != nil {
			return
		}
		ln, m := &k.lanes[s%lanes], s/lanes
		ln.tick.Store(m)
		late = late[:0]
		calls := *ln.calls.Load()
		// Every call's inbound frame first (no system call on the way, so
		// the caller's audio reaches the streams' queues within
		// microseconds of its slot), then each call's tick with its RTP send.
		for _, c := range calls {
			c.tickInbound(m)
		}
		for _, c := range calls {
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
