package call

import (
	"testing"

	"github.com/callstream/callstream/internal/codec"
)

// The outbound meter counts every frame the call plays to the caller,
// sample for sample; the tick still allocates nothing
// (TestTickDoesNotAllocate runs with the meters on).
func TestLevelsCountOutboundFrames(t *testing.T) {
	r := newRig(t, rigOptions{})
	src := &frameSource{}
	r.c.SetSource(src)
	r.tick()
	in0, out0 := r.c.Levels()
	var want uint64
	for i := range 10 {
		r.tick()
		// frameSource fills frame k with the byte k.
		_, sum, _ := codec.SumSquares(codec.PCMU, []byte{byte(i + 2)})
		want += 160 * sum
	}
	in1, out1 := r.c.Levels()
	if got := out1.Samples - out0.Samples; got != 10*160 {
		t.Fatalf("outbound samples %d over 10 ticks, want 1600", got)
	}
	if got := out1.SumSquares - out0.SumSquares; got != want {
		t.Fatalf("outbound sum of squares %d, want %d", got, want)
	}
	if got := in1.Samples - in0.Samples; got != 10*160 {
		t.Fatalf("inbound samples %d over 10 ticks (concealed silence included), want 1600", got)
	}
}
