package sipcaller

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// SendDigits sends each digit as one event (its packets share a
// timestamp), skips the time of the gaps and of a 'w' in the timestamps,
// and checks every character before sending any.
func TestSendDigits(t *testing.T) {
	gw := rtpSocket(t)
	handler, invites := answering(gw)
	e := newEnv(t, handler)
	call := e.dial(Config{DTMF: true})
	recvInvite(t, invites)

	if _, err := call.SendDigits(t.Context(), "12x", 40*time.Millisecond, 0); !errors.Is(err, ErrBadDigit) {
		t.Fatalf("bad digit: %v", err)
	}
	if _, err := call.SendDigits(t.Context(), strings.Repeat("1", MaxDigits+1), 0, 0); !errors.Is(err, ErrBadDigit) {
		t.Fatalf("too many digits: %v", err)
	}
	if call.Sent() != 0 {
		t.Fatalf("%d packets sent for refused digits", call.Sent())
	}
	n, err := call.SendDigits(t.Context(), "1w#", 40*time.Millisecond, 60*time.Millisecond)
	if err != nil || n != 2 {
		t.Fatalf("SendDigits: %d, %v", n, err)
	}
	// Two packets a digit for a 40 ms tone, the last one three times.
	pkts := readRTP(t, gw, 8)
	if call.Sent() != 8 {
		t.Errorf("Sent: %d, want 8", call.Sent())
	}
	one, hash := pkts[:4], pkts[4:]
	for i, p := range pkts {
		ev := one[0]
		if i >= 4 {
			ev = hash[0]
		}
		if p.PayloadType != 101 || p.Timestamp != ev.Timestamp || p.Marker != (i%4 == 0) {
			t.Errorf("packet %d: %+v", i, p.Header)
		}
	}
	if one[0].Payload[0] != 1 || hash[0].Payload[0] != 11 {
		t.Errorf("events %d, %d; want 1, 11", one[0].Payload[0], hash[0].Payload[0])
	}
	// 40 ms tone + 60 ms gap + 500 ms wait, at 8 kHz.
	if d := hash[0].Timestamp - one[0].Timestamp; d != 8*(40+60+500) {
		t.Errorf("timestamps %d apart, want %d", d, 8*600)
	}
	noDTMF := e.dial(Config{})
	if _, err := noDTMF.SendDigits(t.Context(), "1", 0, 0); !errors.Is(err, ErrNoDTMF) {
		t.Fatalf("without telephone-event: %v", err)
	}
}
