package call

import (
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
		if st.FramesIn != n.FramesIn || st.FramesOut != n.FramesOut || st.RTP.Lost != n.RTPLost || st.LateFrames != n.LateFrames {
			t.Errorf("%s: stats %+v, counters %+v", x.c.Sid(), st, n)
		}
		if st.EndCause != x.want {
			t.Errorf("%s: end cause %v, want %v", x.c.Sid(), st.EndCause, x.want)
		}
	}
}
