package call

import (
	"sync/atomic"

	"github.com/callstream/callstream/internal/codec"
)

// Level is a track's audio so far, for a level meter: how many samples
// went by and the sum of their squares (16-bit scale). Both only grow
// (and may wrap); the level over an interval is the RMS of the
// difference of two readings.
type Level struct {
	Samples, SumSquares uint64
}

// levelMeter accumulates a track's Level on the media path: once per
// frame, two atomic adds, no allocation.
type levelMeter struct{ samples, sumSquares atomic.Uint64 }

// add counts one frame of f; formats without a meter (G.722, Opus) are
// left out.
func (m *levelMeter) add(f codec.Format, payload []byte) {
	n, sum, ok := codec.SumSquares(f, payload)
	if !ok {
		return
	}
	m.samples.Add(uint64(n))
	m.sumSquares.Add(sum)
}

func (m *levelMeter) load() Level {
	return Level{Samples: m.samples.Load(), SumSquares: m.sumSquares.Load()}
}

// Levels returns the levels of the caller's audio (inbound) and of what
// the call sends the caller (outbound). A codec without a meter leaves
// them at zero.
func (c *Call) Levels() (inbound, outbound Level) {
	return c.levelIn.load(), c.levelOut.load()
}
