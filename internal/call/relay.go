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
type Relay struct {
	mu     sync.Mutex
	ring   [relayRing][frameBytes]byte
	w, r   uint64 // frames written and read
	primed bool

	underruns, trimmed uint64
}

// NewRelay returns an empty relay.
func NewRelay() *Relay { return &Relay{} }

// Wants implements Tap: the relay takes the inbound track.
func (r *Relay) Wants(t stream.Track) bool { return t == stream.TrackInbound }

// Attach implements Tap: the relay takes frames from whatever slot.
func (r *Relay) Attach(uint64) {}

// Push implements Tap.
func (r *Relay) Push(t stream.Track, _ uint64, fr codec.Frame) {
	if t != stream.TrackInbound {
		return
	}
	frame := fr.Payload
	r.mu.Lock()
	if r.w-r.r == relayRing {
		r.r++
	}
	copy(r.ring[r.w%relayRing][:], frame)
	r.w++
	r.mu.Unlock()
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
	copy(dst, r.ring[r.r%relayRing][:])
	r.r++
	return true
}

// Stats returns how often the relay ran empty and how often it trimmed.
func (r *Relay) Stats() (underruns, trimmed uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.underruns, r.trimmed
}
