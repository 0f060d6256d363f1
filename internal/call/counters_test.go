package call

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/sip"
)

// waitCounters polls c's counters until ok holds or 5 s pass.
func waitCounters(t *testing.T, c *Call, what string, ok func(Counters) bool) Counters {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := c.Counters()
		if ok(n) {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: counters %+v", what, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Counters move while a call runs (read without the call's lock), end at
// the figures Stats reports, and Stats says how each side's dialog ended.
func TestCountersMoveWhileTheCallRuns(t *testing.T) {
	pool := ports(t)
	clock := NewClock()
	defer clock.Close()
	c, answered := dialNumberedCallee(t, pool, clock)
	defer c.Close()
	far := <-answered

	first := waitCounters(t, far, "callee sends", func(n Counters) bool { return n.FramesOut >= 5 })
	waitCounters(t, far, "callee sends more", func(n Counters) bool { return n.FramesOut >= first.FramesOut+5 })
	in := waitCounters(t, c, "dialer receives", func(n Counters) bool { return n.FramesIn >= 5 })
	waitCounters(t, c, "dialer receives more", func(n Counters) bool { return n.FramesIn >= in.FramesIn+5 })

	far.Hangup("test done")
	select {
	case <-c.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("the callee's BYE did not end the call")
	}
	_ = c.Close()
	_ = far.Close()
	for _, x := range []struct {
		c    *Call
		want sip.EndCause
	}{{c, sip.EndRemoteBye}, {far, sip.EndLocalBye}} {
		st, n := x.c.Stats(), x.c.Counters()
		if st.FramesIn != n.FramesIn || st.FramesOut != n.FramesOut || st.Jitter.Lost != n.RTPLost || st.LateFrames != n.LateFrames {
			t.Errorf("%s: stats %+v, counters %+v", x.c.Sid(), st, n)
		}
		if st.EndCause != x.want {
			t.Errorf("%s: end cause %v, want %v", x.c.Sid(), st.EndCause, x.want)
		}
	}
}

// --jitter-buffer takes "adaptive" (or nothing) and fixed delays from 20 ms
// to 1 s; anything else is an error naming the value.
func TestParseJitterBuffer(t *testing.T) {
	for in, want := range map[string]time.Duration{"": 0, "adaptive": 0, "20ms": 20 * time.Millisecond, "60ms": 60 * time.Millisecond, "1s": time.Second} {
		if got, err := ParseJitterBuffer(in); err != nil || got != want {
			t.Errorf("%q: %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"10ms", "1001ms", "-60ms", "fast", "60"} {
		if _, err := ParseJitterBuffer(in); !errors.Is(err, ErrJitterBuffer) || !strings.Contains(err.Error(), "outside") && !strings.Contains(err.Error(), strconv.Quote(in)) {
			t.Errorf("%q: error %v", in, err)
		}
	}
}
