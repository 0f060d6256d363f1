package call

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/callstream/callstream/internal/sip"
)

// Dial places an outgoing call through d and returns at once: the call
// rings until Connected is closed (answered; its media runs from then on)
// or Done is (refused, cancelled, failed: DialErr says why). Hangup before
// the answer cancels the call. dc.LocalRTP is set by Dial.
func Dial(cfg Config, d Dialer, dc sip.DialConfig) *Call {
	if cfg.RTPTimeout <= 0 {
		cfg.RTPTimeout = DefaultRTPTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Invite = nil
	ctx, cancel := context.WithCancel(context.Background())
	c := newCall(cfg, ctx, cancel)
	c.connected = make(chan struct{})
	c.parties = Parties{From: dc.From, FromDisplay: dc.FromDisplay, To: userOf(dc.Target), ToURI: dc.Target, Headers: map[string]string{}, Outgoing: true}
	conn, err := cfg.Ports.Listen(cfg.RTPIP)
	if err != nil {
		c.fail(fmt.Errorf("dial: rtp port: %w", err))
		return c
	}
	c.conn = conn
	dc.LocalRTP = conn.LocalAddr()
	if dc.Logger == nil {
		dc.Logger = c.log
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		o, err := d.Dial(ctx, dc)
		if err != nil {
			c.fail(err)
			return
		}
		c.connect(o)
	}()
	return c
}

// userOf returns the user part of a dial target ("sip:bob@host" -> "bob").
func userOf(target string) string {
	t := strings.TrimSpace(target)
	if i := strings.IndexByte(t, ':'); i >= 0 && strings.EqualFold(t[:i], "sip") {
		t = t[i+1:]
	}
	if i := strings.IndexByte(t, '@'); i >= 0 {
		return t[:i]
	}
	return ""
}

// fail ends an outgoing call that was not answered.
func (c *Call) fail(err error) {
	c.mu.Lock()
	if c.dialErr == nil {
		c.dialErr = err
	}
	local := c.localReason
	c.mu.Unlock()
	reason := "call failed: " + err.Error()
	var de *sip.DialError
	switch {
	case errors.As(err, &de):
		reason = fmt.Sprintf("call failed: %d %s", de.Code, de.Reason)
	case errors.Is(err, sip.ErrDialCancelled) && local != "":
		reason = local
	}
	c.end(reason)
}

// connect starts the media of an answered outgoing call.
func (c *Call) connect(o *sip.Outgoing) {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = o.Hangup(ctx)
		cancel()
		return
	}
	c.dlg = o
	c.parties.From, c.parties.To = o.From, o.To
	c.parties.FromURI, c.parties.ToURI = o.FromURI, o.ToURI
	c.parties.Headers = o.Headers
	c.resetTickLocked()
	if err := c.startMediaLocked(o.Codec, o.DTMFType, o.DTMFClock, o.CNType); err != nil {
		c.localReason = "codec not available"
		c.mu.Unlock()
		c.log.Warn("outgoing call: no media for the answered codec", "codec", o.Codec.Name, "err", err)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = o.Hangup(ctx)
		cancel()
		c.end("codec not available")
		return
	}
	c.answered = true
	c.answeredAt = time.Now()
	c.log.Info("call answered", "codec", c.wire.String(), "rtp_local", c.conn.LocalAddr(), "rtp_remote", o.RemoteRTP())
	close(c.connected)
	c.mu.Unlock()
	o.OnEnd(c.dialogEnded)
}
