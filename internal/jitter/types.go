package jitter

import "time"

// Packet is one RTP packet of audio as Put takes it.
type Packet struct {
	Seq    uint16 // RTP sequence number: counts reordering, confirms a new source
	TS     uint32 // RTP timestamp: where the audio goes
	SSRC   uint32 // RTP synchronisation source: a new one starts a new timeline
	Marker bool   // RTP marker bit: the first packet of a talkspurt
	// Payload is the audio; Put copies what it keeps and does not retain the slice.
	Payload []byte
	// Units is how many timestamp units the payload covers; read only when
	// the codec is not Divisible (a Divisible codec's length says it).
	// 0 means one slot. A multiple of SamplesPerFrame up to four slots: a
	// longer packet (a 40 or 60 ms Opus packet) goes whole into its first
	// slot, and the slots it also covers pop as Covered.
	Units uint32
}

// Status says what Pop returned for a slot.
type Status uint8

const (
	// NotStarted: no audio has been due yet (before the first packet's slot).
	NotStarted Status = iota
	// Audio: the payload is the slot's audio.
	Audio
	// Partial: part of the slot's audio arrived in time; the rest of the
	// payload is the codec's silence (Config.Silence).
	Partial
	// Lost: nothing was there for the slot at its deadline; the caller
	// conceals it (silence or packet-loss concealment). Between talkspurts
	// of a sender that suppresses silence, every slot is Lost.
	Lost
	// Covered: the payload of an earlier slot, a packet longer than one
	// slot of a codec that is not Divisible, holds this slot's audio.
	Covered
	// Stale: the slot was already popped, or is before the last one popped;
	// nothing is returned. The clock calls Pop with increasing slots.
	Stale
)

var statusNames = [...]string{"not started", "audio", "partial", "lost", "covered", "stale"}

// String names the status.
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "unknown"
}

// Verdict says what Put did with a packet.
type Verdict uint8

const (
	// Placed: the packet's audio is in its slot(s).
	Placed Verdict = iota
	// Late: its slot was already popped; dropped, never placed elsewhere.
	Late
	// Duplicate: the same audio is already held or was played; dropped.
	Duplicate
	// Probation: the packet breaks the timeline (a new SSRC, a timestamp
	// jump of over a second, or a slot too far ahead of the clock); it is
	// kept aside and placed, under a new anchor, only if the next packet
	// continues it (sequence number + 1), so one stray packet cannot move
	// the stream.
	Probation
	// Overflow: its slot is further ahead of the clock than the buffer
	// holds, and nothing confirmed a new timeline; dropped.
	Overflow
	// Misfit: the payload is empty, too large, or its length or timestamp
	// does not fit the codec's slot grid; dropped.
	Misfit
)

var verdictNames = [...]string{"placed", "late", "duplicate", "probation", "overflow", "misfit"}

// String names the verdict.
func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return "unknown"
}

// Stats is a snapshot of a Buffer's estimates and counters, for the call's
// end log line and the gateway's metrics.
type Stats struct {
	Jitter time.Duration // RFC 3550 interarrival jitter estimate
	Delay  time.Duration // the delay applied now: the longest an on-time packet waits
	Target time.Duration // the delay the adaptive buffer heads for (Delay when fixed)

	Packets    uint64 // Put calls
	Placed     uint64 // packets placed (all or part of their audio)
	Late       uint64 // packets of which some audio came after its slot was popped (dropped)
	Duplicates uint64 // packets dropped because their audio was held or played already
	Reordered  uint64 // packets that arrived after one with a higher sequence number and were placed
	Probation  uint64 // packets kept aside as the start of a new timeline
	Overflow   uint64 // packets dropped because they were too far ahead of the clock
	Misfit     uint64 // packets dropped for their length or timestamp

	Frames    uint64 // slots popped with audio (Audio and Partial)
	Partial   uint64 // slots popped with part of their audio
	Covered   uint64 // slots popped as Covered
	Lost      uint64 // slots inside a talkspurt whose audio never arrived (late audio is counted Late instead)
	Concealed uint64 // slots popped as Lost, which the caller concealed; includes pauses between talkspurts
	Skipped   uint64 // slots the clock never popped (it jumped ahead); audio held there was dropped
	Flushed   uint64 // slots of held audio dropped when a sender ran further ahead than the buffer holds

	Reanchors uint64 // new timelines: marker bit, SSRC change, timestamp jump, pause, resync
	Resizes   uint64 // adaptive delay changes between two talkspurt starts, across a lost or empty slot
}
