package rtpio

import (
	"context"
	"sync/atomic"
	"time"
)

// Pacer ticks every period from start on an absolute schedule: tick n is due at start + n*period. A late wake-up
// is caught up (Wait returns at once for every tick already due) but delay never accumulates. If the caller falls
// more than maxBehind behind (e.g. after a long VM stall), the schedule skips forward and Skipped() counts ticks dropped.
//
// Wait is for one goroutine; Skipped may be called from any.
type Pacer struct {
	start     time.Time
	period    time.Duration
	maxBehind time.Duration // 0: never skip
	next      uint64        // next tick to return
	timer     *time.Timer   // reused by every Wait
	precise   bool          // sleep in the kernel to the deadline (see SetPrecise)
	skipped   atomic.Uint64
}

// SetPrecise makes Wait sleep to each deadline in the kernel (Linux's
// clock_nanosleep on an absolute monotonic deadline), blocking its thread:
// ticks then come within about 0.1 ms of their time instead of up to 1 ms
// late, which is what a media clock sending RTP needs (a caller sees 20 ms
// between packets, not 19.3 and 20.7). Wait then notices a cancelled
// context only between ticks, at most one period late. For a goroutine
// that owns its thread (runtime.LockOSThread). Call it before the first
// Wait.
func (p *Pacer) SetPrecise() { p.precise = true }

// NewPacer returns a Pacer whose tick 0 is due at start. A period below 1 ns is
// treated as 1 ns; maxBehind <= 0 disables skipping.
func NewPacer(start time.Time, period, maxBehind time.Duration) *Pacer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &Pacer{start: start, period: max(period, 1), maxBehind: max(maxBehind, 0), timer: t}
}

// Wait blocks until the next tick is due and returns its number, or returns at
// once if it is already due. If the schedule is more than maxBehind late it
// jumps to the newest due tick, counting the ticks passed over in Skipped.
// It returns ctx.Err() if ctx ends first; the tick is then not consumed.
// It does not allocate.
func (p *Pacer) Wait(ctx context.Context) (tick uint64, err error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	due := p.start.Add(time.Duration(p.next) * p.period)
	late := time.Since(due)
	switch {
	case late < 0 && p.precise && -late <= p.period && sleepUntil(due):
	case late < 0:
		p.timer.Reset(-late)
		select {
		case <-ctx.Done():
			p.timer.Stop()
			return 0, ctx.Err()
		case <-p.timer.C:
		}
	case p.maxBehind > 0 && late > p.maxBehind:
		behind := uint64(late / p.period) // ticks due after p.next
		p.skipped.Add(behind)
		p.next += behind
	}
	tick = p.next
	p.next++
	return tick, nil
}

// Skipped returns how many ticks were dropped by skipping forward.
func (p *Pacer) Skipped() uint64 { return p.skipped.Load() }
