//go:build spandsp && cgo

package codec

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/callstream/callstream/internal/codec/codectest"
	"github.com/callstream/callstream/internal/codec/spandsp"
)

// g722Signals returns the 16 kHz test signals of the bit-exactness tests:
// long speech-like and random signals, and the edge cases that drive the
// ADPCM into its limits (full-scale squares, clicks, a sweep, silence).
func g722Signals(t *testing.T) map[string][]int16 {
	t.Helper()
	const rate = 16000
	rng := rand.New(rand.NewPCG(7, 22))
	random := make([]int16, 20*rate)
	for i := range random {
		random[i] = int16(rng.Uint32())
	}
	levels := make([]int16, 20*rate) // noise whose level jumps every 100 ms
	amp := 0.0
	for i := range levels {
		if i%(rate/10) == 0 {
			amp = math.Pow(2, 15*rng.Float64())
		}
		levels[i] = int16(min(max(amp*rng.NormFloat64(), -32768), 32767))
	}
	sweep := make([]int16, 5*rate)
	for i := range sweep {
		t := float64(i) / rate
		sweep[i] = int16(32000 * math.Sin(2*math.Pi*(20*t+790*t*t)))
	}
	square := make([]int16, 2*rate)
	clicks := make([]int16, 2*rate)
	for i := range square {
		square[i] = math.MaxInt16
		if i/37%2 == 1 {
			square[i] = math.MinInt16
		}
		if i%401 == 0 {
			clicks[i] = int16(rng.IntN(65536) - 32768)
		}
	}
	return map[string][]int16{
		"speech-like":        codectest.SpeechLike(60*rate, rate, 1),
		"speech-like, quiet": scale(codectest.SpeechLike(30*rate, rate, 2), 0.05),
		"golden":             g722GoldenSignal(),
		"random":             random,
		"random levels":      levels,
		"sweep to 8 kHz":     sweep,
		"full-scale square":  square,
		"clicks":             clicks,
		"silence":            make([]int16, rate),
	}
}

// The encoder makes the bytes SpanDSP's makes, and the decoder the samples
// SpanDSP's makes from them, for every test signal, fed whole to SpanDSP
// and in frames of odd sizes to ours.
func TestG722MatchesSpanDSP(t *testing.T) {
	for name, pcm := range g722Signals(t) {
		t.Run(name, func(t *testing.T) {
			ref, err := spandsp.NewEncoder()
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			want := ref.Encode(pcm)

			enc, err := NewEncoder(G722)
			if err != nil {
				t.Fatal(err)
			}
			var got []byte
			rng := rand.New(rand.NewPCG(3, 4))
			for rest := pcm; len(rest) > 0; {
				n := min(len(rest), 1+rng.IntN(700))
				if got, err = enc.Encode(got, rest[:n]); err != nil {
					t.Fatal(err)
				}
				rest = rest[n:]
			}
			compareBytes(t, "encoded", got, want)

			refDec, err := spandsp.NewDecoder()
			if err != nil {
				t.Fatal(err)
			}
			defer refDec.Close()
			compareG722Decode(t, refDec.Decode(want), want)
		})
	}
}

// Every byte is a valid code: random bytes, which no encoder would make,
// decode as SpanDSP decodes them.
func TestG722DecodeRandomMatchesSpanDSP(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	data := make([]byte, 30*8000)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	// A stretch of each single code, which drives a band to its limits.
	for c := range 256 {
		for range 50 {
			data = append(data, byte(c))
		}
	}
	ref, err := spandsp.NewDecoder()
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	compareG722Decode(t, ref.Decode(data), data)
}

// compareG722Decode decodes data with the package's decoder and requires
// want sample for sample. SpanDSP wraps a synthesis output beyond 16 bits
// where the Recommendation (and this package) saturates: such a sample must
// be the saturation of the wide value and SpanDSP's its 16-bit wrap.
func compareG722Decode(t *testing.T, want []int16, data []byte) {
	t.Helper()
	if len(want) != 2*len(data) {
		t.Fatalf("SpanDSP decoded %d bytes to %d samples", len(data), len(want))
	}
	d := newG722Decoder()
	wrapped := 0
	for i, c := range data {
		y0, y1 := d.decodeWide(c)
		for k, y := range [2]int32{y0, y1} {
			n := 2*i + k
			got, ref := int16(sat16(y)), want[n]
			if got == ref {
				continue
			}
			if y == sat16(y) || ref != int16(y) {
				t.Fatalf("decoded sample %d (byte %d) is %d, SpanDSP %d; %d samples matched before it", n, i, got, ref, n-wrapped)
			}
			wrapped++
		}
	}
	// The public path gives the same saturated samples in payloads of 160.
	dec, err := NewDecoder(G722)
	if err != nil {
		t.Fatal(err)
	}
	check := newG722Decoder()
	var got []int16
	for rest := data; len(rest) > 0; {
		n := min(len(rest), 160)
		if got, err = dec.Decode(got[:0], rest[:n]); err != nil {
			t.Fatal(err)
		}
		for j, c := range rest[:n] {
			if a, b := check.decodeByte(c); got[2*j] != a || got[2*j+1] != b {
				t.Fatalf("Decode differs from decodeByte at byte %d", len(data)-len(rest)+j)
			}
		}
		rest = rest[n:]
	}
	t.Logf("%d samples decoded identically (%d beyond 16 bits: saturated here, wrapped by SpanDSP)", len(want)-wrapped, wrapped)
}

// scale returns x times g.
func scale(x []int16, g float64) []int16 {
	for i, v := range x {
		x[i] = int16(float64(v) * g)
	}
	return x
}

// compareBytes requires got to equal want, naming the first difference.
func compareBytes(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d bytes, SpanDSP %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s byte %d is %#02x, SpanDSP %#02x; %d bytes matched before it", what, i, got[i], want[i], i)
		}
	}
	t.Logf("%s: %d bytes identical", what, len(got))
}
