package codec

import (
	"bytes"
	"encoding/binary"
	"slices"
	"testing"

	"github.com/callstream/callstream/internal/codec/codectest"
)

// readS16 returns the little-endian samples of a testdata file.
func readS16(t *testing.T, name string) []int16 {
	t.Helper()
	b := codectest.Testdata(t, name)
	s := make([]int16, len(b)/2)
	for i := range s {
		s[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return s
}

func TestDecodeKnownValues(t *testing.T) {
	ulaw := map[byte]int16{0x00: -32124, 0x7F: 0, 0x80: 32124, 0xFF: 0, 0xFE: 8, 0x7E: -8, 0xEF: 132, 0x8F: 16764, 0x9F: 8316}
	for b, want := range ulaw {
		if got := ULawToPCM(b); got != want {
			t.Errorf("ULawToPCM(%#02x) = %d, want %d", b, got, want)
		}
	}
	alaw := map[byte]int16{0xD5: 8, 0x55: -8, 0xAA: 32256, 0x2A: -32256, 0x80: 5504, 0x00: -5504, 0xD4: 24}
	for b, want := range alaw {
		if got := ALawToPCM(b); got != want {
			t.Errorf("ALawToPCM(%#02x) = %d, want %d", b, got, want)
		}
	}
	if got := ULawToPCM(ULawSilence); got != 0 {
		t.Errorf("ULawSilence decodes to %d", got)
	}
	if got := ALawToPCM(ALawSilence); got != 8 {
		t.Errorf("ALawSilence decodes to %d", got)
	}
}

// The golden files hold what sox decodes each of the 256 codes to.
func TestDecodeMatchesSox(t *testing.T) {
	for _, tc := range []struct {
		file   string
		decode func(byte) int16
	}{
		{"ulaw_decode.s16", ULawToPCM},
		{"alaw_decode.s16", ALawToPCM},
	} {
		want := readS16(t, tc.file)
		if len(want) != 256 {
			t.Fatalf("%s: %d samples", tc.file, len(want))
		}
		for b := range 256 {
			if got := tc.decode(byte(b)); got != want[b] {
				t.Errorf("%s: code %#02x decodes to %d, sox says %d", tc.file, b, got, want[b])
			}
		}
	}
}

// The golden files hold what sox encodes every 16-bit value to (a ramp from
// -32768 to 32767, converted without dither).
func TestEncodeMatchesSox(t *testing.T) {
	for _, tc := range []struct {
		file   string
		encode func(int16) byte
	}{
		{"ramp_ulaw.bin", PCMToULaw},
		{"ramp_alaw.bin", PCMToALaw},
	} {
		want := codectest.Testdata(t, tc.file)
		if len(want) != 65536 {
			t.Fatalf("%s: %d bytes", tc.file, len(want))
		}
		bad := 0
		for i := range 65536 {
			s := int16(i - 32768)
			if got := tc.encode(s); got != want[i] {
				if bad++; bad <= 10 {
					t.Errorf("%s: sample %d encodes to %#02x, sox says %#02x", tc.file, s, got, want[i])
				}
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d mismatches", tc.file, bad)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for b := range 256 {
		c := byte(b)
		if d := ULawToPCM(c); ULawToPCM(PCMToULaw(d)) != d {
			t.Errorf("µ-law %#02x: decode(encode(%d)) = %d", c, d, ULawToPCM(PCMToULaw(d)))
		}
		// Every code but negative zero (0x7F, which becomes 0xFF) survives.
		if got := PCMToULaw(ULawToPCM(c)); got != c && c != 0x7F {
			t.Errorf("µ-law %#02x re-encodes to %#02x", c, got)
		}
		if d := ALawToPCM(c); ALawToPCM(PCMToALaw(d)) != d || PCMToALaw(d) != c {
			t.Errorf("A-law %#02x: re-encodes to %#02x", c, PCMToALaw(d))
		}
	}
}

// Encoding then decoding never moves a louder input below a quieter one, and
// the quantisation error stays within half a step of the widest segment
// (1024/2) plus the rounding to 13 bits (A-law), or the clip at full scale
// (µ-law: 32768-32124).
func TestEncodeMonotonicAndBounded(t *testing.T) {
	prevU, prevA := int16(-32768), int16(-32768)
	for i := range 65536 {
		s := int16(i - 32768)
		u, a := ULawToPCM(PCMToULaw(s)), ALawToPCM(PCMToALaw(s))
		if u < prevU || a < prevA {
			t.Fatalf("not monotonic at %d: µ-law %d after %d, A-law %d after %d", s, u, prevU, a, prevA)
		}
		prevU, prevA = u, a
		if e := abs(int(u) - int(s)); e > 644 { // 32768-32124 at full scale
			t.Fatalf("µ-law error %d at %d", e, s)
		}
		if e := abs(int(a) - int(s)); e > 516 {
			t.Fatalf("A-law error %d at %d", e, s)
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// levels returns the distinct decoded values of a law, ascending.
func levels(decode func(byte) int16) []int16 {
	var v []int16
	for b := range 256 {
		v = append(v, decode(byte(b)))
	}
	slices.Sort(v)
	return slices.Compact(v)
}

func TestTranscodeTables(t *testing.T) {
	a2u, u2a := codectest.Testdata(t, "alaw_to_ulaw.bin"), codectest.Testdata(t, "ulaw_to_alaw.bin")
	uLevels, aLevels := levels(ULawToPCM), levels(ALawToPCM)
	for b := range 256 {
		c := byte(b)
		if got, want := ALawToULaw(c), PCMToULaw(ALawToPCM(c)); got != want || got != a2u[b] {
			t.Errorf("ALawToULaw(%#02x) = %#02x, via linear %#02x, sox %#02x", c, got, want, a2u[b])
		}
		if got, want := ULawToALaw(c), PCMToALaw(ULawToPCM(c)); got != want || got != u2a[b] {
			t.Errorf("ULawToALaw(%#02x) = %#02x, via linear %#02x, sox %#02x", c, got, want, u2a[b])
		}
		// G.711 rule: the converted level is one of the two target levels
		// that bracket the source level.
		if !adjacent(uLevels, ALawToPCM(c), ULawToPCM(ALawToULaw(c))) {
			t.Errorf("A-law %#02x (%d) became µ-law level %d", c, ALawToPCM(c), ULawToPCM(ALawToULaw(c)))
		}
		if !adjacent(aLevels, ULawToPCM(c), ALawToPCM(ULawToALaw(c))) {
			t.Errorf("µ-law %#02x (%d) became A-law level %d", c, ULawToPCM(c), ALawToPCM(ULawToALaw(c)))
		}
	}
}

// adjacent reports whether got is the level at or next to v on either side
// (clamped to the ends of the scale).
func adjacent(lv []int16, v, got int16) bool {
	i, found := slices.BinarySearch(lv, v)
	if found {
		return got == v
	}
	lo, hi := lv[max(i-1, 0)], lv[min(i, len(lv)-1)]
	return got == lo || got == hi
}

func TestSliceCodecs(t *testing.T) {
	src := []byte{0x00, 0x7F, 0x80, 0xFF, 0x12}
	pcm := DecodeULaw([]int16{7}, src)
	if want := []int16{7, -32124, 0, 32124, 0, ULawToPCM(0x12)}; !slices.Equal(pcm, want) {
		t.Fatalf("DecodeULaw = %v, want %v", pcm, want)
	}
	enc := EncodeULaw([]byte{0xAB}, pcm[1:])
	if want := []byte{0xAB, 0x00, 0xFF, 0x80, 0xFF, 0x12}; !bytes.Equal(enc, want) {
		t.Fatalf("EncodeULaw = %x, want %x", enc, want)
	}
	apcm := DecodeALaw(nil, []byte{0xD5, 0x2A})
	if want := []int16{8, -32256}; !slices.Equal(apcm, want) {
		t.Fatalf("DecodeALaw = %v, want %v", apcm, want)
	}
	if got := EncodeALaw(nil, []int16{0, -1, -8, 32767, -32768}); !bytes.Equal(got, []byte{0xD5, 0xD5, 0x55, 0xAA, 0x2A}) {
		t.Fatalf("EncodeALaw = %x", got)
	}

	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	dst := make([]byte, 300)
	TranscodeALawToULaw(dst, all)
	for i := range 256 {
		if dst[i] != ALawToULaw(byte(i)) {
			t.Fatalf("TranscodeALawToULaw[%d] = %#02x", i, dst[i])
		}
	}
	if dst[256] != 0 {
		t.Fatal("TranscodeALawToULaw wrote past len(src)")
	}
	inPlace := slices.Clone(all)
	TranscodeULawToALaw(inPlace, inPlace)
	for i := range 256 {
		if inPlace[i] != ULawToALaw(byte(i)) {
			t.Fatalf("in-place TranscodeULawToALaw[%d] = %#02x", i, inPlace[i])
		}
	}
}

func TestPCM16LE(t *testing.T) {
	got := PCM16LEToSamples([]int16{5}, []byte{0x34, 0x12, 0xFF, 0xFF, 0x00, 0x80, 0x99})
	if want := []int16{5, 0x1234, -1, -32768}; !slices.Equal(got, want) {
		t.Fatalf("PCM16LEToSamples = %v, want %v", got, want)
	}
	b := SamplesToPCM16LE([]byte{0xEE}, got[1:])
	if want := []byte{0xEE, 0x34, 0x12, 0xFF, 0xFF, 0x00, 0x80}; !bytes.Equal(b, want) {
		t.Fatalf("SamplesToPCM16LE = %x, want %x", b, want)
	}
}
