package rtpio

import (
	"errors"
	"fmt"
)

// RFC 4733 telephone-event payloads: the DTMF digits are events 0-15.

// MaxDigits bounds a digit string to send (CheckDigits).
const MaxDigits = 64

// ErrBadDigits is wrapped by CheckDigits' refusals.
var ErrBadDigits = errors.New("invalid digits")

// CheckDigits reports whether digits is a digit string to send as
// telephone events: 1 to MaxDigits of '0'-'9', '*', '#', 'A'-'D' (or lower
// case), and 'w' (or 'W') for a half-second pause, as in TwiML.
func CheckDigits(digits string) error {
	switch {
	case digits == "":
		return fmt.Errorf("%w: no digits", ErrBadDigits)
	case len(digits) > MaxDigits:
		return fmt.Errorf("%w: %d characters, at most %d", ErrBadDigits, len(digits), MaxDigits)
	}
	for i := range len(digits) {
		d := digits[i]
		if _, ok := EventCode(d); !ok && d != 'w' && d != 'W' {
			return fmt.Errorf("%w: %q at %d is not a DTMF digit (0-9, *, #, A-D) or w", ErrBadDigits, d, i+1)
		}
	}
	return nil
}

// EventSize is the size of a telephone-event payload.
const EventSize = 4

// eventDigits lists the DTMF digits by their event code.
const eventDigits = "0123456789*#ABCD"

// EventCode returns the RFC 4733 event code of a DTMF digit ('0'-'9', '*',
// '#', 'A'-'D', also 'a'-'d'), and false for anything else.
func EventCode(digit byte) (byte, bool) {
	switch {
	case digit >= '0' && digit <= '9':
		return digit - '0', true
	case digit == '*':
		return 10, true
	case digit == '#':
		return 11, true
	case digit >= 'A' && digit <= 'D':
		return 12 + digit - 'A', true
	case digit >= 'a' && digit <= 'd':
		return 12 + digit - 'a', true
	}
	return 0, false
}

// EventDigit returns the DTMF digit of an RFC 4733 event code, and 0 for
// events that are not digits.
func EventDigit(code byte) byte {
	if int(code) < len(eventDigits) {
		return eventDigits[code]
	}
	return 0
}

// EventVolume is the power of the tones events describe: -10 dBm0.
const EventVolume = 10

// PutEvent writes the telephone-event payload of event code into dst
// (EventSize bytes): end marks the event's final packets, duration is in
// units of the telephone-event clock (saturated at 0xFFFF).
func PutEvent(dst []byte, code byte, end bool, duration int) {
	_ = dst[EventSize-1]
	dst[0] = code
	dst[1] = EventVolume
	if end {
		dst[1] |= 0x80
	}
	duration = min(max(duration, 0), 0xFFFF)
	dst[2], dst[3] = byte(duration>>8), byte(duration)
}

// Event is a decoded telephone-event payload.
type Event struct {
	Code     byte
	End      bool
	Volume   byte
	Duration int
}

// ParseEvent decodes a telephone-event payload; ok is false when it is
// shorter than EventSize.
func ParseEvent(payload []byte) (e Event, ok bool) {
	if len(payload) < EventSize {
		return Event{}, false
	}
	return Event{Code: payload[0], End: payload[1]&0x80 != 0, Volume: payload[1] & 0x3f,
		Duration: int(payload[2])<<8 | int(payload[3])}, true
}
