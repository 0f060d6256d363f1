package sipcaller

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A gateway that never answers, not even 100 Trying, cannot be sent a
// CANCEL (RFC 3261 9.1): Dial gives the INVITE up when ctx ends instead of
// waiting out the transaction's 32 s.
func TestDialGivesUpOnSilentTarget(t *testing.T) {
	leakCheck(t)
	silent := rtpSocket(t) // reads nothing, answers nothing
	client := newClient(t, ClientConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := client.Dial(ctx, Config{Target: addrOf(silent).String(), From: "a", To: "b"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial: %v", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Dial returned after %s with a 300 ms context", took)
	}
}
