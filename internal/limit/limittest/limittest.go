// Package limittest counts refusals for tests: Counts is a limit.Counter
// that a test hands to the code under test and reads back afterwards.
package limittest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/limit"
)

// Counts counts refusals by name, as the gateway's metrics do. Its zero
// value is ready to use; it is safe for concurrent use, so the code under
// test may count from any goroutine while the test reads.
type Counts struct {
	mu sync.Mutex
	n  map[limit.Refusal]int
	// changed is closed (and forgotten) when a refusal is counted, to wake
	// WaitFor; nil while nobody waits.
	changed chan struct{}
}

var _ limit.Counter = (*Counts)(nil)

// Refused counts one r. It implements limit.Counter.
func (c *Counts) Refused(r limit.Refusal) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[limit.Refusal]int{}
	}
	c.n[r]++
	if c.changed != nil {
		close(c.changed)
		c.changed = nil
	}
}

// Get returns how often r was counted.
func (c *Counts) Get(r limit.Refusal) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[r]
}

// WaitFor waits until r has been counted exactly want times, for code that
// counts a refusal just after its visible effect (a listener closes a
// connection, then counts it). It fails t when the count is not reached
// within d, or when it has gone past want (counts only grow).
func (c *Counts) WaitFor(t testing.TB, r limit.Refusal, want int, d time.Duration) {
	t.Helper()
	if got, reached := c.await(r, want, d); !reached {
		t.Fatalf("%s counted %d times within %s, want %d", r, got, d, want)
	}
}

// await waits until r has been counted want times, or until d passes or
// the count has gone past want; it returns the count and whether it is
// want.
func (c *Counts) await(r limit.Refusal, want int, d time.Duration) (got int, reached bool) {
	timeout := time.NewTimer(d)
	defer timeout.Stop()
	for {
		c.mu.Lock()
		got = c.n[r]
		if c.changed == nil {
			c.changed = make(chan struct{})
		}
		changed := c.changed
		c.mu.Unlock()
		if got >= want {
			return got, got == want
		}
		select {
		case <-changed:
		case <-timeout.C:
			return c.Get(r), false
		}
	}
}

// Total returns how many refusals were counted, of every name.
func (c *Counts) Total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	total := 0
	for _, n := range c.n {
		total += n
	}
	return total
}

// String lists the counts by name, e.g. "invite_rate=3 max_calls=1", for
// failure messages; "none" when nothing was counted.
func (c *Counts) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.n) == 0 {
		return "none"
	}
	names := make([]limit.Refusal, 0, len(c.n))
	for r := range c.n {
		names = append(names, r)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, r := range names {
		parts[i] = fmt.Sprintf("%s=%d", r, c.n[r])
	}
	return strings.Join(parts, " ")
}
