// Package jitter is the inbound jitter buffer of a call: it places the
// caller's RTP audio into the slots of the call's 20 ms media clock by RTP
// timestamp, so that audio that arrives late, early, in a burst or out of
// order still plays at its own place, and a slot is concealed only when its
// audio is not there at its deadline.
//
// The Buffer is pure logic: no goroutine, no timer, no allocation per packet
// or slot. The RTP reader calls Put for each audio packet with its arrival
// time; the call's clock calls Pop once per slot when the slot is due.
//
// # Placement
//
// A timeline maps timestamps to slots. It is anchored at a packet (its
// timestamp ts0 and arrival time t0) and a delay D: the anchor packet goes
// to the first slot due at least D/2 after t0, so an on-time packet waits
// between D/2 and D/2 + 20 ms, D on average (with the 20 ms floor: 10 to
// 30 ms) — the sender's packets and the clock's slots have unrelated
// phases, and every packet keeps a margin of at least D/2 for jitter. A
// packet that still comes late raises the target above the delay that
// missed it. Every other packet of the timeline goes to
//
//	slot(ts) = anchorSlot + floor((ts − ts0) / SamplesPerFrame)
//
// with the difference taken modulo 2^32 against the newest timestamp, so it
// is right across the timestamp wrap. Audio of a codec whose bytes follow
// its timestamps (G.711, G.722, L16) is cut at slot boundaries, so packets
// of 10, 30, 40 or 60 ms fill the slots they cover and a slot may be
// assembled from two packets; a slot only partly filled at its deadline
// pops as Partial, the rest being the codec's silence. Packets of other
// codecs (Opus) go whole into the slot of their timestamp.
//
// Audio for a slot already popped is dropped and counted Late, never placed
// elsewhere; audio already held or played is a Duplicate. Packets that
// arrive out of order are placed where they belong.
//
// # New timelines
//
// A new timeline is anchored at a packet
//   - that carries the marker bit after a pause: the first of a talkspurt,
//     after silence suppression (a sender that marks every packet is
//     recognised and its marker bits ignored);
//   - whose timestamp skips at least 60 ms past the audio before while its
//     sequence number follows on and nothing is held: a talkspurt whose
//     sender sets no marker bit;
//   - of a new SSRC;
//   - whose timestamp jumps by over a second either way;
//   - whose slot is further ahead of the clock than the buffer holds;
//   - that is late, a slot after another late one, without catching up: a
//     sender clock slower than ours, or a longer network path.
//
// A new SSRC, a jump and a slot too far ahead need confirmation: the packet
// is kept aside (Probation) and the timeline moves only if the next packet
// continues it, so one stray packet cannot move the stream. A new timeline
// never takes a slot already popped or one before audio still held, except
// the one that replaces a sender running too far ahead: its backlog is
// dropped (Stats.Flushed), which bounds the delay a sender with a fast clock
// can build up to the buffer's size (MaxDelay + 120 ms). Packets of the
// previous timeline that arrive after the new one began still go to their
// own slots while those are not due.
//
// A stall followed by a burst does not start a new timeline: the burst's
// packets land in their own slots, those whose slots passed are Late, and no
// silence is inserted before the audio that follows.
//
// # Delay
//
// A fixed delay (Config.Delay, the gateway's --jitter-buffer) is used for
// every timeline. Otherwise the delay adapts between MinDelay (20 ms) and
// MaxDelay (200 ms): the buffer keeps the RFC 3550 interarrival jitter
// estimate J, and a peak of it that rises with J at once and falls slowly
// (a time constant of about 10 s); the target is 3 × peak + 20 ms. A new
// timeline takes the target, coming down by at most one slot at a time. In
// the middle of a timeline the delay changes only across a slot popped
// Lost: it grows to the target when nothing is held and audio of the
// timeline has come late (the audio that follows waits longer; nothing that
// arrived moves), and shrinks by one slot when
// the next slot's audio is already there (it plays at once in place of the
// concealment). Audio in the middle of speech is never dropped to shrink the
// delay, so a sender that neither pauses nor loses a packet keeps the delay
// it has.
//
// # Counters
//
// Stats gives the jitter estimate, the delay, and counters of packets (placed,
// late, duplicate, reordered, ...) and slots (frames, lost, concealed, ...)
// for the call's end log line and the gateway's metrics.
package jitter
