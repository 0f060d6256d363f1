package call

import (
	"errors"
	"fmt"

	"github.com/callstream/callstream/internal/sip"
)

// ErrEarlyLateOffer means early media was asked of a call whose INVITE
// carried no SDP offer (sip.ErrEarlyLateOffer).
var ErrEarlyLateOffer = sip.ErrEarlyLateOffer

// StartEarlyMedia starts the media of an incoming call before its answer:
// it opens the RTP port, sends 183 Session Progress with the SDP answer
// and runs the media (RTP both ways, the jitter buffer, the clock ticks)
// without answering the call. From then on what plays to the call (its
// source, digits) reaches the caller and taps get both tracks. The call
// stays unanswered: Hangup and Reject refuse it with a final response
// (never BYE), and a later Answer sends the 200 OK with the same SDP and
// keeps the media running as it is. It is a no-op on a call already
// answered or in early media. A late offer (an INVITE without SDP)
// returns an error wrapping ErrEarlyLateOffer, an outgoing call an error.
func (c *Call) StartEarlyMedia() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.answered || c.started:
		return nil
	case c.ended:
		return ErrEnded
	case c.inv == nil:
		return errors.New("early media: the call is outgoing")
	case c.inv.LateOffer:
		return fmt.Errorf("early media: %w", ErrEarlyLateOffer)
	case len(c.inv.Offer.Codecs) == 0:
		return fmt.Errorf("early media: %w", sip.ErrNoCommonCodec)
	}
	conn, err := c.cfg.Ports.Listen(c.cfg.RTPIP)
	if err != nil {
		return fmt.Errorf("early media: rtp port: %w", err)
	}
	c.resetTickLocked()
	agreed, err := c.inv.EarlyMedia(conn.LocalAddr())
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("early media: %w", err)
	}
	c.conn = conn
	c.offeredType, c.renumbered = agreed.OfferedType, false
	if err := c.startMediaLocked(agreed.Codec, agreed.DTMFType, agreed.DTMFClock, agreed.CNType); err != nil {
		_ = conn.Close()
		c.conn = nil
		return fmt.Errorf("early media: %w", err)
	}
	c.log.Info("early media started", "codec", c.wire.String(), "rtp_local", conn.LocalAddr(), "rtp_remote", c.dlg.RemoteRTP())
	return nil
}

// EarlyMedia reports whether the call's media runs before its answer.
func (c *Call) EarlyMedia() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.started && !c.answered && !c.ended
}

// answerEarlyLocked answers a call in early media: the 200 OK repeats the
// 183's SDP on the port the media already uses, which runs on untouched.
func (c *Call) answerEarlyLocked() error {
	if _, err := c.inv.Accept(c.conn.LocalAddr()); err != nil {
		c.noteAnswerErrLocked(err)
		return fmt.Errorf("answer: %w", err)
	}
	c.markAnsweredLocked()
	return nil
}
