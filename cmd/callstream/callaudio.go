package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/fetch"
	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/sipcaller"
	"github.com/callstream/callstream/internal/tts"
)

// maxWAVBytes bounds a --wav file: 64 MiB is over half an hour of 16 kHz
// PCM, hours of MP3 (whose decoded length media.DecodeReader bounds).
const maxWAVBytes = 64 << 20

// loadCallAudio reads the WAV or MP3 file at path (media.DecodeReader), or
// the built-in clip when path is empty. It is converted to the call's
// codec once the codec is known.
func loadCallAudio(path string) (*media.Audio, error) {
	var r io.Reader = bytes.NewReader(assets.SpeechWAV())
	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = fetch.LimitReader(f, maxWAVBytes)
	}
	a, err := media.DecodeReader(r, maxCallDuration)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if a.Channels < 1 || a.SampleRate < 4000 || a.SampleRate > 192000 {
		return nil, fmt.Errorf("%s: %d channels at %d Hz: want 1 or more channels at 4 to 192 kHz", path, a.Channels, a.SampleRate)
	}
	return a, nil
}

// callAudio returns what a call speaks, for a call whose codec is f; it
// runs once, after the answer.
type callAudio func(ctx context.Context, f codec.Format) (*media.Audio, error)

// spokenAudio renders text (--say) with synth in voice and language as
// 16-bit PCM at f's rate, resampled once from the synthesizer's rate;
// callPayload then only encodes it.
func spokenAudio(synth *tts.Synth, text, voice, language string) callAudio {
	return func(ctx context.Context, f codec.Format) (*media.Audio, error) {
		pcm, err := synth.Render(ctx, text, voice, language, codec.L16(f.Rate))
		if err != nil {
			return nil, fmt.Errorf("--say: %w", err)
		}
		return &media.Audio{Encoding: media.EncodingPCM16, SampleRate: f.Rate, Channels: 1, Data: pcm}, nil
	}
}

// callPayload converts a, once, for a call in f: the codec's bytes for a
// byte-stream codec (G.711, G.722), or PCM at f's rate for opus, whose
// packets are encoded as they are sent. Audio at a rate the codec package
// does not take is resampled first (media.Resampled).
func callPayload(a *media.Audio, f codec.Format) ([]byte, []int16, error) {
	if f.Name == codec.NameOpus {
		m, err := a.Resampled(f.Rate)
		if err != nil {
			return nil, nil, err
		}
		return nil, codec.PCM16LEToSamples(nil, m.Data), nil
	}
	if a.Channels != 1 || (a.SampleRate != 8000 && a.SampleRate != 16000) {
		rate := 8000
		if f.Rate >= 16000 {
			rate = 16000
		}
		var err error
		if a, err = a.Resampled(rate); err != nil {
			return nil, nil, err
		}
	}
	b, err := a.Encode(f)
	return b, nil, err
}

// talkResult is what happened on an answered call.
type talkResult struct {
	digits   int    // digits sent
	hangupBy string // who ended the call, and why
	byCaller bool   // this side hung up
	sendErr  error  // a failure to send the digits or audio, if any
}

// talk runs an answered call: --digits-delay, --digits, then the audio
// (the WAV file, or --say's text rendered for the call's codec), while
// listening; it ends the call when the far end hangs up, when the
// audio is sent and --linger has passed, at --duration, or when ctx ends.
// The sending goroutine has ended when it returns.
func talk(ctx context.Context, call *sipcaller.Call, audioFor callAudio, o callOptions) talkResult {
	callCtx, cancel := context.WithTimeout(ctx, o.duration)
	defer cancel()
	type sent struct {
		digits int
		err    error
	}
	done := make(chan sent, 1)
	go func() {
		var s sent
		defer func() { done <- s }()
		if o.digitsDelay > 0 {
			t := time.NewTimer(o.digitsDelay)
			defer t.Stop()
			select {
			case <-t.C:
			case <-callCtx.Done():
				return
			case <-call.Ended():
				return
			}
		}
		if o.digits != "" {
			if s.digits, s.err = call.SendDigits(callCtx, o.digits, digitTone, digitGap); s.err != nil {
				return
			}
		}
		audio, err := audioFor(callCtx, call.Format())
		if err != nil {
			s.err = err
			return
		}
		payload, pcm, err := callPayload(audio, call.Format())
		if err != nil {
			s.err = fmt.Errorf("converting the audio to %s: %w", call.Format(), err)
			return
		}
		if payload != nil {
			s.err = call.SendAudio(callCtx, payload)
		} else {
			s.err = call.SendPCM(callCtx, pcm)
		}
	}()

	var (
		res     talkResult
		linger  <-chan time.Time
		pending = true
	)
	for res.hangupBy == "" {
		select {
		case <-call.Ended():
			res.hangupBy = "far end (BYE)"
		case s := <-done:
			pending = false
			res.digits = s.digits
			if s.err != nil && !errors.Is(s.err, sipcaller.ErrCallEnded) && callCtx.Err() == nil {
				res.sendErr = s.err
			}
			t := time.NewTimer(o.linger)
			defer t.Stop()
			linger = t.C
		case <-linger:
			res.hangupBy, res.byCaller = "caller (audio sent, --linger passed)", true
		case <-callCtx.Done():
			res.hangupBy, res.byCaller = "caller (--duration reached)", true
			if ctx.Err() != nil {
				res.hangupBy = "caller (interrupted)"
			}
		}
	}
	if res.byCaller {
		hctx, hcancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := call.Hangup(hctx); err != nil {
			res.sendErr = errors.Join(res.sendErr, err)
		}
		hcancel()
	}
	cancel()
	if pending {
		res.digits = (<-done).digits
	}
	return res
}

// printCallSummary prints what the call sent and heard, one "name: value"
// line each.
func printCallSummary(w io.Writer, call *sipcaller.Call, res talkResult, d time.Duration) {
	st := call.ReceiveStats()
	frame := codec.FrameDuration.Seconds()
	fmt.Fprintf(w, "duration:  %.2fs\n", d.Seconds())
	fmt.Fprintf(w, "rtp sent:  %d packets\n", call.Sent())
	fmt.Fprintf(w, "rtp heard: %d packets (%d audio, %d comfort noise, %d dtmf, %d other)\n",
		st.Packets, st.Audio, st.CN, st.DTMF, st.Other)
	fmt.Fprintf(w, "digits:    %d sent\n", res.digits)
	fmt.Fprintf(w, "heard:     %.2fs of audio, %.2fs not silent\n",
		float64(st.Audio)*frame, float64(st.Audio-st.Silent)*frame)
	fmt.Fprintf(w, "hangup:    %s\n", res.hangupBy)
}

// writeRecording writes the audio the call heard to path as a 16-bit PCM
// WAV file at the codec's rate.
func writeRecording(path string, call *sipcaller.Call) error {
	pcm, decodeErr := call.HeardPCM() // a payload the decoder refused is concealed
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	err = media.WriteWAV(f, media.EncodingPCM16, call.Format().Rate, codec.SamplesToPCM16LE(nil, pcm))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && decodeErr != nil {
		err = fmt.Errorf("written, with concealment: %w", decodeErr)
	}
	return err
}
