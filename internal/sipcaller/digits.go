package sipcaller

import (
	"context"
	"fmt"
	"time"

	"github.com/callstream/callstream/internal/rtpio"
)

// MaxDigits bounds the digits one SendDigits call sends.
const MaxDigits = rtpio.MaxDigits

// digitWait is how long a 'w' in SendDigits waits, as in TwiML.
const digitWait = 500 * time.Millisecond

// CheckDigits returns an error wrapping ErrBadDigit unless digits holds
// only 0-9, *, #, A-D (a-d) and w (a half-second wait), at most MaxDigits
// of them.
func CheckDigits(digits string) error {
	if digits == "" {
		return nil
	}
	if err := rtpio.CheckDigits(digits); err != nil {
		return fmt.Errorf("%w: %w", ErrBadDigit, err)
	}
	return nil
}

// SendDigits sends digits one after another as RFC 4733 events (SendDTMF),
// each a tone of about tone followed by gap without packets; a 'w' waits
// half a second. Every character is checked (CheckDigits) before any is
// sent. It returns the number of digits sent, and stops early when ctx is
// done or the call ends.
func (c *Call) SendDigits(ctx context.Context, digits string, tone, gap time.Duration) (int, error) {
	if err := CheckDigits(digits); err != nil {
		return 0, err
	}
	if len(digits) > 0 && c.dtmfPT == 0 {
		return 0, ErrNoDTMF
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	sent := 0
	for i := range len(digits) {
		d := digits[i]
		if d == 'w' || d == 'W' {
			if err := c.pause(ctx, timer, digitWait); err != nil {
				return sent, err
			}
			continue
		}
		if err := ctx.Err(); err != nil {
			return sent, err
		}
		if err := c.SendDTMF(d, tone); err != nil {
			return sent, err
		}
		sent++
		if err := c.pause(ctx, timer, gap); err != nil {
			return sent, err
		}
	}
	return sent, nil
}

// pause waits d (on timer, stopped) without sending and moves the RTP
// timestamp over it in whole frames, so what is sent next carries the
// time it is sent at.
func (c *Call) pause(ctx context.Context, timer *time.Timer, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	c.sendMu.Lock()
	c.ts += uint32(int(d/frameDuration) * c.format.FrameTicks())
	c.sendMu.Unlock()
	return c.waitUntil(ctx, timer, time.Now().Add(d))
}

// Sent returns the number of RTP packets the call has sent: audio, comfort
// noise and telephone events.
func (c *Call) Sent() int {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	return c.sent
}

// Answer returns the status code and reason phrase of the final response
// that answered the call (200 OK).
func (c *Call) Answer() (int, string) {
	res := c.dlg.InviteResponse
	return res.StatusCode, res.Reason
}
