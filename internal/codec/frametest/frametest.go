// Package frametest makes encoded test frames in any of the gateway's
// formats. It is imported by tests only (apart from the codec package's
// own, which cannot import it).
package frametest

import (
	"math"
	"testing"

	"github.com/callstream/callstream/internal/codec"
)

// Tone returns n 20 ms frames of format f holding one continuous tone of
// frequency freq and amplitude amp (0: digital silence), each encoded in
// f's codec.
func Tone(t testing.TB, f codec.Format, n int, freq, amp float64) [][]byte {
	t.Helper()
	enc, err := codec.NewEncoder(f)
	if err != nil {
		t.Fatal(err)
	}
	per := f.FrameSamples()
	out := make([][]byte, n)
	pcm := make([]int16, per)
	for i := range out {
		for j := range pcm {
			pcm[j] = int16(amp * math.Sin(2*math.Pi*freq*float64(i*per+j)/float64(f.Rate)))
		}
		if out[i], err = enc.Encode(nil, pcm); err != nil {
			t.Fatal(err)
		}
	}
	return out
}
