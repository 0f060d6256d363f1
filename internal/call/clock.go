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
// at a time. Eight lanes measured processing p99 1.9 ms instead of 2.4 at
// 250 fork calls but 10-15 % more CPU per frame (BENCHMARKS.md).
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
	late   []*Call       // the clock goroutine's list of late calls, reused
	cancel context.CancelFunc
	done   chan struct{}
}

// lane is one phase of the clock: its calls, the calls whose inbound
// frames it takes (see Clock.moveInbound), and its last tick.
type lane struct {
	tick    atomic.Uint64 // the last tick run in the lane
	calls   atomic.Pointer[[]*Call]
	inbound atomic.Pointer[[]inboundEntry]
}

// inboundEntry is a call whose caller's frames a lane takes: the lane's
// tick m is the call's clock tick m+carry (a lane after the call's own
// takes the inbound frame of the call's next tick).
type inboundEntry struct {
	c     *Call
	carry uint64
}

// NewClock starts a clock; Close stops it.
func NewClock() *Clock {
	ctx, cancel := context.WithCancel(context.Background())
	k := &Clock{start: time.Now(), cancel: cancel, done: make(chan struct{})}
	k.initLanes()
	go k.run(ctx)
	return k
}

// initLanes gives every lane its empty lists.
func (k *Clock) initLanes() {
	for i := range k.lanes {
		empty, none := []*Call{}, []inboundEntry{}
		k.lanes[i].calls.Store(&empty)
		k.lanes[i].inbound.Store(&none)
	}
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

// add makes c tick in its lane, its inbound frames taken in the same lane
// until moveInbound moves them.
func (k *Clock) add(c *Call) {
	k.mu.Lock()
	defer k.mu.Unlock()
	ln := &k.lanes[c.lane]
	old := *ln.calls.Load()
	next := make([]*Call, 0, len(old)+1)
	next = append(append(next, old...), c)
	ln.calls.Store(&next)
	c.inLane, c.clocked = c.lane, true
	k.addInbound(c)
}

// remove stops c's ticks and waits for one that may be running.
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
	if c.clocked {
		k.removeInbound(c)
		c.clocked = false
	}
	k.mu.Unlock()
	// Wait out a tick of c that may be running now.
	c.tickMu.Lock()
	//lint:ignore SA2001 the empty critical section is the point: a barrier
	c.tickMu.Unlock()
}

// moveInbound makes lane l take c's inbound frames: the caller's frame of
// each slot then reaches the streams up to 15 ms before the slot's own
// tick, so that the jitter buffer's hold follows the caller's packet phase
// (see Call.inboundAdvance). It does nothing once c left the clock.
func (k *Clock) moveInbound(c *Call, l int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !c.clocked || c.inLane == l {
		return
	}
	k.removeInbound(c)
	c.inLane = l
	k.addInbound(c)
}

// addInbound puts c in its inbound lane's list. k.mu must be held.
func (k *Clock) addInbound(c *Call) {
	e := inboundEntry{c: c}
	if c.inLane > c.lane {
		e.carry = 1
	}
	ln := &k.lanes[c.inLane]
	old := *ln.inbound.Load()
	next := make([]inboundEntry, 0, len(old)+1)
	next = append(append(next, old...), e)
	ln.inbound.Store(&next)
}

// removeInbound takes c out of its inbound lane's list. k.mu must be held.
func (k *Clock) removeInbound(c *Call) {
	ln := &k.lanes[c.inLane]
	old := *ln.inbound.Load()
	next := make([]inboundEntry, 0, len(old))
	for _, x := range old {
		if x.c != c {
			next = append(next, x)
		}
	}
	ln.inbound.Store(&next)
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
	for {
		s, err := pacer.Wait(ctx)
		if err != nil {
			return
		}
		m, late := k.tickLane(s)
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

// tickLane runs the clock's step s: tick m = s/lanes of lane s%lanes. It
// returns m and the calls whose frame to play was late (see runTick), in a
// slice the next step reuses.
func (k *Clock) tickLane(s uint64) (m uint64, late []*Call) {
	ln := &k.lanes[s%lanes]
	m = s / lanes
	ln.tick.Store(m)
	// The inbound frames the lane takes first (no system call on the
	// way, so the caller's audio reaches the streams' queues within
	// microseconds of its slot), then each call's tick with its RTP send.
	for _, e := range *ln.inbound.Load() {
		e.c.tickInbound(m + e.carry)
	}
	late = k.late[:0]
	for _, c := range *ln.calls.Load() {
		if c.runTick(m) {
			late = append(late, c)
		}
	}
	k.late = late
	return m, late
}
