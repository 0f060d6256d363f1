package jitter

import "time"

// Adaptive delay tuning.
const (
	// jitterGain is RFC 3550's 1/16 gain of the interarrival jitter estimate.
	jitterGain = 16
	// peakDecay is how slowly the delay target follows the jitter estimate
	// down: 1/512 of the difference per packet, a time constant of about
	// 10 s at 50 packets per second. Up it follows at once.
	peakDecay = 512
	// jitterFactor times the jitter peak, plus one slot, is the target delay.
	jitterFactor = 3
)

// estimator keeps the RFC 3550 interarrival jitter estimate and a peak of
// it that rises at once and falls slowly, from which the target delay is
// computed. All times are in nanoseconds as float64, so no update allocates
// or overflows.
type estimator struct {
	nsPerUnit   float64 // nanoseconds per timestamp unit
	primed      bool    // last* hold the previous packet
	lastArrival time.Duration
	lastTS      uint32
	jitter      float64 // J of RFC 3550 A.8, in ns
	peak        float64 // in ns
	// spike is the largest single transit difference |D| seen, rising at
	// once and decaying like peak: a delay spike (a sender or a host
	// stalled for a moment) that J, averaging over 16 packets, barely
	// notices. Like NetEq's peak detector, it keeps the delay above the
	// spikes of the last seconds, so the next one is absorbed, not lost.
	spike float64 // in ns
}

// restart makes the next packet the first of a new transit baseline: its
// difference from the previous packet is not a jitter sample (a new source,
// a new talkspurt, a timestamp jump).
func (e *estimator) restart() { e.primed = false }

// observe adds one packet: RFC 3550 A.8, D(i-1,i) = (Rj − Ri) − (Sj − Si)
// with the previous packet in arrival order, J += (|D| − J) / 16.
func (e *estimator) observe(ts uint32, arrival time.Duration) {
	if e.primed {
		d := float64(arrival-e.lastArrival) - float64(int32(ts-e.lastTS))*e.nsPerUnit
		if d < 0 {
			d = -d
		}
		e.jitter += (d - e.jitter) / jitterGain
		if d > e.spike {
			e.spike = d
		} else {
			e.spike -= e.spike / peakDecay
		}
		if e.jitter > e.peak {
			e.peak = e.jitter
		} else {
			e.peak += (e.jitter - e.peak) / peakDecay
		}
	}
	e.primed, e.lastArrival, e.lastTS = true, arrival, ts
}

// sawLate records a packet that came too late for a delay of need: the
// target rises to it as it does for a spike.
func (e *estimator) sawLate(need time.Duration) {
	e.spike = max(e.spike, float64(need))
}

// target returns jitterFactor × peak + one slot, or the spike + half a
// slot when that is more, within [lo, hi].
func (e *estimator) target(lo, hi time.Duration) time.Duration {
	t := time.Duration(jitterFactor*e.peak) + SlotDuration
	t = max(t, time.Duration(e.spike)+SlotDuration/2)
	return min(max(t, lo), hi)
}
