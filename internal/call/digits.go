package call

import (
	"context"
	"errors"

	"github.com/callstream/callstream/internal/rtpio"
)

// MaxDigits bounds the digits one SendDigits sends.
const MaxDigits = rtpio.MaxDigits

// How SendDigits sends each digit, in 20 ms frames of the media clock: the
// tone's packets (100 ms), its end packet three times (RFC 4733 section
// 2.5.1.4), then nothing; a 'w' waits half a second, as in TwiML.
const (
	digitToneFrames  = 5
	digitEndFrames   = 3
	digitGapFrames   = 2 // with the end packets, 100 ms between tones
	digitPauseFrames = 25
)

// Errors of SendDigits.
var (
	// ErrBadDigits is wrapped by SendDigits' refusal of digits that are
	// not DTMF digits or 'w', or too many.
	ErrBadDigits = rtpio.ErrBadDigits
	// ErrNoTelephoneEvent means the caller did not take RFC 4733
	// telephone events, so digits cannot be sent.
	ErrNoTelephoneEvent = errors.New("call: the caller takes no telephone-event")
	// ErrSendingDigits means digits are being sent on the call already.
	ErrSendingDigits = errors.New("call: digits are being sent already")
)

// CheckDigits reports whether digits can be sent by SendDigits: 1 to
// MaxDigits of '0'-'9', '*', '#', 'A'-'D' (or lower case), and 'w' (or 'W')
// for a half-second pause.
func CheckDigits(digits string) error { return rtpio.CheckDigits(digits) }

// digitJob is one SendDigits in progress, advanced by the media clock
// (under tickMu): one telephone-event packet, or nothing, per tick.
type digitJob struct {
	digits string
	i      int    // the digit being sent
	frame  int    // the frame of that digit
	start  uint32 // the RTP timestamp where its event began
	tone   int    // tone frames sent for it (the event's duration so far)
	buf    [rtpio.EventSize]byte
	stop   bool // cut short: end the tone being sent, send no more (tickMu)
	done   chan struct{}
}

// SendDigits sends digits to the caller as RFC 4733 telephone events on
// the call's RTP, each a 100 ms tone followed by 100 ms without ('w': half
// a second without), and returns once they are sent, or when the call
// ends, or when ctx ends (after the tone being sent got its end packets). It answers an
// unanswered call, unless its early media runs (StartEarlyMedia). While the digits go out, what plays to the caller
// pauses: the media clock sends the events in the place of its frames.
// Digits are never logged above DEBUG.
func (c *Call) SendDigits(ctx context.Context, digits string) error {
	if err := CheckDigits(digits); err != nil {
		return err
	}
	if !c.Answered() && !c.EarlyMedia() {
		if err := c.Answer(); err != nil {
			return err
		}
	}
	job := &digitJob{digits: digits, done: make(chan struct{})}
	c.tickMu.Lock()
	switch {
	case c.over.Load():
		c.tickMu.Unlock()
		return ErrEnded
	case c.dtmfType == 0 || c.dtmfTicks == 0:
		c.tickMu.Unlock()
		return ErrNoTelephoneEvent
	case c.digits != nil:
		c.tickMu.Unlock()
		return ErrSendingDigits
	}
	c.digits = job
	c.tickMu.Unlock()
	c.log.Debug("sending digits", "digits", digits)
	select {
	case <-job.done:
		return nil
	case <-c.Done():
		return ErrEnded
	case <-ctx.Done():
	}
	// The tone being sent gets its end packets (three ticks at most).
	c.tickMu.Lock()
	job.stop = true
	c.tickMu.Unlock()
	select {
	case <-job.done:
	case <-c.Done():
	}
	return ctx.Err()
}

// tickDigits runs the frame of slot n while digits are being sent: one
// telephone-event packet or a quiet frame goes to the caller, silence to
// the outbound track, and the source is not read. It reports false, doing
// nothing, when the job has finished: the slot plays as usual. tickMu must
// be held.
func (c *Call) tickDigits(n uint64, j *digitJob) bool {
	if j.stop && j.i < len(j.digits) {
		_, isDigit := rtpio.EventCode(j.digits[j.i])
		switch {
		case !isDigit || j.frame == 0 || j.frame >= digitToneFrames+digitEndFrames:
			j.i = len(j.digits) // between tones: stop at once
		case j.frame < digitToneFrames:
			j.frame = digitToneFrames // end the tone now
		}
	}
	if j.i >= len(j.digits) {
		c.digits = nil
		close(j.done)
		c.sender.MarkTalkspurt() // what plays next starts a talkspurt
		return false
	}
	d := j.digits[j.i]
	total := digitToneFrames + digitEndFrames + digitGapFrames
	code, isDigit := rtpio.EventCode(d)
	if !isDigit {
		total = digitPauseFrames
	}
	out := c.outFrame[:c.edge.format.MaxFrameBytes()]
	copy(out, c.edge.silence)
	c.outSilent, c.playing = true, false
	switch {
	case !isDigit || j.frame >= digitToneFrames+digitEndFrames:
		c.sendQuiet()
	default:
		c.skipUnsent()
		first := j.frame == 0
		if first {
			j.start = c.sender.Timestamp()
		}
		end := j.frame >= digitToneFrames
		if !end {
			j.tone++
		}
		rtpio.PutEvent(j.buf[:], code, end, j.tone*c.dtmfTicks)
		if err := c.sender.WriteEvent(c.dtmfType, j.start, first, j.buf[:]); err != nil && c.ctx.Err() == nil {
			c.log.Debug("rtp send", "err", err)
		}
		c.quietFor = 0
	}
	c.pushOut(n, out)
	j.frame++
	if j.frame >= total {
		j.i++
		j.frame, j.tone = 0, 0
	}
	return true
}
