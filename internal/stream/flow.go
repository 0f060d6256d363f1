package stream

import (
	"sync/atomic"
	"time"

	"github.com/callstream/callstream/internal/codec"
)

// FrameDuration is the audio carried by one media message.
const FrameDuration = 20 * time.Millisecond

// MaxFrameBytes is the largest frame a call hands its taps: 20 ms of
// 16 kHz linear PCM (an Opus call's frames, a wideband call's mixed track).
// G.711 and G.722 frames are 160 bytes.
const MaxFrameBytes = 640

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
	TimestampRelative TimestampMode = iota // ms since the flow's first slot
	TimestampAbsolute                      // ms since the Unix epoch of the frame's capture
	TimestampSamples                       // samples since the flow's first slot, at the wire clock (Voximplant)
)

// FlowConfig describes one media flow: the frames of one or more tracks of a
// call sent over a socket between a start and a stop message.
type FlowConfig struct {
	Info       Info
	Tracks     TrackSet
	Clock      time.Time     // wall time of call slot 0 (for absolute timestamps)
	Timestamps TimestampMode // how timestamps are written
	MaxLength  time.Duration // 0 = no limit: after this much audio the flow stops
	// Wire is the format of the media payloads on the socket (the
	// dialect's encoding); the zero Format is µ-law at 8 kHz. Each track's
	// frames are converted to it in the socket's writer goroutine: the
	// bytes themselves when the frame's format is the same encoding.
	Wire codec.Format
}

// Flow is one media stream over a socket. It is a call's tap: Attach fixes
// its first slot, Push is called from the media path and never blocks.
type Flow struct {
	cfg       FlowConfig
	sock      *Socket
	first     Track
	maxFrames uint64
	pushed    [3]atomic.Uint64 // frames accepted per track (media path)
	base      atomic.Uint64    // the flow's first slot, plus one (0: not attached yet)
	stopped   atomic.Bool

	// Writer-goroutine state.
	seq       uint64
	conv      [3]trackConv // per track: the chain from the frames' format to Wire
	bytesSent uint64
	frames    uint64
	startSent bool // its start message went out (on this or an earlier connection)
	stopSent  bool // its stop message went out
}

// Info returns the flow's description.
func (f *Flow) Info() *Info { return &f.cfg.Info }

// Tracks returns the tracks the flow carries.
func (f *Flow) Tracks() TrackSet { return f.cfg.Tracks }

// Wire returns the format of the flow's media payloads on the socket.
func (f *Flow) Wire() codec.Format { return f.cfg.Wire }

// Socket returns the socket the flow runs on.
func (f *Flow) Socket() *Socket { return f.sock }

// Stopped reports whether the flow has been stopped.
func (f *Flow) Stopped() bool { return f.stopped.Load() }

// Wants reports whether the flow takes frames of track t now.
func (f *Flow) Wants(t Track) bool { return f.cfg.Tracks.Has(t) && !f.stopped.Load() }

// Attach fixes the flow's first slot: the frames of every track it carries
// count from start (chunk 1, timestamp 0), so the same slot has the same
// chunk and timestamp on every track. The call attaches a flow once, before
// its first Push; a flow pushed to without Attach starts at the first slot
// pushed. A second Attach changes nothing.
func (f *Flow) Attach(start uint64) { f.base.CompareAndSwap(0, start+1) }

// Push offers one 20 ms frame of track t for slot. Frames before the flow's
// first slot, of other tracks, or past maxLength are ignored; the payload
// is copied (at most MaxFrameBytes). It never blocks nor allocates; when the
// socket's queue is full the oldest frame is dropped and counted.
func (f *Flow) Push(t Track, slot uint64, fr codec.Frame) {
	if !f.cfg.Tracks.Has(t) || f.stopped.Load() {
		return
	}
	if f.base.Load() == 0 {
		f.base.CompareAndSwap(0, slot+1)
	}
	if slot+1 < f.base.Load() {
		return
	}
	n := f.pushed[t].Add(1)
	if f.maxFrames > 0 && n > f.maxFrames {
		return
	}
	f.sock.q.pushMedia(f, t, slot, f.sampleAt(t, n), fr)
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

// offset returns how many slots after the flow's first slot is.
func (f *Flow) offset(slot uint64) uint64 {
	base := f.base.Load() - 1
	if slot < base {
		return 0
	}
	return slot - base
}

// chunk returns a media message's chunk for slot: 1 for the first slot.
func (f *Flow) chunk(slot uint64) uint64 { return f.offset(slot) + 1 }

// timestamp computes a media message's timestamp for slot.
func (f *Flow) timestamp(slot uint64) uint64 {
	switch f.cfg.Timestamps {
	case TimestampAbsolute:
		return uint64(f.cfg.Clock.UnixMilli()) + slot*uint64(FrameDuration/time.Millisecond)
	case TimestampSamples:
		return f.offset(slot) * uint64(f.cfg.Wire.FrameTicks())
	default:
		return f.offset(slot) * uint64(FrameDuration/time.Millisecond)
	}
}
