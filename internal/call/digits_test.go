package call

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/rtpio"
)

// sendDigitsAsync starts SendDigits and waits until the call's clock has
// the job; the returned channel gets its result.
func (r *rig) sendDigitsAsync(ctx context.Context, digits string) <-chan error {
	r.t.Helper()
	res := make(chan error, 1)
	go func() { res <- r.c.SendDigits(ctx, digits) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.c.tickMu.Lock()
		busy := r.c.digits != nil
		r.c.tickMu.Unlock()
		if busy {
			return res
		}
		select {
		case err := <-res:
			r.t.Fatalf("SendDigits returned %v before the clock took the digits", err)
		default:
		}
		if time.Now().After(deadline) {
			r.t.Fatal("SendDigits did not start")
		}
		time.Sleep(time.Millisecond)
	}
}

// Digits go out as RFC 4733 events in the place of what plays: per digit
// five growing packets with one timestamp (the first marked), three end
// packets, two quiet frames; 'w' is 25 quiet frames. The playing audio
// pauses and resumes where it was, marked as a new talkspurt, and the RTP
// timestamp counts every frame.
func TestSendDigitsEvents(t *testing.T) {
	r := newRig(t, rigOptions{})
	audio := append(append(numbered(1), numbered(2)...), numbered(3)...)
	r.c.SetSource(NewPlayer(audio, codec.PCMU, 1))
	r.tick()
	first := r.recvRTP()
	if !bytes.Equal(first.Payload, numbered(1)) {
		t.Fatalf("first frame %v", first.Payload[:4])
	}
	res := r.sendDigitsAsync(context.Background(), "4w#")
	ts := first.Timestamp + 160
	seq := first.SequenceNumber + 1
	for _, d := range []byte("4w#") {
		code, isDigit := rtpio.EventCode(d)
		frames := 25
		if isDigit {
			frames = 10
		}
		for k := range frames {
			r.tick()
			p := r.recvRTP()
			if p.SequenceNumber != seq {
				t.Fatalf("digit %q frame %d: seq %d, want %d", d, k, p.SequenceNumber, seq)
			}
			seq++
			if !isDigit || k >= 8 {
				if p.PayloadType != 0 || !bytes.Equal(p.Payload, bytes.Repeat([]byte{0xFF}, 160)) {
					t.Fatalf("digit %q frame %d: pt %d, want silence", d, k, p.PayloadType)
				}
				continue
			}
			e, ok := rtpio.ParseEvent(p.Payload)
			want := rtpio.Event{Code: code, End: k >= 5, Volume: rtpio.EventVolume, Duration: min(k+1, 5) * 160}
			if !ok || p.PayloadType != 101 || e != want || p.Marker != (k == 0) || p.Timestamp != ts {
				t.Fatalf("digit %q frame %d: pt %d marker %v ts %d (want %d) %+v, want %+v", d, k, p.PayloadType,
					p.Marker, p.Timestamp, ts, e, want)
			}
		}
		ts += uint32(frames) * 160
	}
	r.tick() // the job ends: this slot plays again
	if err := <-res; err != nil {
		t.Fatalf("SendDigits: %v", err)
	}
	p := r.recvRTP()
	if !bytes.Equal(p.Payload, numbered(2)) || !p.Marker || p.Timestamp != ts || p.PayloadType != 0 {
		t.Fatalf("after the digits: frame %v marker %v ts %d (want %d)", p.Payload[:4], p.Marker, p.Timestamp, ts)
	}
}

// Cancelling SendDigits mid-tone ends the tone at once with its end
// packets (the duration sent so far) and sends nothing more.
func TestSendDigitsCancel(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	res := r.sendDigitsAsync(ctx, "12")
	r.tick()
	r.tick()
	cancel()
	// SendDigits marks the job stopped, then waits for the end packets,
	// which the next ticks send.
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.c.tickMu.Lock()
		stopped := r.c.digits.stop
		r.c.tickMu.Unlock()
		if stopped {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("SendDigits did not stop the job")
		}
		time.Sleep(time.Millisecond)
	}
	var events []rtpio.Event
	for range 6 {
		r.tick()
	}
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Fatalf("SendDigits after cancel: %v", err)
	}
	for {
		p := r.tryRTP()
		if p == nil {
			break
		}
		if p.PayloadType == 101 {
			e, _ := rtpio.ParseEvent(p.Payload)
			events = append(events, e)
		}
	}
	if len(events) != 5 {
		t.Fatalf("%d event packets, want 2 tone and 3 end: %+v", len(events), events)
	}
	for i, e := range events {
		if e.Code != 1 || e.End != (i >= 2) || e.Duration != min(i+1, 2)*160 {
			t.Fatalf("event packet %d: %+v", i, e)
		}
	}
}

// Digits are checked before anything is sent; a second SendDigits while
// digits go out is refused.
func TestSendDigitsRefusals(t *testing.T) {
	for _, bad := range []string{"", "12x", "1 2", string(bytes.Repeat([]byte{'1'}, MaxDigits+1))} {
		if err := CheckDigits(bad); !errors.Is(err, ErrBadDigits) {
			t.Errorf("CheckDigits(%q) = %v", bad, err)
		}
	}
	if err := CheckDigits("0123456789*#ABCDabcdwW"); err != nil {
		t.Fatalf("every digit: %v", err)
	}
	r := newRig(t, rigOptions{})
	if err := r.c.SendDigits(context.Background(), "1x"); !errors.Is(err, ErrBadDigits) {
		t.Fatalf("bad digit: %v", err)
	}
	res := r.sendDigitsAsync(context.Background(), "1")
	if err := r.c.SendDigits(context.Background(), "2"); !errors.Is(err, ErrSendingDigits) {
		t.Fatalf("second SendDigits: %v", err)
	}
	for range 11 {
		r.tick()
	}
	if err := <-res; err != nil {
		t.Fatal(err)
	}
	r.c.tickMu.Lock()
	r.c.dtmfType = 0
	r.c.tickMu.Unlock()
	if err := r.c.SendDigits(context.Background(), "1"); !errors.Is(err, ErrNoTelephoneEvent) {
		t.Fatalf("without telephone-event: %v", err)
	}
}

// A tick that sends an event packet or a quiet frame of digits allocates
// nothing.
func TestSendDigitsTickAllocs(t *testing.T) {
	r := newRig(t, rigOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	res := r.sendDigitsAsync(ctx, string(bytes.Repeat([]byte("1w"), MaxDigits/2)))
	if n := testing.AllocsPerRun(100, func() { r.tick() }); n != 0 {
		t.Errorf("%v allocations per tick while digits are sent", n)
	}
	cancel()
	for {
		select {
		case err := <-res:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("SendDigits: %v", err)
			}
			return
		default:
			r.tick()
		}
	}
}
