package codec

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/callstream/callstream/internal/codec/codectest"
)

// g722Delay is the delay of G.722's analysis and synthesis filters together,
// in 16 kHz samples.
const g722Delay = 22

// g722RoundTrip encodes x and decodes the bytes with fresh codecs.
func g722RoundTrip(t *testing.T, x []int16) ([]byte, []int16) {
	t.Helper()
	enc, err := NewEncoder(G722)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := NewDecoder(G722)
	if err != nil {
		t.Fatal(err)
	}
	b, err := enc.Encode(nil, x)
	if err != nil {
		t.Fatal(err)
	}
	y, err := dec.Decode(nil, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != len(x)/2 || len(y) != len(x) {
		t.Fatalf("%d samples → %d bytes → %d samples", len(x), len(b), len(y))
	}
	return b, y
}

// snrAt compares y with x delayed by delay samples, skipping the first
// 50 ms while the ADPCM adapts.
func snrAt(x, y []int16, delay int) float64 {
	var sig, noise float64
	for i := 800; i < len(y); i++ {
		r := float64(x[i-delay])
		d := float64(y[i]) - r
		sig += r * r
		noise += d * d
	}
	return codectest.DB(sig / noise)
}

// G.722 keeps both sub-bands: tones across 50 Hz to 7 kHz, the 6 kHz a
// narrowband path would remove among them, and speech-like audio come back
// at the codec's delay with a waveform SNR well above what noise would give.
func TestG722RoundTripSNR(t *testing.T) {
	for _, tc := range []struct {
		name  string
		x     []int16
		minDB float64
	}{
		{"300 Hz", codectest.Sine(16000, 16000, 300, 10000), 35},
		{"1 kHz", codectest.Sine(16000, 16000, 1000, 10000), 35},
		{"3.4 kHz", codectest.Sine(16000, 16000, 3400, 10000), 25},
		{"6 kHz", codectest.Sine(16000, 16000, 6000, 10000), 20},
		{"7 kHz", codectest.Sine(16000, 16000, 7000, 5000), 15},
		{"speech-like", codectest.SpeechLike(5*16000, 16000, 1), 18},
	} {
		_, y := g722RoundTrip(t, tc.x)
		snr := snrAt(tc.x, y, g722Delay)
		t.Logf("%s: SNR %.1f dB", tc.name, snr)
		if snr < tc.minDB {
			t.Errorf("%s: SNR %.1f dB, want > %.0f", tc.name, snr, tc.minDB)
		}
		if off := snrAt(tc.x, y, g722Delay+1); off > snr-6 {
			t.Errorf("%s: SNR %.1f dB one sample off: delay is not %d", tc.name, off, g722Delay)
		}
	}
}

// g722GoldenSignal is 4 s of 16 kHz noise whose level jumps every 100 ms,
// made with integer arithmetic only so it is the same on every platform.
func g722GoldenSignal() []int16 {
	rng := rand.New(rand.NewPCG(11, 12))
	x := make([]int16, 4*16000)
	shift := 0
	for i := range x {
		if i%1600 == 0 {
			shift = rng.IntN(14)
		}
		x[i] = int16(int32(rng.Uint32()) >> (16 + shift))
	}
	return x
}

// The bytes and samples of the golden signal, checked against SpanDSP in the
// spandsp build (TestG722MatchesSpanDSP), pinned here so the default build
// notices any change to the arithmetic.
func TestG722Golden(t *testing.T) {
	b, y := g722RoundTrip(t, g722GoldenSignal())
	sum := sha256.Sum256(b)
	if got, want := hex.EncodeToString(sum[:]), g722GoldenBytes; got != want {
		t.Errorf("encoded bytes: sha256 %s, want %s", got, want)
	}
	h := sha256.New()
	_ = binary.Write(h, binary.LittleEndian, y)
	if got, want := hex.EncodeToString(h.Sum(nil)), g722GoldenSamples; got != want {
		t.Errorf("decoded samples: sha256 %s, want %s", got, want)
	}
}

// Hashes of the golden signal's G.722 bytes and of their decoding.
const (
	g722GoldenBytes   = "fe3e6f47afd5b2addd4fd85693383b8f75b9901cd7eac4dfc4e70a1e8de3f5fb"
	g722GoldenSamples = "17040cf3016915cd951a0255b901e4d5255cb8b3f1cca6cb4955e13bf6d7d8f0"
)

// Frames of any size, odd ones included, encode as one block does; Reset
// starts over.
func TestG722ChunkingAndReset(t *testing.T) {
	x := codectest.SpeechLike(16000, 16000, 3)
	whole, _ := g722RoundTrip(t, x)
	enc, _ := NewEncoder(G722)
	var got []byte
	for rest, n := x, 1; len(rest) > 0; n = n%333 + 7 {
		n = min(n, len(rest))
		got, _ = enc.Encode(got, rest[:n])
		rest = rest[n:]
	}
	if !slices.Equal(got, whole) {
		t.Error("encoding in odd chunks differs from one block")
	}
	enc.Reset()
	again, _ := enc.Encode(nil, x)
	if !slices.Equal(again, whole) {
		t.Error("encoding after Reset differs")
	}
	dec, _ := NewDecoder(G722)
	first, _ := dec.Decode(nil, whole)
	dec.Reset()
	second, _ := dec.Decode(nil, whole)
	if !slices.Equal(first, second) {
		t.Error("decoding after Reset differs")
	}
	if dec.Rate() != 16000 || enc.Rate() != 16000 {
		t.Errorf("rates %d, %d", dec.Rate(), enc.Rate())
	}
	if got := dec.Conceal([]int16{3}, 2); !slices.Equal(got, []int16{3, 0, 0}) {
		t.Errorf("Conceal = %v", got)
	}
}

// Overloaded input (a full-scale square) saturates the output instead of
// wrapping it round.
func TestG722Saturates(t *testing.T) {
	x := make([]int16, 16000)
	for i := range x {
		x[i] = math.MaxInt16
		if i/37%2 == 1 {
			x[i] = math.MinInt16
		}
	}
	_, y := g722RoundTrip(t, x)
	rails := 0
	for i := 1; i < len(y); i++ {
		if d := int(y[i]) - int(y[i-1]); d > 50000 && y[i] != math.MaxInt16 || d < -50000 && y[i] != math.MinInt16 {
			t.Fatalf("jump of %d at %d to %d: wrapped", d, i, y[i])
		}
		if y[i] == math.MaxInt16 || y[i] == math.MinInt16 {
			rails++
		}
	}
	if rails == 0 {
		t.Error("a full-scale square never reached the rails")
	}
}

// Any bytes decode to two samples each without panicking, and decoding is
// deterministic.
func FuzzG722Decode(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x00, 0xFF, 0x3F, 0xC0})
	f.Add(slices.Repeat([]byte{0x04}, 400))
	f.Add(g722Silence[:])
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			data = data[:1<<16]
		}
		dec, err := NewDecoder(G722)
		if err != nil {
			t.Fatal(err)
		}
		out, err := dec.Decode(nil, data)
		if err != nil || len(out) != 2*len(data) {
			t.Fatalf("%d bytes → %d samples, %v", len(data), len(out), err)
		}
		again, _ := newG722Decoder().Decode(nil, data)
		if !slices.Equal(out, again) {
			t.Fatal("decoding is not deterministic")
		}
	})
}
