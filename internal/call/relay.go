package call

import (
	"sync"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/stream"
)

// Relay sizes, in 20 ms frames.
const (
	relayRing  = 16 // frames held at most (320 ms); older ones are dropped
	relayPrime = 2  // frames held before playing starts (and again after an underrun)
	relayMax   = 6  // more held than this is trimmed back to relayPrime
)

// Relay carries one call's inbound audio to another unit: it is a Tap on
// the first call and the Source of the other (a call, a recorder). The
// writer (the first call's RTP goroutine) and the reader (the media
// clock) run at the same rate but not in step, so the relay holds
// relayPrime frames of jitter room and trims back when it holds more than
// relayMax, keeping the added delay between 20 and 120 ms.
//
// Frames are kept in the format of the call the relay plays to (UseFormat,
// which SetSource calls; PCMU until then): the bytes as they came when both
// calls speak the same codec, else converted once per frame on the way in
// (codec.Convert, built when the first frame of a new format arrives).
type Relay struct {
	mu     sync.Mutex
	ring   [relayRing][maxFrameBytes]byte
	w, r   uint64 // frames written and read
	primed bool
	to     codec.Format // what ReadFrame plays
	from   codec.Format // what the chain conv converts from
	conv   codec.Writer[[]byte]

	underruns, trimmed, dropped uint64
}

// NewRelay returns an empty relay.
func NewRelay() *Relay { return &Relay{to: codec.PCMU} }

// Wants implements Tap: the relay takes the inbound track.
func (r *Relay) Wants(t stream.Track) bool { return t == stream.TrackInbound }

// Attach implements Tap.
func (r *Relay) Attach(uint64) {}

// UseFormat implements FormatSource: frames are played in f from now on.
func (r *Relay) UseFormat(f codec.Format) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f != r.to {
		r.to, r.conv = f, nil
		r.w, r.r, r.primed = 0, 0, false
	}
}

// Push implements Tap.
func (r *Relay) Push(t stream.Track, _ uint64, fr codec.Frame) {
	if t != stream.TrackInbound {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if fr.Format.SameEncoding(r.to) {
		r.store(fr.Payload)
		return
	}
	if r.conv == nil || fr.Format != r.from {
		// Once per pair of formats, not per frame.
		sink := codec.NewSink("relay", r.to.Rate, func(b []byte) error {
			r.store(b)
			return nil
		})
		conv, err := codec.Convert(fr.Format, r.to, sink)
		if err != nil {
			r.dropped++
			return
		}
		r.conv, r.from = conv, fr.Format
	}
	if r.conv.WriteFrame(fr.Payload) != nil {
		r.dropped++
	}
}

// store keeps one frame in the relay's format. r.mu must be held.
func (r *Relay) store(frame []byte) {
	if r.w-r.r == relayRing {
		r.r++
	}
	slot := &r.ring[r.w%relayRing]
	n := copy(slot[:], frame)
	clear(slot[n:])
	r.w++
}

// ReadFrame implements Source: the oldest frame held, or false (silence)
// while the relay is priming.
func (r *Relay) ReadFrame(dst []byte) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	held := r.w - r.r
	if !r.primed {
		if held < relayPrime {
			return false
		}
		r.primed = true
	}
	if held == 0 {
		r.primed = false
		r.underruns++
		return false
	}
	if held > relayMax {
		r.r = r.w - relayPrime
		r.trimmed++
	}
	copy(dst, r.ring[r.r%relayRing][:len(dst)])
	r.r++
	return true
}

// Stats returns how often the relay ran empty and how often it trimmed.
func (r *Relay) Stats() (underruns, trimmed uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.underruns, r.trimmed
}
