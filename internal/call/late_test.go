package call

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/sip"
	"github.com/callstream/callstream/internal/sipcaller"
)

// lateSource plays numbered frames; every 10th frame is not there at its
// tick, only at the clock's second look (as audio still in a socket whose
// reader has not run yet).
type lateSource struct {
	mu     sync.Mutex
	n      int
	missed bool
}

func (s *lateSource) ReadFrame(dst []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n%10 == 9 && !s.missed {
		s.missed = true
		return false
	}
	s.missed = false
	s.n++
	for i := range dst {
		dst[i] = byte(s.n)
	}
	return true
}

// A frame the source had only a few ms after its tick still goes out in
// its own slot: consecutive timestamps, no gap at the caller, counted as
// late.
func TestLateFrameKeepsItsSlot(t *testing.T) {
	pool := ports(t)
	clock := NewClock()
	defer clock.Close()
	calls := make(chan *Call, 1)
	srv := startSIP(t, func(ctx context.Context, inv *sip.Invite) {
		c := New(Config{Sid: "late", Invite: inv, Ports: pool, RTPIP: loopback, Clock: clock})
		defer c.Close()
		c.SetSource(&lateSource{})
		if err := c.Answer(); err != nil {
			t.Error(err)
			return
		}
		calls <- c
		<-c.Done()
	})
	cl, err := sipcaller.NewClient(sipcaller.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	caller, err := cl.Dial(ctx, sipcaller.Config{Target: srv.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	c := <-calls
	if err := caller.WaitPackets(ctx, 60); err != nil { // 1.2 s of frames, about 6 of them late
		t.Fatal(err)
	}
	_ = caller.Hangup(ctx)
	ps := caller.Received()
	if len(ps) < 40 {
		t.Fatalf("only %d packets", len(ps))
	}
	for i := 1; i < len(ps); i++ {
		if d := ps[i].Timestamp - ps[i-1].Timestamp; d != 160 || ps[i].Payload[0] != ps[i-1].Payload[0]+1 {
			t.Fatalf("packet %d: timestamp step %d, frame %d after %d", i, d, ps[i].Payload[0], ps[i-1].Payload[0])
		}
	}
	if st := c.Stats(); st.LateFrames < 4 || st.LateFrames > uint64(len(ps)/10+1) {
		t.Errorf("late frames %d over %d packets", st.LateFrames, len(ps))
	}
}
