package sipcaller

import (
	"context"
	"fmt"
	"time"

	"github.com/callstream/callstream/internal/rtpio"
)

// DigitEvent is one RFC 4733 telephone event the call received: the
// packets that share its RTP timestamp.
type DigitEvent struct {
	Digit     byte   // '0'-'9', '*', '#', 'A'-'D'; 0 for an event that is not a digit
	Timestamp uint32 // the event's RTP timestamp, where it began
	Marker    bool   // its first packet carried the marker bit
	Packets   int    // packets received, end packets included
	Ends      int    // packets with the end bit
	Duration  int    // the longest duration received, in telephone-event clock units
	First     time.Time
	Last      time.Time // arrival of its first and last packets
}

// DigitEvents groups the telephone-event packets (payload type pt) of
// packets by timestamp, in the order their events began to arrive.
// Payloads shorter than an event are skipped.
func DigitEvents(pt uint8, packets []Packet) []DigitEvent {
	var events []DigitEvent
	index := make(map[uint32]int)
	for _, p := range packets {
		if p.PayloadType != pt {
			continue
		}
		e, ok := rtpio.ParseEvent(p.Payload)
		if !ok {
			continue
		}
		i, seen := index[p.Timestamp]
		if !seen {
			i = len(events)
			index[p.Timestamp] = i
			events = append(events, DigitEvent{Digit: rtpio.EventDigit(e.Code), Timestamp: p.Timestamp,
				First: p.Arrival})
		}
		d := &events[i]
		d.Packets++
		d.Marker = d.Marker || p.Marker
		if e.End {
			d.Ends++
		}
		d.Duration = max(d.Duration, e.Duration)
		d.Last = p.Arrival
	}
	return events
}

// DigitEvents returns the telephone events received so far on the call's
// negotiated telephone-event payload type (none without DTMF).
func (c *Call) DigitEvents() []DigitEvent {
	if c.dtmfPT == 0 {
		return nil
	}
	return DigitEvents(c.dtmfPT, c.Received())
}

// ReceivedDigits returns the digits of the telephone events received so
// far, in order.
func (c *Call) ReceivedDigits() string {
	var b []byte
	for _, e := range c.DigitEvents() {
		if e.Digit != 0 {
			b = append(b, e.Digit)
		}
	}
	return string(b)
}

// WaitDigits waits until the call has received telephone events for at
// least len(digits) digits, each ended (an end packet arrived), and
// returns an error when they are not digits in that order.
func (c *Call) WaitDigits(ctx context.Context, digits string) error {
	if c.dtmfPT == 0 {
		return ErrNoDTMF
	}
	var got []DigitEvent
	err := c.WaitReceived(ctx, fmt.Sprintf("%d ended digit events", len(digits)), func(ps []Packet) bool {
		got = DigitEvents(c.dtmfPT, ps)
		ended := 0
		for _, e := range got {
			if e.Ends > 0 {
				ended++
			}
		}
		return ended >= len(digits)
	})
	if err != nil {
		return err
	}
	var b []byte
	for _, e := range got {
		b = append(b, e.Digit)
	}
	if string(b) != digits {
		return fmt.Errorf("sipcaller: received digits %q, want %q", b, digits)
	}
	return nil
}
