package rtpio

import (
	"testing"
)

// Every digit maps to its event code and back; anything else is refused.
func TestEventCodes(t *testing.T) {
	for i, d := range []byte("0123456789*#ABCD") {
		code, ok := EventCode(d)
		if !ok || int(code) != i || EventDigit(code) != d {
			t.Fatalf("digit %q: code %d %v, back %q", d, code, ok, EventDigit(code))
		}
	}
	if code, ok := EventCode('b'); !ok || code != 13 {
		t.Fatalf("lower-case b: %d %v", code, ok)
	}
	for _, d := range []byte("wEe x+") {
		if _, ok := EventCode(d); ok {
			t.Fatalf("%q taken as a digit", d)
		}
	}
	if EventDigit(16) != 0 {
		t.Fatal("event 16 (flash) taken as a digit")
	}
	var b [EventSize]byte
	PutEvent(b[:], 11, true, 70000)
	e, ok := ParseEvent(b[:])
	if !ok || e != (Event{Code: 11, End: true, Volume: EventVolume, Duration: 0xFFFF}) {
		t.Fatalf("round trip: %+v %v (bytes % x)", e, ok, b)
	}
	if _, ok := ParseEvent(b[:3]); ok {
		t.Fatal("a 3-byte payload parsed")
	}
}

// An event's packets carry the timestamp where it began and take one
// frame's place each: the audio after them goes on one frame per packet
// later, in sequence; only the packet asked for carries the marker bit.
func TestSenderWriteEvent(t *testing.T) {
	conn := newConn(t)
	dst := newSink(t)
	s := NewSender(conn, dst.addr(), 0)
	if err := s.WriteFrame(make([]byte, frameSamples)); err != nil {
		t.Fatal(err)
	}
	a, _ := dst.read(t)
	start := s.Timestamp()
	if start != a.Timestamp+160 {
		t.Fatalf("Timestamp %d after audio at %d", start, a.Timestamp)
	}
	var ev [EventSize]byte
	for k := range 4 {
		PutEvent(ev[:], 5, k == 3, (k+1)*160)
		if err := s.WriteEvent(101, start, k == 0, ev[:]); err != nil {
			t.Fatal(err)
		}
		p, _ := dst.read(t)
		got, _ := ParseEvent(p.Payload)
		if p.PayloadType != 101 || p.Timestamp != start || p.Marker != (k == 0) ||
			p.SequenceNumber != a.SequenceNumber+1+uint16(k) || got.Code != 5 || got.Duration != (k+1)*160 || got.End != (k == 3) {
			t.Fatalf("event packet %d: pt %d ts %d (want %d) marker %v seq %d %+v", k, p.PayloadType, p.Timestamp, start,
				p.Marker, p.SequenceNumber, got)
		}
	}
	if err := s.WriteFrame(make([]byte, frameSamples)); err != nil {
		t.Fatal(err)
	}
	b, _ := dst.read(t)
	if b.PayloadType != 0 || b.Marker || b.Timestamp != start+4*160 || b.SequenceNumber != a.SequenceNumber+5 {
		t.Fatalf("audio after the event: pt %d marker %v ts %d (want %d) seq %d", b.PayloadType, b.Marker, b.Timestamp,
			start+4*160, b.SequenceNumber)
	}
	if n := testing.AllocsPerRun(50, func() { _ = s.WriteEvent(101, start, false, ev[:]) }); n != 0 {
		t.Errorf("%v allocations per event packet", n)
	}
}
