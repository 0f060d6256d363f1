package call

import (
	"errors"
	"fmt"
	"time"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/jitter"
	"github.com/callstream/callstream/internal/sip"
)

// Jitter buffer delays the gateway takes (--jitter-buffer).
const (
	MinJitterDelay = 20 * time.Millisecond
	MaxJitterDelay = time.Second
)

// ErrJitterBuffer reports a --jitter-buffer value that is neither
// "adaptive" nor a delay the buffer can hold.
var ErrJitterBuffer = errors.New("invalid jitter buffer delay")

// ParseJitterBuffer reads a --jitter-buffer value: "" or "adaptive" (0: the
// delay adapts between 20 and 200 ms), or a fixed delay from 20ms to 1s.
func ParseJitterBuffer(s string) (time.Duration, error) {
	if s == "" || s == "adaptive" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%w: %q is neither \"adaptive\" nor a duration", ErrJitterBuffer, s)
	}
	if d < MinJitterDelay || d > MaxJitterDelay {
		return 0, fmt.Errorf("%w: %v is outside %v to %v", ErrJitterBuffer, d, MinJitterDelay, MaxJitterDelay)
	}
	return d, nil
}

// wireFormat is the format RTP carries for the negotiated codec (looked up
// by its name, clock rate and channels, never its payload type); an error
// when this build has no codec for it.
func wireFormat(sc sip.Codec) (codec.Format, error) {
	f := sc.Format()
	if f.Name == "" {
		return codec.Format{}, fmt.Errorf("%w: %s/%d", codec.ErrUnknownFormat, sc.Name, sc.ClockRate)
	}
	if cd, ok := codec.Lookup(f.Name, f.Clock, f.Channels); !ok || !cd.Available {
		return codec.Format{}, fmt.Errorf("%w: %v", codec.ErrUnavailable, f)
	}
	return f, nil
}

// callFormat is the format of the frames inside a call whose RTP carries
// wire: the wire format itself, except for Opus, decoded at the edge to
// L16 at 16 kHz (its packets cannot be cut into 20 ms pieces).
func callFormat(wire codec.Format) codec.Format {
	if wire.SameEncoding(codec.Opus) {
		return codec.L16(16000)
	}
	return wire
}

// rtpEdge is what turns RTP into the call's frames and back: the inbound
// jitter buffer, and for Opus the decoder and encoder at the edge. Used on
// the media clock goroutine only (the jitter buffer also by the RTP reader,
// through its own lock).
type rtpEdge struct {
	wire    codec.Format // what RTP carries
	format  codec.Format // the frames inside the call
	jb      *jitter.Buffer
	cnType  int // comfort noise payload type; -1: send silence instead
	quiet   []byte
	silence []byte // one frame of call-format silence
	wireSil []byte // one frame of wire-format silence (what plays when nothing does)

	// Opus only.
	dec   codec.Decoder
	enc   codec.Encoder
	pcm   []int16 // decoded samples not yet played (a packet longer than 20 ms)
	pcmAt int     // how much of pcm has played
	out   []byte  // an encoded packet
}

// newRTPEdge builds the edge of a call whose RTP carries wire; delay is the
// jitter buffer's fixed delay (0: adaptive).
func newRTPEdge(wire codec.Format, cnType int, delay time.Duration) (*rtpEdge, error) {
	e := &rtpEdge{wire: wire, format: callFormat(wire), cnType: cnType, quiet: []byte{cnLevel}}
	e.silence = codec.Silence(e.format, make([]byte, 0, maxFrameBytes))
	e.wireSil = codec.Silence(wire, nil)
	jc := jitter.Config{SamplesPerFrame: wire.FrameTicks(), MaxPayload: wire.MaxFrameBytes(), Delay: delay}
	if wire.SameEncoding(codec.Opus) {
		dec, err := codec.NewDecoder(wire.WithRate(e.format.Rate))
		if err != nil {
			return nil, fmt.Errorf("call: opus decoder: %w", err)
		}
		enc, err := codec.NewEncoder(wire.WithRate(e.format.Rate))
		if err != nil {
			return nil, fmt.Errorf("call: opus encoder: %w", err)
		}
		e.dec, e.enc = dec, enc
		e.pcm = make([]int16, 0, 3*e.format.FrameSamples()*4)
		e.out = make([]byte, 0, wire.MaxFrameBytes())
	} else {
		jc.Divisible = true
		jc.Silence = e.wireSil
	}
	jb, err := jitter.New(jc)
	if err != nil {
		return nil, fmt.Errorf("call: jitter buffer: %w", err)
	}
	e.jb = jb
	return e, nil
}

// pop fills dst (one call-format frame) with the caller's audio for slot
// n and reports whether it is audio (false: concealment for a slot whose
// audio did not come in time).
func (e *rtpEdge) pop(n uint64, dst []byte) bool {
	payload, st := e.jb.Pop(n)
	if e.dec == nil {
		switch st {
		case jitter.Audio, jitter.Partial:
			copy(dst, payload)
			return true
		}
		copy(dst, e.silence)
		return false
	}
	return e.popOpus(payload, st, dst)
}

// popOpus decodes the Opus packet of a slot, or plays the rest of a longer
// one (Covered), or conceals a lost slot with the decoder's PLC.
func (e *rtpEdge) popOpus(payload []byte, st jitter.Status, dst []byte) bool {
	n := e.format.FrameSamples()
	audio := true
	switch st {
	case jitter.Audio, jitter.Partial:
		pcm, err := e.dec.Decode(e.pcm[:0], payload)
		if err != nil || len(pcm) < n {
			e.pcm = e.dec.Conceal(e.pcm[:0], n)
			audio = false
		} else {
			e.pcm = pcm
		}
		e.pcmAt = 0
	case jitter.Covered:
		if len(e.pcm)-e.pcmAt < n {
			e.pcm, e.pcmAt = e.dec.Conceal(e.pcm[:0], n), 0
		}
	case jitter.Lost:
		e.pcm, e.pcmAt = e.dec.Conceal(e.pcm[:0], n), 0
		audio = false
	default: // nothing yet: plain silence, the decoder untouched
		copy(dst, e.silence)
		return false
	}
	codec.SamplesToPCM16LE(dst[:0], e.pcm[e.pcmAt:e.pcmAt+n])
	e.pcmAt += n
	return audio
}

// encode returns the RTP payload for one call-format frame.
func (e *rtpEdge) encode(frame []byte) ([]byte, error) {
	if e.enc == nil {
		return frame, nil
	}
	pcm := e.pcm[len(e.pcm):cap(e.pcm)] // scratch past the decoded samples
	if len(pcm) < e.format.FrameSamples() {
		return nil, fmt.Errorf("call: opus encode: no room")
	}
	pcm = codec.PCM16LEToSamples(pcm[:0], frame)
	out, err := e.enc.Encode(e.out[:0], pcm)
	if err != nil {
		return nil, fmt.Errorf("call: opus encode: %w", err)
	}
	return out, nil
}
