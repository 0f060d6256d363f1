package stream

import (
	"log/slog"
	"testing"
	"time"
	"unsafe"

	"github.com/callstream/callstream/internal/codec"
)

// detachedFlow returns a flow on a socket that is never opened: its queue
// alone, for tests of the media path.
func detachedFlow(cfg FlowConfig, queue int) *Flow {
	if cfg.Wire.Name == "" {
		cfg.Wire = codec.PCMU
	}
	s := &Socket{q: newQueue(queue, 8), log: slog.New(slog.DiscardHandler)}
	return &Flow{cfg: cfg, sock: s}
}

// Push copies the frame into the queue's inline item: once the ring has
// grown to the media bound, pushing never allocates, whatever the format.
func TestPushDoesNotAllocate(t *testing.T) {
	all := TrackSet(0).With(TrackInbound).With(TrackOutbound).With(TrackMixed)
	f := detachedFlow(FlowConfig{Tracks: all}, 16)
	f.Attach(0)
	g722 := codec.Frame{Format: codec.G722, Payload: make([]byte, 160)}
	mixed := codec.Frame{Format: codec.L16(16000), Payload: make([]byte, 640)}
	slot := uint64(0)
	push := func() {
		f.Push(TrackInbound, slot, g722)
		f.Push(TrackOutbound, slot, g722)
		f.Push(TrackMixed, slot, mixed)
		slot++
	}
	for range 32 {
		push() // grow the ring to the bound
	}
	if n := testing.AllocsPerRun(1000, push); n != 0 {
		t.Fatalf("%v allocations per slot", n)
	}
	if queued, dropped := f.sock.q.stats(); queued != 16 || dropped == 0 {
		t.Fatalf("queued %d dropped %d: the bound did not hold", queued, dropped)
	}
	var it item
	for f.sock.q.pop(&it) {
		if it.kind != itemMedia {
			continue
		}
		want := 160
		if it.track == TrackMixed {
			want = 640
		}
		if int(it.n) != want || (it.track == TrackMixed) != (it.format == codec.L16(16000)) {
			t.Fatalf("%v item: %d bytes of %v", it.track, it.n, it.format)
		}
	}
}

// A queue item holds the largest inside frame inline; the ring of a call
// whose app keeps up stays at a couple of items.
func TestQueueItemSize(t *testing.T) {
	size := unsafe.Sizeof(item{})
	if size > 768 {
		t.Fatalf("an item is %d bytes", size)
	}
	if minItems*int(size) > 2<<10 {
		t.Fatalf("a new queue holds %d bytes", minItems*int(size))
	}
	t.Logf("item %d bytes, new queue %d bytes", size, minItems*int(size))
}

// Timestamps in samples count at the wire's clock: 160 per frame for
// 8 kHz, 320 for 16 kHz, 960 for Opus's 48 kHz; relative ones in ms from
// the first slot; absolute ones from the call's clock.
func TestTimestampsAtWireClock(t *testing.T) {
	clock := time.UnixMilli(1_700_000_000_000)
	for _, tc := range []struct {
		wire codec.Format
		mode TimestampMode
		want uint64 // at slot start+3
	}{
		{codec.PCMU, TimestampSamples, 3 * 160},
		{codec.L16(8000), TimestampSamples, 3 * 160},
		{codec.L16(16000), TimestampSamples, 3 * 320},
		{codec.L16(48000), TimestampSamples, 3 * 960},
		{codec.Opus, TimestampSamples, 3 * 960},
		{codec.L16(16000), TimestampRelative, 60},
		{codec.L16(16000), TimestampAbsolute, 1_700_000_000_000 + 103*20},
	} {
		f := detachedFlow(FlowConfig{Tracks: TrackSet(0).With(TrackInbound), Wire: tc.wire, Timestamps: tc.mode, Clock: clock}, 4)
		f.Attach(100)
		if tc.mode != TimestampAbsolute && f.timestamp(100) != 0 {
			t.Errorf("%v: first slot at %d", tc.wire, f.timestamp(100))
		}
		if got := f.timestamp(103); got != tc.want || f.chunk(103) != 4 {
			t.Errorf("%v mode %d: slot 103 has timestamp %d chunk %d, want %d and 4", tc.wire, tc.mode, got, f.chunk(103), tc.want)
		}
	}
}

// A flow without Attach starts at the first slot pushed; Attach after
// that changes nothing.
func TestFlowStartsAtFirstPushWithoutAttach(t *testing.T) {
	f := detachedFlow(FlowConfig{Tracks: TrackSet(0).With(TrackInbound)}, 4)
	f.Push(TrackInbound, 42, codec.Frame{Format: codec.PCMU, Payload: make([]byte, 160)})
	f.Attach(7)
	if f.chunk(42) != 1 || f.chunk(45) != 4 {
		t.Fatalf("chunks %d, %d", f.chunk(42), f.chunk(45))
	}
}
