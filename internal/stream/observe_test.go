package stream_test

import (
	"sync"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/stream"
	"github.com/callstream/callstream/internal/wsapp"
)

// observer records what a socket reports.
type observer struct {
	mu        sync.Mutex
	latencies []time.Duration
	depths    []int
}

func (o *observer) FrameLatency(d time.Duration) {
	o.mu.Lock()
	o.latencies = append(o.latencies, d)
	o.mu.Unlock()
}

func (o *observer) QueueDepth(n int) {
	o.mu.Lock()
	o.depths = append(o.depths, n)
	o.mu.Unlock()
}

func (o *observer) got() ([]time.Duration, []int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]time.Duration(nil), o.latencies...), append([]int(nil), o.depths...)
}

// A socket with an Observer reports the latency of one inbound frame in 16
// (push to written) and the queue depth on one wake-up in 16; outbound
// frames are not sampled, and pushing still allocates nothing.
func TestObserverSamplesLatencyAndDepth(t *testing.T) {
	app := listen(t, wsapp.Options{})
	obs := &observer{}
	info := &stream.Info{CallSid: "c1"}
	s := stream.Open(stream.SocketConfig{URL: app.URL("/s"), Dialect: testDialect{}, Info: info, Observer: obs})
	f := s.AddFlow(stream.FlowConfig{Info: *info, Tracks: stream.TrackSet(0).With(stream.TrackInbound).With(stream.TrackOutbound)})
	conn, err := app.Accept(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	// connected + start, then one frame at a time: every write carries
	// exactly one frame, so every sampled frame is reported.
	const frames = 160
	for i := range frames {
		f.Push(stream.TrackInbound, uint64(i), ulaw(frame('a')))
		f.Push(stream.TrackOutbound, uint64(i), ulaw(frame('b')))
		if err := conn.WaitFor(ctxT(t), 2+2*(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close(1000, "")
	waitDone(t, s)
	lat, depths := obs.got()
	if len(lat) != frames/16 {
		t.Fatalf("%d latency samples, want %d (one inbound frame in 16)", len(lat), frames/16)
	}
	for _, d := range lat {
		if d <= 0 || d > 5*time.Second {
			t.Fatalf("latency sample %v", d)
		}
	}
	if len(depths) < frames/16 {
		t.Fatalf("%d queue depth samples for at least %d wake-ups", len(depths), frames)
	}
	for _, n := range depths {
		if n < 0 || n > 4 {
			t.Fatalf("queue depth %d with at most two frames pushed ahead", n)
		}
	}

	// Sampling reads the clock but allocates nothing.
	s2 := stream.Open(stream.SocketConfig{URL: app.URL("/"), Dialect: testDialect{}, Info: info, QueueFrames: 100000, Observer: obs})
	defer func() { s2.Abort(); waitDone(t, s2) }()
	f2 := s2.AddFlow(stream.FlowConfig{Info: *info, Tracks: stream.TrackSet(0).With(stream.TrackInbound)})
	p, i := frame('a'), uint64(0)
	if allocs := testing.AllocsPerRun(1000, func() {
		f2.Push(stream.TrackInbound, i, ulaw(p))
		i++
	}); allocs != 0 {
		t.Fatalf("Push with an Observer allocates %.1f times per frame", allocs)
	}
}
