package call

import "time"

// laneStep is how far apart the clock's lanes tick.
const laneStep = frame / lanes

// inboundMargin is how much later than half the jitter buffer's delay the
// first packet of a talkspurt is taken, at least: the margin for jitter
// beyond half the delay.
const inboundMargin = 5 * time.Millisecond

// inboundAdvance returns how much earlier than its slot's own tick the
// caller's frame of each slot should be taken, given the first audio
// packet's arrival t0 on the call's clock (slot n due at n·20 ms) and half
// the jitter buffer's first delay. The buffer anchors that packet to the
// first slot due at least half after it; the caller's packets and the
// call's lane have unrelated phases, so that packet would wait between
// half and half + 20 ms (10 to 30 ms at the 20 ms floor, 20 on average).
// Taken from the lane whose tick comes first after t0 + half +
// inboundMargin, it waits between half + 5 ms and half + 5 ms + one lane
// step (15 to 20 ms at the floor): 5 ms more margin for jitter than the
// worst case before, and 2.5 ms less delay on average. The result is a
// multiple of laneStep below one frame.
func inboundAdvance(t0, half time.Duration) time.Duration {
	due := t0 + half + inboundMargin
	g := due / laneStep * laneStep // the lane tick at or after due
	if g < due {
		g += laneStep
	}
	r := g % frame
	if r < 0 {
		r += frame
	}
	return (frame - r) % frame
}

// phasedArrival returns the receiver's arrival clock for the call: the
// time since the call's slot 0 was due, advanced by the phase the first
// audio packet chose (see inboundAdvance), whose lane then takes the
// call's inbound frames. It runs on the receiver's goroutine only.
func (c *Call) phasedArrival(delay time.Duration) func() time.Duration {
	zero := c.clock
	chosen := false
	var advance time.Duration
	return func() time.Duration {
		t := time.Since(zero)
		if !chosen {
			chosen = true
			advance = inboundAdvance(t, delay/2)
			steps := int(advance / laneStep)
			c.mclock.moveInbound(c, (c.lane-steps+lanes)%lanes)
		}
		return t + advance
	}
}
