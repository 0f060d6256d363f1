package limittest

import (
	"sync"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/limit"
)

func TestCountsZeroValue(t *testing.T) {
	var c Counts
	if c.Get(limit.CallsFull) != 0 || c.Total() != 0 || c.String() != "none" {
		t.Fatalf("zero Counts: get %d total %d %q", c.Get(limit.CallsFull), c.Total(), c.String())
	}
}

// Refusals counted from many goroutines at once are all there, each under
// its own name (run with -race to check the locking).
func TestCountsConcurrent(t *testing.T) {
	var c Counts
	var counter limit.Counter = &c
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				counter.Refused(limit.InviteRate)
				limit.Count(counter, limit.CallsFull)
				_ = c.Get(limit.InviteRate)
			}
		})
	}
	wg.Wait()
	if got := c.Get(limit.InviteRate); got != 800 {
		t.Errorf("invite_rate %d, want 800", got)
	}
	if got := c.Get(limit.CallsFull); got != 800 {
		t.Errorf("max_calls %d, want 800", got)
	}
	if got := c.Get(limit.SIPAuth); got != 0 {
		t.Errorf("sip_auth %d, never counted", got)
	}
	if got := c.Total(); got != 1600 {
		t.Errorf("total %d, want 1600", got)
	}
	if got, want := c.String(), "invite_rate=800 max_calls=800"; got != want {
		t.Errorf("String %q, want %q", got, want)
	}
}

// WaitFor returns once another goroutine has counted enough; the wait
// behind it gives up when the count is not reached in time or has gone
// past it.
func TestCountsWaitFor(t *testing.T) {
	var c Counts
	go func() {
		for range 3 {
			c.Refused(limit.SIPConnIdle)
		}
	}()
	c.WaitFor(t, limit.SIPConnIdle, 3, 10*time.Second)
	c.WaitFor(t, limit.SIPConnIdle, 3, 0) // already there: no wait

	start := time.Now()
	if got, ok := c.await(limit.SIPConnIdle, 4, 50*time.Millisecond); ok || got != 3 {
		t.Fatalf("waiting for 4: got %d, reached %v", got, ok)
	}
	if time.Since(start) < 50*time.Millisecond {
		t.Fatal("gave up before the time was up")
	}
	if got, ok := c.await(limit.SIPConnIdle, 2, 10*time.Second); ok || got != 3 {
		t.Fatalf("waiting for 2 with 3 counted: got %d, reached %v", got, ok)
	}
}
