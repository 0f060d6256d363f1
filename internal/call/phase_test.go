package call

import (
	"testing"
	"time"

	"github.com/callstream/callstream/internal/stream"
)

// TestInboundAdvance checks that the first packet, anchored by the jitter
// buffer at the first slot due at least half after its advanced arrival,
// is popped between half + inboundMargin and one lane step later after it
// really came, whatever its phase against the call's slots.
func TestInboundAdvance(t *testing.T) {
	for _, half := range []time.Duration{10 * time.Millisecond, 30 * time.Millisecond, 100 * time.Millisecond} {
		for t0 := -40 * time.Millisecond; t0 < 200*time.Millisecond; t0 += 250 * time.Microsecond {
			e := inboundAdvance(t0, half)
			if e < 0 || e >= frame || e%laneStep != 0 {
				t.Fatalf("t0 %v half %v: advance %v is not a lane step below a frame", t0, half, e)
			}
			// The buffer's anchor slot for the advanced arrival, popped e early.
			due := t0 + e + half
			slot := due / frame
			if time.Duration(slot)*frame < due {
				slot++
			}
			if due < 0 && due%frame != 0 {
				slot = due / frame // truncation already rounds a negative up
			}
			hold := time.Duration(slot)*frame - e - t0
			if lo, hi := half+inboundMargin, half+inboundMargin+laneStep; hold < lo || hold >= hi {
				t.Fatalf("t0 %v half %v: advance %v holds the first packet %v, want [%v, %v)", t0, half, e, hold, lo, hi)
			}
		}
	}
}

// TestInboundLane checks the clock's lanes with a call's inbound frames
// moved to each lane in turn: the inbound frame of every slot reaches the
// taps exactly once, in order, ((lane − inbound lane) mod lanes) lane steps
// before the slot's outbound frame.
func TestInboundLane(t *testing.T) {
	for b := range lanes {
		r := newRig(t, rigOptions{Config: Config{JitterDelay: 40 * time.Millisecond}})
		c, k := r.c, r.c.mclock
		k.moveInbound(c, b)
		tap := newTapRecorder(stream.TrackInbound, stream.TrackOutbound)
		c.AddTap(tap)
		c.tickMu.Lock()
		first := c.base + c.lastTick + 1
		c.tickMu.Unlock()
		pushedAt := [2]map[uint64]uint64{{}, {}} // slot -> clock step, per track
		for s := first * lanes; s < (first+30)*lanes; s++ {
			if _, late := k.tickLane(s); len(late) != 0 {
				t.Fatalf("lane %d step %d: %d late calls", b, s, len(late))
			}
			tap.mu.Lock()
			for i, tr := range []stream.Track{stream.TrackInbound, stream.TrackOutbound} {
				for _, slot := range tap.order[tr] {
					if _, ok := pushedAt[i][slot]; !ok {
						pushedAt[i][slot] = s
					}
				}
			}
			tap.mu.Unlock()
		}
		for _, tr := range []stream.Track{stream.TrackInbound, stream.TrackOutbound} {
			order := tap.order[tr]
			if len(order) < 25 {
				t.Fatalf("lane %d: %v got %d frames", b, tr, len(order))
			}
			for j, slot := range order {
				if slot != tap.start+uint64(j) {
					t.Fatalf("lane %d: %v frame %d is slot %d, want %d", b, tr, j, slot, tap.start+uint64(j))
				}
			}
		}
		want := uint64((c.lane - b + lanes) % lanes)
		for slot, out := range pushedAt[1] {
			if out < first*lanes+want {
				continue // its inbound lane's step came before the first one run
			}
			in := pushedAt[0][slot]
			if out-in != want {
				t.Fatalf("lane %d (call lane %d): slot %d inbound at step %d, outbound at %d: %d steps early, want %d",
					b, c.lane, slot, in, out, out-in, want)
			}
		}
	}
}
