package media

import (
	"testing"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/codec/codectest"
)

// ulawFrame returns one 20 ms frame of a µ-law tone.
func ulawFrame() []byte {
	return codec.EncodeULaw(nil, codectest.Sine(FrameSamples, SampleRate, 440, 8000))
}

// Mixing must not allocate; this guards it in every test run, the benchmark
// below shows the cost.
func TestMixDoesNotAllocate(t *testing.T) {
	a, b := ulawFrame(), ulawFrame()
	dst := make([]byte, FrameSamples)
	if n := testing.AllocsPerRun(100, func() { MixULaw(dst, a, b) }); n != 0 {
		t.Errorf("MixULaw: %.1f allocations per frame", n)
	}
}

func BenchmarkMixULaw(b *testing.B) {
	x, y := ulawFrame(), ulawFrame()
	dst := make([]byte, FrameSamples)
	b.ReportAllocs()
	b.SetBytes(FrameSamples)
	for b.Loop() {
		MixULaw(dst, x, y)
	}
}
