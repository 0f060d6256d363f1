package flow

import (
	"context"
	"errors"
	"time"

	"github.com/callstream/callstream/flexml"
	"github.com/callstream/callstream/internal/call"
	"github.com/callstream/callstream/internal/tts"
)

// say speaks a Say verb: it answers the call, renders the text in the
// call's format through the shared synthesizer (and its cache) and plays
// it Loop times (0: until the call ends or ctx ends), LoopPause apart.
// When speech cannot be made (no synthesizer, a failed run) the verb is
// skipped with a log line and say returns nil: the document goes on. It
// returns an error only when the call cannot go on: the answer failed, or
// the call or ctx ended (call.ErrEnded).
func (r *run) say(ctx context.Context, v *flexml.Say) error {
	if err := r.c.Answer(); err != nil {
		return err
	}
	synth := r.in.cfg.TTS
	if synth == nil {
		r.log.Warn("flexml: <Say> skipped: no text to speech configured", "line", v.Line)
		return nil
	}
	f := r.c.Format()
	audio, err := synth.Render(ctx, v.Text, v.Voice, v.Language, f)
	switch {
	case ctx.Err() != nil:
		return call.ErrEnded
	case errors.Is(err, tts.ErrUnavailable):
		r.log.Warn("flexml: <Say> skipped: "+synth.Command()+" not found; install the espeak-ng package",
			"line", v.Line)
		return nil
	case err != nil:
		r.log.Error("flexml: <Say> skipped: text to speech failed", "line", v.Line, "err", err)
		return nil
	}
	if v.LoopPause <= 0 {
		return ended(ctx, r.c.PlayAudio(ctx, audio, f, v.Loop))
	}
	for i := 0; v.Loop == 0 || i < v.Loop; i++ {
		if i > 0 {
			t := time.NewTimer(v.LoopPause)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return call.ErrEnded
			}
		}
		if err := r.c.PlayAudio(ctx, audio, f, 1); err != nil {
			return ended(ctx, err)
		}
	}
	return nil
}

// ended maps the error of playing to the caller: nil stays nil, and the
// call or ctx ending is call.ErrEnded.
func ended(ctx context.Context, err error) error {
	if err != nil && (errors.Is(err, call.ErrEnded) || ctx.Err() != nil) {
		return call.ErrEnded
	}
	return err
}
