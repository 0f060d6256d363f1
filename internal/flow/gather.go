package flow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/callstream/callstream/flexml"
	"github.com/callstream/callstream/internal/call"
	"github.com/callstream/callstream/internal/logsafe"
)

// Why a Gather stopped collecting, for its log line.
const (
	gatherNumDigits = "numDigits"
	gatherFinishKey = "finishOnKey"
	gatherTimeout   = "timeout"
	gatherFull      = "limit"
)

// gather runs a <Gather>: its prompts play until the caller's first digit
// (which cuts the one playing at once), then digits are collected until
// numDigits, finishOnKey or timeout (counted from the end of the prompts
// and again after each digit). With digits and an action, or with
// actionOnEmptyResult, it returns the action request that ends the
// document; otherwise nil, and the document goes on.
func (r *run) gather(ctx context.Context, g *flexml.Gather) (*redirect, error) {
	// The caller's keys, from the RTP goroutine: the first one stops the
	// prompts. The queue holds more than a Gather takes; keys beyond it are
	// dropped, never waited for. The subscription comes before the answer,
	// so that a key pressed as soon as the call is answered counts.
	keys := make(chan byte, flexml.MaxGatherDigits+1)
	prompts, stopPrompts := context.WithCancel(ctx)
	defer stopPrompts()
	unsubscribe := r.c.OnDTMF(func(d byte) {
		stopPrompts()
		select {
		case keys <- d:
		default:
		}
	})
	defer unsubscribe()
	if err := r.c.Answer(); err != nil {
		return nil, err
	}

	for _, p := range g.Prompts {
		if prompts.Err() != nil {
			break
		}
		// A prompt cut short by a key is no error.
		if err := r.prompt(prompts, p); err != nil && prompts.Err() == nil {
			return nil, err
		}
	}
	if ctx.Err() != nil {
		return nil, call.ErrEnded
	}

	var got []byte
	why := gatherTimeout
	timer := time.NewTimer(g.Timeout)
	defer timer.Stop()
collect:
	for {
		select {
		case d := <-keys:
			if g.FinishOnKey != "" && d == g.FinishOnKey[0] {
				why = gatherFinishKey
				break collect
			}
			got = append(got, d)
			switch {
			case g.NumDigits > 0 && len(got) >= g.NumDigits:
				why = gatherNumDigits
				break collect
			case len(got) >= flexml.MaxGatherDigits:
				why = gatherFull
				break collect
			}
			timer.Reset(g.Timeout)
		case <-timer.C:
			break collect
		case <-ctx.Done():
			return nil, call.ErrEnded
		}
	}
	digits := string(got)
	// The digits are the caller's secret (a PIN, a card number): DEBUG only.
	r.log.Debug("gather: digits", "digits", digits)
	r.log.Info("gather ended", "collected", len(got), "ended_by", why)
	if g.Action == "" || digits == "" && !g.ActionOnEmptyResult {
		return nil, nil
	}
	return r.action(g.Action, g.Method, Results{Digits: &digits})
}

// prompt runs one of a Gather's prompts until it ends or ctx does (the
// caller pressed a key).
func (r *run) prompt(ctx context.Context, v flexml.Verb) error {
	switch v := v.(type) {
	case *flexml.Play:
		return r.playVerb(ctx, v)
	case *flexml.Pause:
		return pause(ctx, v.Length)
	case *flexml.Say:
		return r.say(ctx, v)
	}
	return fmt.Errorf("%s: prompt %s cannot run", logsafe.URL(r.docURL), v.VerbName())
}

// action is the request for a verb's action URL, resolved against the
// document's: it ends the document, and the app's answer runs next, with
// the verb's results among the request's fields.
func (r *run) action(ref, method string, res Results) (*redirect, error) {
	u, err := resolve(r.docURL, ref)
	if err != nil {
		return nil, fmt.Errorf("action %q: %w", logsafe.URL(ref), err)
	}
	return &redirect{Method: method, URL: u, Results: res}, nil
}

// sendDigits sends DTMF digits to the caller (<Dtmf>, <Play digits>). A
// call whose caller takes no telephone events goes on without them.
func (r *run) sendDigits(ctx context.Context, digits string) error {
	err := r.c.SendDigits(ctx, digits)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, call.ErrEnded) || ctx.Err() != nil:
		return call.ErrEnded
	case errors.Is(err, call.ErrNoTelephoneEvent):
		r.log.Warn("digits not sent: the caller did not offer telephone-event (RFC 4733)")
		return nil
	}
	return fmt.Errorf("send digits: %w", err)
}

// pause waits for d, or until ctx ends.
func pause(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
