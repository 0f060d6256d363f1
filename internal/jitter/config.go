package jitter

import (
	"fmt"
	"time"
)

// SlotDuration is the length of one slot of the media clock: one frame of
// audio. Slot n is due at n × SlotDuration on the clock that calls Pop.
const SlotDuration = 20 * time.Millisecond

// Defaults and bounds of Config.
const (
	// DefaultMinDelay is the adaptive delay's floor when Config.MinDelay is 0.
	DefaultMinDelay = 20 * time.Millisecond
	// DefaultMaxDelay is the adaptive delay's ceiling when Config.MaxDelay is 0.
	DefaultMaxDelay = 200 * time.Millisecond
	// MaxDelayLimit is the largest delay a Config may ask for.
	MaxDelayLimit = time.Second
	// MaxPayloadLimit is the largest Config.MaxPayload: a slot's buffer.
	MaxPayloadLimit = 8192
	// MaxSamplesPerFrame is the largest Config.SamplesPerFrame (20 ms at 192 kHz).
	MaxSamplesPerFrame = 3840
)

// Config says what a Buffer holds. SamplesPerFrame and MaxPayload are
// required; the delays have defaults.
//
//	PCMU, PCMA:  {SamplesPerFrame: 160, MaxPayload: 160, Divisible: true, Silence: 160 × 0xFF (PCMU) or 0xD5 (PCMA)}
//	G.722:       {SamplesPerFrame: 160, MaxPayload: 160, Divisible: true, Silence: one encoded 20 ms silence frame}
//	L16/16000:   {SamplesPerFrame: 320, MaxPayload: 640, Divisible: true, Silence: 640 zero bytes}
//	Opus:        {SamplesPerFrame: 960, MaxPayload: 320}
//
// (G.722 runs a 16 kHz codec on an 8000 Hz RTP clock, RFC 3551: 160
// timestamp units per 20 ms.)
type Config struct {
	// SamplesPerFrame is how many RTP timestamp units one 20 ms slot spans
	// (the codec's RTP clock rate / 50).
	SamplesPerFrame int
	// MaxPayload is the size of each slot's buffer in bytes: for a
	// Divisible codec exactly one 20 ms frame; otherwise the largest
	// payload of one packet (a larger one is refused as Misfit).
	MaxPayload int
	// Divisible says that payload bytes are proportional to timestamp units
	// (G.711, G.722, L16), so a packet of 10, 30, 40 or 60 ms is cut into
	// or assembled from the 20 ms slots its timestamps cover. A codec whose
	// packets cannot be cut (Opus) is not Divisible: each packet goes whole
	// into the slot of its timestamp (see Packet.Units for longer ones).
	Divisible bool
	// Silence is one 20 ms frame of silence in the codec, MaxPayload bytes;
	// required when Divisible: it completes a slot of which only a part
	// arrived (Partial). Copied by New.
	Silence []byte
	// Delay is a fixed delay, from SlotDuration to MaxDelayLimit: the
	// longest an on-time packet waits before its slot is popped (it waits
	// between Delay − SlotDuration and Delay). 0 makes the delay adaptive,
	// between MinDelay and MaxDelay.
	Delay time.Duration
	// MinDelay is the adaptive delay's floor: default DefaultMinDelay, at
	// least SlotDuration.
	MinDelay time.Duration
	// MaxDelay is the adaptive delay's ceiling: default DefaultMaxDelay (or
	// Delay when that is larger), at most MaxDelayLimit. It also bounds how
	// far ahead of the clock a packet is held.
	MaxDelay time.Duration
}

// withDefaults returns c with its defaults filled in, or an error wrapping
// ErrInvalidConfig that names the bad field.
func (c Config) withDefaults() (Config, error) {
	if c.SamplesPerFrame <= 0 || c.SamplesPerFrame > MaxSamplesPerFrame {
		return c, fmt.Errorf("%w: SamplesPerFrame %d is not in 1..%d", ErrInvalidConfig, c.SamplesPerFrame, MaxSamplesPerFrame)
	}
	if c.MaxPayload <= 0 || c.MaxPayload > MaxPayloadLimit {
		return c, fmt.Errorf("%w: MaxPayload %d is not in 1..%d", ErrInvalidConfig, c.MaxPayload, MaxPayloadLimit)
	}
	if c.Divisible && len(c.Silence) != c.MaxPayload {
		return c, fmt.Errorf("%w: Silence has %d bytes, a Divisible codec needs one frame of MaxPayload %d", ErrInvalidConfig, len(c.Silence), c.MaxPayload)
	}
	if c.Delay != 0 && (c.Delay < SlotDuration || c.Delay > MaxDelayLimit) {
		return c, fmt.Errorf("%w: Delay %v is not 0 (adaptive) or in %v..%v", ErrInvalidConfig, c.Delay, SlotDuration, MaxDelayLimit)
	}
	if c.MinDelay == 0 {
		c.MinDelay = DefaultMinDelay
	}
	if c.MaxDelay == 0 {
		c.MaxDelay = max(DefaultMaxDelay, c.Delay, c.MinDelay)
	}
	if c.MinDelay < SlotDuration || c.MinDelay > c.MaxDelay {
		return c, fmt.Errorf("%w: MinDelay %v is not in %v..MaxDelay %v", ErrInvalidConfig, c.MinDelay, SlotDuration, c.MaxDelay)
	}
	if c.MaxDelay > MaxDelayLimit {
		return c, fmt.Errorf("%w: MaxDelay %v is over %v", ErrInvalidConfig, c.MaxDelay, MaxDelayLimit)
	}
	if c.Delay > c.MaxDelay {
		return c, fmt.Errorf("%w: Delay %v is over MaxDelay %v", ErrInvalidConfig, c.Delay, c.MaxDelay)
	}
	return c, nil
}
