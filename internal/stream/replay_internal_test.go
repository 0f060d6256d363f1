package stream

import (
	"testing"
	"time"
)

// A burst grows the replay ring so that every frame written within the
// replay window can be sent again; once the burst has aged out of the
// window the ring returns to its base size, still holding (and resending)
// exactly the frames written within the window, and refilling it
// allocates nothing further.
func TestReplayShrinksAfterABurst(t *testing.T) {
	f := detachedFlow(FlowConfig{Tracks: TrackSet(0).With(TrackInbound)}, 64)
	r := &replay{on: true, queue: 64}
	payload := make([]byte, 160)
	slot := uint64(0)
	at := int64(time.Second)
	add := func(n int) {
		for range n {
			r.add(f, TrackInbound, slot, slot+1, payload)
			slot++
		}
	}
	resent := func(since int64) (first uint64, n int) {
		r.resend(since, func(fr *replayFrame) {
			if n == 0 {
				first = fr.slot
			}
			n++
		})
		r.stamp(at) // written again
		return first, n
	}

	add(1)
	r.stamp(at)
	base := len(r.frames)
	if want := int(replayWindow/FrameDuration) + 2; base != want {
		t.Fatalf("base ring of %d frames, want %d", base, want)
	}
	// A backlog of 60 frames goes out in one write: all are kept.
	add(60)
	at += int64(20 * time.Millisecond)
	r.stamp(at)
	if len(r.frames) <= base || r.n != 61 {
		t.Fatalf("after a burst: ring %d frames holding %d, want grown and holding 61", len(r.frames), r.n)
	}
	if first, n := resent(at - int64(replayWindow)); first != 0 || n != 61 {
		t.Fatalf("resend after the burst: %d frames from slot %d, want 61 from 0", n, first)
	}
	// Then one frame a write, 20 ms apart, for 600 ms.
	for range 30 {
		at += int64(20 * time.Millisecond)
		add(1)
		r.stamp(at)
	}
	if len(r.frames) != base {
		t.Fatalf("ring of %d frames once the burst aged out, want %d", len(r.frames), base)
	}
	since := at - int64(replayWindow)
	first, n := resent(since)
	if want := int(replayWindow / (20 * time.Millisecond)); n < want || n > want+1 || first != slot-uint64(n) {
		t.Fatalf("resend after shrinking: %d frames from slot %d (last %d), want the %d written within the window", n, first, slot-1, want)
	}
	// Full again at its base size, the ring reuses its entries.
	step := func() {
		at += int64(20 * time.Millisecond)
		r.add(f, TrackInbound, slot, slot+1, payload)
		slot++
		r.stamp(at)
	}
	for range 2 * base {
		step()
	}
	if allocs := testing.AllocsPerRun(200, step); allocs != 0 || len(r.frames) != base {
		t.Fatalf("%v allocations per frame, ring %d frames", allocs, len(r.frames))
	}
}
