package gateway

import (
	"testing"
	"time"
)

// The added latency is the sampled figure while the queue is short, and
// the queue's backlog once it is longer (a stalled app sends no sample).
func TestAddedLatency(t *testing.T) {
	for _, tc := range []struct {
		sampled time.Duration
		queued  int
		want    float64
	}{
		{0, 0, 0},
		{1234 * time.Microsecond, 0, 1.2},
		{1234 * time.Microsecond, 1, 1.2}, // a frame just queued waits for the writer's wake-up
		{3 * time.Millisecond, 26, 500},
		{700 * time.Millisecond, 3, 700},
	} {
		if got := addedLatencyMs(tc.sampled, tc.queued); got != tc.want {
			t.Errorf("addedLatencyMs(%v, %d) = %v, want %v", tc.sampled, tc.queued, got, tc.want)
		}
	}
}
