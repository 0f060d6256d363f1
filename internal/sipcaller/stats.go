package sipcaller

import (
	"slices"
	"time"

	"github.com/callstream/callstream/internal/codec"
)

// silentPeak is the largest sample magnitude of a packet counted as
// silence (about -54 dBFS): the codecs' silence frames decode well below
// it, speech and tones far above.
const silentPeak = 64

// ReceiveStats sums up what the gateway sent a call: packets by kind, the
// audio packets that carried silence, and the inter-arrival times of the
// audio packets.
type ReceiveStats struct {
	Packets int // every RTP packet received
	Audio   int // packets of the call's audio payload type
	CN      int // comfort noise packets (RFC 3389)
	DTMF    int // telephone-event packets
	Other   int // packets of any other payload type
	Silent  int // audio packets that decode to silence
	// Gaps are the times between consecutive audio packets' arrivals.
	Gaps Gaps
}

// Gaps summarises inter-arrival times: count, percentiles, and the 99th
// percentile of the distance from the 20 ms packet time (both ways).
type Gaps struct {
	N             int
	P50, P99, Max time.Duration
	// P99Deviation is the 99th percentile of |gap − 20 ms|: continuous
	// RTP on an idle machine keeps it within a couple of milliseconds.
	P99Deviation time.Duration
}

// ReceiveStats returns the statistics of the packets received so far
// (nothing with Config.NoRecord).
func (c *Call) ReceiveStats() ReceiveStats {
	return Summarize(c.format, c.pt, c.dtmfPT, c.cnPT, c.Received())
}

// Summarize computes ReceiveStats for packets of a call in codec f with
// audio payload type pt, DTMF payload type dtmf and CN payload type cn (0:
// none; CN also counts on its static 13).
func Summarize(f codec.Format, pt, dtmf, cn uint8, packets []Packet) ReceiveStats {
	var s ReceiveStats
	dec, _ := codec.NewDecoder(f) // nil for a format without a decoder: Silent stays 0
	var (
		pcm  []int16
		gaps []time.Duration
		last time.Time
	)
	for _, p := range packets {
		s.Packets++
		switch {
		case p.PayloadType == pt:
			s.Audio++
			if !last.IsZero() {
				gaps = append(gaps, p.Arrival.Sub(last))
			}
			last = p.Arrival
			if dec == nil {
				continue
			}
			var err error
			if pcm, err = dec.Decode(pcm[:0], p.Payload); err == nil && peak(pcm) <= silentPeak {
				s.Silent++
			}
		case dtmf != 0 && p.PayloadType == dtmf:
			s.DTMF++
		case (cn != 0 && p.PayloadType == cn) || p.PayloadType == cnPayloadType:
			s.CN++
		default:
			s.Other++
		}
	}
	s.Gaps = SummarizeGaps(gaps)
	return s
}

// SummarizeGaps computes Gaps of inter-arrival times.
func SummarizeGaps(gaps []time.Duration) Gaps {
	if len(gaps) == 0 {
		return Gaps{}
	}
	sorted := slices.Sorted(slices.Values(gaps))
	dev := make([]time.Duration, len(gaps))
	for i, g := range gaps {
		dev[i] = max(g-frameDuration, frameDuration-g)
	}
	slices.Sort(dev)
	return Gaps{
		N:            len(gaps),
		P50:          percentile(sorted, 50),
		P99:          percentile(sorted, 99),
		Max:          sorted[len(sorted)-1],
		P99Deviation: percentile(dev, 99),
	}
}

// percentile returns the p-th percentile (nearest rank) of sorted.
func percentile(sorted []time.Duration, p int) time.Duration {
	k := (len(sorted)*p + 99) / 100 // ceil(n*p/100)
	return sorted[max(k, 1)-1]
}

func peak(pcm []int16) int {
	m := 0
	for _, v := range pcm {
		m = max(m, abs(int(v)))
	}
	return m
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
