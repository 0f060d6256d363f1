package codec

import (
	"encoding/binary"
	"testing"
)

// SumSquares decodes each format's samples: full-scale-ish G.711 bytes,
// L16 of either byte order; G.722 has no meter; nothing allocates.
func TestSumSquares(t *testing.T) {
	pcm := []int16{1000, -1000, 16384, -32768}
	var want uint64
	for _, s := range pcm {
		want += uint64(int64(s) * int64(s))
	}
	le := make([]byte, 2*len(pcm))
	be := make([]byte, 2*len(pcm))
	for i, s := range pcm {
		binary.LittleEndian.PutUint16(le[2*i:], uint16(s))
		binary.BigEndian.PutUint16(be[2*i:], uint16(s))
	}
	for _, tc := range []struct {
		f       Format
		payload []byte
	}{{L16(16000), le}, {L16BE(16000), be}} {
		n, sum, ok := SumSquares(tc.f, tc.payload)
		if !ok || n != len(pcm) || sum != want {
			t.Errorf("%v: %d samples, sum %d, ok %v; want %d, %d", tc.f, n, sum, ok, len(pcm), want)
		}
	}
	ulaw := EncodeULaw(nil, pcm)
	var wantU uint64
	for _, b := range ulaw {
		s := int64(ULawToPCM(b))
		wantU += uint64(s * s)
	}
	if n, sum, ok := SumSquares(PCMU, ulaw); !ok || n != len(pcm) || sum != wantU || sum < want*9/10 {
		t.Errorf("PCMU: %d samples, sum %d (want %d, near %d)", n, sum, wantU, want)
	}
	alaw := EncodeALaw(nil, pcm)
	if n, sum, ok := SumSquares(PCMA, alaw); !ok || n != len(pcm) || sum < want*9/10 || sum > want*11/10 {
		t.Errorf("PCMA: %d samples, sum %d, near %d", n, sum, want)
	}
	if _, _, ok := SumSquares(G722, make([]byte, 160)); ok {
		t.Error("G722 has a meter")
	}
	frame := make([]byte, 160)
	if n := testing.AllocsPerRun(100, func() { SumSquares(PCMU, frame) }); n != 0 {
		t.Errorf("%v allocations per frame", n)
	}
}

// BenchmarkSumSquares is the level meter's cost per 20 ms G.711 frame.
func BenchmarkSumSquares(b *testing.B) {
	frame := make([]byte, 160)
	for i := range frame {
		frame[i] = byte(i)
	}
	b.ReportAllocs()
	for b.Loop() {
		SumSquares(PCMU, frame)
	}
}
