package stream

import (
	"github.com/callstream/callstream/internal/codec"
	"sync/atomic"
	"time"
)

// FrameDuration is the audio carried by one media message.
const FrameDuration = 20 * time.Millisecond

// TrackSet is a set of tracks.
type TrackSet uint8

// Has reports whether t is in the set.
func (s TrackSet) Has(t Track) bool { return s&(1<<t) != 0 }

// With returns the set with t added.
func (s TrackSet) With(t Track) TrackSet { return s | 1<<t }

// Tracks lists the set in wire order (inbound, outbound, mixed).
func (s TrackSet) Tracks() []Track {
	var out []Track
	for t := TrackInbound; t <= TrackMixed; t++ {
		if s.Has(t) {
			out = append(out, t)
		}
	}
	return out
}

// TimestampMode says how a media message's timestamp is written.
type TimestampMode uint8

// Timestamp modes.
const (
	TimestampRelative TimestampMode = iota // ms since the flow's first frame
	TimestampAbsolute                      // ms since the Unix epoch of the frame's capture
	TimestampSamples                       // samples since the flow's first frame, at the wire rate (Voximplant)
)

// FrameEncoder turns one 20 ms µ-law frame into the wire encoding of a flow.
// It runs in the socket's writer goroutine, never on the media path.
type FrameEncoder interface {
	// Encode appends the encoded frame to dst.
	Encode(dst []byte, ulaw []byte) []byte
	// SamplesPerFrame is the number of samples of 20 ms at the wire rate.
	SamplesPerFrame() int
}

// FlowConfig describes one media flow: the frames of one or more tracks of a
// call sent over a socket between a start and a stop message.
type FlowConfig struct {
	Info       Info
	Tracks     TrackSet
	Clock      time.Time     // wall time of call frame index 0 (for absolute timestamps)
	Timestamps TimestampMode // how timestamps are written
	MaxLength  time.Duration // 0 = no limit: after this much audio the flow stops
	Encoder    FrameEncoder  // nil: µ-law as is
}

// Flow is one media stream over a socket. Push is called from the media path
// and never blocks.
type Flow struct {
	cfg       FlowConfig
	sock      *Socket
	first     Track
	maxFrames uint64
	pushed    [3]atomic.Uint64 // frames accepted per track (media path)
	base      atomic.Uint64    // call index of the flow's first frame, plus one (0: none yet)
	stopped   atomic.Bool

	// Writer-goroutine state.
	seq       uint64
	chunk     [3]uint64
	bytesSent uint64
	frames    uint64
	startSent bool // its start message went out (on this or an earlier connection)
	stopSent  bool // its stop message went out
}

// Info returns the flow's description.
func (f *Flow) Info() *Info { return &f.cfg.Info }

// Tracks returns the tracks the flow carries.
func (f *Flow) Tracks() TrackSet { return f.cfg.Tracks }

// Socket returns the socket the flow runs on.
func (f *Flow) Socket() *Socket { return f.sock }

// Stopped reports whether the flow has been stopped.
func (f *Flow) Stopped() bool { return f.stopped.Load() }

// Wants reports whether the flow takes frames of track t now.
func (f *Flow) Wants(t Track) bool { return f.cfg.Tracks.Has(t) && !f.stopped.Load() }

// Attach fixes the call slot of the flow's first frame (call.Tap): frames
// of earlier slots are ignored. Without it the flow starts with the first
// frame pushed.
func (f *Flow) Attach(start uint64) { f.base.CompareAndSwap(0, start+1) }

// Push offers one 20 ms frame of track t at call slot index. µ-law frames
// go as they are; A-law and 8 kHz L16 frames are encoded to µ-law here
// for now, other formats are ignored. Frames before the flow's start, of
// other tracks, or past maxLength are ignored. It never blocks; when the
// socket's queue is full the oldest frame is dropped and counted.
func (f *Flow) Push(t Track, index uint64, fr codec.Frame) {
	if !f.cfg.Tracks.Has(t) || f.stopped.Load() {
		return
	}
	payload := fr.Payload
	var ulaw [160]byte
	switch {
	case fr.Format.SameEncoding(codec.PCMU):
	case fr.Format.SameEncoding(codec.PCMA) && len(payload) <= len(ulaw):
		codec.TranscodeALawToULaw(ulaw[:], payload)
		payload = ulaw[:len(payload)]
	case fr.Format == codec.L16(8000) && len(payload) <= 2*len(ulaw):
		for i := range len(payload) / 2 {
			ulaw[i] = codec.PCMToULaw(int16(uint16(payload[2*i]) | uint16(payload[2*i+1])<<8))
		}
		payload = ulaw[:len(payload)/2]
	default:
		return
	}
	if f.base.Load() == 0 {
		// The flow's clock starts with its first frame, whichever track brings it.
		f.base.CompareAndSwap(0, index+1)
	}
	if index+1 < f.base.Load() {
		return
	}
	n := f.pushed[t].Add(1)
	if f.maxFrames > 0 && n > f.maxFrames {
		return
	}
	f.sock.q.pushMedia(f, t, index, f.sampleAt(t, n), payload)
	if f.maxFrames > 0 && n == f.maxFrames && t == f.first {
		f.sock.log.Info("stream reached maxLength", "max_length", f.cfg.MaxLength)
		f.sock.stopFlow(f, true)
	}
}

// PushDTMF sends a dtmf event when the dialect has one. It never blocks:
// when the socket's control queue is full the event is dropped and counted.
func (f *Flow) PushDTMF(digit byte) {
	if f.stopped.Load() {
		return
	}
	f.sock.pushEcho(itemDTMF, f, digit, "")
}

// timestamp computes a media message's timestamp for call frame index.
func (f *Flow) timestamp(index uint64) uint64 {
	base := f.base.Load() - 1
	switch f.cfg.Timestamps {
	case TimestampAbsolute:
		return uint64(f.cfg.Clock.UnixMilli()) + index*uint64(FrameDuration/time.Millisecond)
	case TimestampSamples:
		spf := uint64(160)
		if f.cfg.Encoder != nil {
			spf = uint64(f.cfg.Encoder.SamplesPerFrame())
		}
		return (index - base) * spf
	default:
		return (index - base) * uint64(FrameDuration/time.Millisecond)
	}
}
