package media

import (
	"fmt"

	"github.com/callstream/callstream/internal/codec"
)

// Convert returns audio of format from (whole frames; a short last frame is
// completed with from's silence) as format to, in a new slice: a copy when
// both carry the same bytes, else one codec.Convert chain run over it once.
// Players convert a prompt this way when they load it, never per frame.
func Convert(audio []byte, from, to codec.Format) ([]byte, error) {
	fb := from.MaxFrameBytes()
	if fb == 0 || from.SameEncoding(codec.Opus) {
		return nil, fmt.Errorf("media: convert from %v: %w", from, codec.ErrUnknownFormat)
	}
	frames := (len(audio) + fb - 1) / fb
	out := make([]byte, 0, frames*max(to.MaxFrameBytes(), 1))
	if from.SameEncoding(to) {
		out = append(out, audio...)
		if pad := len(audio) % fb; pad != 0 {
			out = append(out, codec.Silence(from, nil)[pad:]...)
		}
		return out, nil
	}
	sink := codec.NewSink(to.String(), to.Rate, func(b []byte) error {
		out = append(out, b...)
		return nil
	})
	w, err := codec.Convert(from, to, sink)
	if err != nil {
		return nil, fmt.Errorf("media: convert %v to %v: %w", from, to, err)
	}
	last := make([]byte, 0, fb)
	for len(audio) > 0 {
		f := audio[:min(fb, len(audio))]
		audio = audio[len(f):]
		if len(f) < fb {
			last = append(append(last, f...), codec.Silence(from, nil)[len(f):]...)
			f = last
		}
		if err := w.WriteFrame(f); err != nil {
			return nil, fmt.Errorf("media: convert %v to %v: %w", from, to, err)
		}
	}
	return out, nil
}

// Encode returns the audio in format f (a call's Format): the file's PCM,
// A-law or µ-law decoded at its own rate (8 or 16 kHz, mono) and encoded
// once into f, with one resampling when the rates differ, so a 16 kHz
// prompt reaches a wideband call without passing through 8 kHz.
func (a *Audio) Encode(f codec.Format) ([]byte, error) {
	if a.Channels != 1 {
		return nil, errorf(ErrNotMono, "wav: %d channels, want mono", a.Channels)
	}
	var from codec.Format
	switch {
	case a.SampleRate == SampleRate && a.Encoding == EncodingULaw:
		from = codec.PCMU
	case a.SampleRate == SampleRate && a.Encoding == EncodingALaw:
		from = codec.PCMA
	case a.SampleRate == SampleRate || a.SampleRate == 2*SampleRate:
		from = codec.L16(a.SampleRate)
	default:
		return nil, errorf(ErrUnsupportedRate, "wav: %d Hz, want %d or %d", a.SampleRate, SampleRate, 2*SampleRate)
	}
	data := a.Data
	if from.Name == codec.NameL16 && a.Encoding != EncodingPCM16 {
		data = codec.SamplesToPCM16LE(nil, a.samples())
	}
	if from.Name == codec.NameL16 && len(data)%2 != 0 {
		return nil, errorf(ErrMalformed, "wav: PCM16 data length %d is odd", len(data))
	}
	return Convert(data, from, f)
}
