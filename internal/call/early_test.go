package call

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/sip"
	"github.com/callstream/callstream/internal/sipcaller"
)

// waitFramesOut waits until the call has sent n frames of audio.
func waitFramesOut(t *testing.T, c *Call, n uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for c.Stats().FramesOut < n {
		if time.Now().After(deadline) {
			t.Errorf("%d frames sent, want %d", c.Stats().FramesOut, n)
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkStream fails unless ps are one stream of numbered frames
// (frameSource): one SSRC, consecutive sequence numbers, timestamps and
// frames.
func checkStream(t *testing.T, ps []sipcaller.Packet) {
	t.Helper()
	for i := 1; i < len(ps); i++ {
		p, q := ps[i-1], ps[i]
		if q.SSRC != p.SSRC || q.Seq != p.Seq+1 || q.Timestamp-p.Timestamp != 160 || q.Payload[0] != p.Payload[0]+1 {
			t.Fatalf("packet %d: ssrc %08x seq %d ts %d frame %d after ssrc %08x seq %d ts %d frame %d",
				i, q.SSRC, q.Seq, q.Timestamp, q.Payload[0], p.SSRC, p.Seq, p.Timestamp, p.Payload[0])
		}
	}
}

// Early media plays to the caller before the answer; the answer keeps the
// stream (port, SSRC, sequence) and repeats the 183's SDP.
func TestEarlyMediaThenAnswer(t *testing.T) {
	pool := ports(t)
	clock := NewClock()
	defer clock.Close()
	calls := make(chan *Call, 1)
	srv := startSIP(t, func(ctx context.Context, inv *sip.Invite) {
		c := New(Config{Sid: "early", Invite: inv, Ports: pool, RTPIP: loopback, Clock: clock})
		defer c.Close()
		c.SetSource(&frameSource{})
		if err := c.StartEarlyMedia(); err != nil {
			t.Error(err)
			return
		}
		local := c.Stats().LocalRTP
		if !c.EarlyMedia() || c.Answered() {
			t.Errorf("early media %v, answered %v", c.EarlyMedia(), c.Answered())
		}
		waitFramesOut(t, c, 10)
		if err := c.Answer(); err != nil {
			t.Error(err)
			return
		}
		if got := c.Stats().LocalRTP; got != local {
			t.Errorf("answer moved the RTP port from %v to %v", local, got)
		}
		calls <- c
		<-c.Done()
	})
	cl, err := sipcaller.NewClient(sipcaller.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	caller, err := cl.Dial(ctx, sipcaller.Config{Target: srv.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	c := <-calls
	early := caller.EarlyPackets()
	if len(early) < 10 {
		t.Fatalf("%d packets before the answer, want 10 or more", len(early))
	}
	if !bytes.Equal(caller.EarlySDP(), caller.AnswerSDP()) {
		t.Errorf("200 OK SDP differs from the 183's:\n%s\n%s", caller.EarlySDP(), caller.AnswerSDP())
	}
	if err := caller.WaitPackets(ctx, len(early)+20); err != nil {
		t.Fatal(err)
	}
	_ = caller.Hangup(ctx)
	checkStream(t, caller.Received())
	if !c.Answered() {
		t.Error("not answered")
	}
}

// A call in early media that is hung up before its answer is refused with
// 480 (no BYE), and its RTP port goes back to the pool.
func TestEarlyMediaHangupRefuses(t *testing.T) {
	pool := ports(t)
	clock := NewClock()
	defer clock.Close()
	done := make(chan *Call, 1)
	srv := startSIP(t, func(ctx context.Context, inv *sip.Invite) {
		c := New(Config{Sid: "early-refused", Invite: inv, Ports: pool, RTPIP: loopback, Clock: clock})
		if err := c.StartEarlyMedia(); err != nil {
			t.Error(err)
		}
		c.SetSource(&frameSource{})
		waitFramesOut(t, c, 10)
		c.Hangup("no agent")
		_ = c.Close()
		done <- c
	})
	cl, err := sipcaller.NewClient(sipcaller.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = cl.Dial(ctx, sipcaller.Config{Target: srv.Addr()})
	var se *sipcaller.StatusError
	if !errors.As(err, &se) || se.Code != 480 {
		t.Fatalf("dial: %v, want a 480 refusal", err)
	}
	if len(se.Early) < 10 || se.EarlySDP == nil {
		t.Fatalf("%d packets of early media, SDP %q", len(se.Early), se.EarlySDP)
	}
	checkStream(t, se.Early)
	c := <-done
	if c.Answered() || c.Stats().EndCause != sip.EndRejected {
		t.Errorf("answered %v, dialog end %v", c.Answered(), c.Stats().EndCause)
	}
	if n := pool.InUse(); n != 0 {
		t.Errorf("%d RTP ports in use after the refusal", n)
	}
}

// Early media needs the caller's offer: a late offer is refused, the call
// answered as usual after.
func TestEarlyMediaLateOfferRefused(t *testing.T) {
	pool := ports(t)
	clock := NewClock()
	defer clock.Close()
	srv := startSIP(t, func(ctx context.Context, inv *sip.Invite) {
		c := New(Config{Sid: "early-late", Invite: inv, Ports: pool, RTPIP: loopback, Clock: clock})
		defer c.Close()
		if err := c.StartEarlyMedia(); !errors.Is(err, ErrEarlyLateOffer) {
			t.Errorf("StartEarlyMedia on a late offer: %v", err)
		}
		if pool.InUse() != 0 {
			t.Error("the refused early media kept its RTP port")
		}
		if err := c.Answer(); err != nil {
			t.Error(err)
		}
		<-c.Done()
	})
	cl, err := sipcaller.NewClient(sipcaller.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	caller, err := cl.Dial(ctx, sipcaller.Config{Target: srv.Addr(), LateOffer: true})
	if err != nil {
		t.Fatal(err)
	}
	if caller.EarlySDP() != nil {
		t.Error("a 183 with SDP went out")
	}
	_ = caller.Hangup(ctx)
}

// A caller that cancels during early media ends the call and frees its
// RTP port.
func TestEarlyMediaCancelled(t *testing.T) {
	pool := ports(t)
	clock := NewClock()
	defer clock.Close()
	done := make(chan *Call, 1)
	srv := startSIP(t, func(ctx context.Context, inv *sip.Invite) {
		c := New(Config{Sid: "early-cancel", Invite: inv, Ports: pool, RTPIP: loopback, Clock: clock})
		c.SetSource(&frameSource{})
		if err := c.StartEarlyMedia(); err != nil {
			t.Error(err)
		}
		<-c.Done()
		_ = c.Close()
		done <- c
	})
	cl, err := sipcaller.NewClient(sipcaller.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithCancel(context.Background())
	progress := make(chan int, 4)
	go func() {
		for code := range progress {
			if code == 183 {
				time.AfterFunc(300*time.Millisecond, cancel)
			}
		}
	}()
	_, err = cl.Dial(ctx, sipcaller.Config{Target: srv.Addr(), OnProgress: func(code int) { progress <- code }})
	close(progress)
	if err == nil || ctx.Err() == nil {
		t.Fatalf("dial: %v, want it cancelled", err)
	}
	select {
	case c := <-done:
		if got := c.EndReason(); got != "caller cancelled" {
			t.Errorf("end reason %q", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not end on CANCEL")
	}
	if n := pool.InUse(); n != 0 {
		t.Errorf("%d RTP ports in use after the CANCEL", n)
	}
}
