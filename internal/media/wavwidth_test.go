package media

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"
)

// Linear PCM of 8, 24 and 32 bits and float of 32 and 64 bits, plain or
// WAVE_FORMAT_EXTENSIBLE, stereo, read as the 16-bit samples they hold;
// float beyond full scale clips.
func TestReadWAVOtherSampleSizes(t *testing.T) {
	want := []int16{0, 12800, -12800, 32512, -32768, 256, -256, 1024}
	encode := func(tag uint16, bits int, v int16) []byte {
		switch {
		case tag == wavFormatFloat && bits == 32:
			return binary.LittleEndian.AppendUint32(nil, math.Float32bits(float32(v)/math.MaxInt16))
		case tag == wavFormatFloat:
			return binary.LittleEndian.AppendUint64(nil, math.Float64bits(float64(v)/math.MaxInt16))
		case bits == 8:
			return []byte{byte(int(v>>8) + 128)}
		}
		// The 16-bit value in the top bytes, the lower ones set so that
		// they must be dropped, not rounded.
		b := bytes.Repeat([]byte{0x7F}, bits/8-2)
		return binary.LittleEndian.AppendUint16(b, uint16(v))
	}
	for _, tc := range []struct {
		name       string
		tag        uint16
		bits       int
		extensible bool
	}{
		{"8-bit PCM", wavFormatPCM, 8, false},
		{"24-bit PCM", wavFormatPCM, 24, false},
		{"32-bit PCM", wavFormatPCM, 32, true},
		{"32-bit float", wavFormatFloat, 32, false},
		{"64-bit float", wavFormatFloat, 64, true},
	} {
		var data []byte
		for _, v := range want {
			data = append(data, encode(tc.tag, tc.bits, v)...) // left
			data = append(data, encode(tc.tag, tc.bits, v)...) // right
		}
		fmtChunk := fmtBody(tc.tag, 2, 44100, tc.bits)
		if tc.extensible {
			fmtChunk = extensibleBody(tc.tag, 2, 44100, tc.bits)
		}
		a, err := ReadWAV(bytes.NewReader(riff(chunk("fmt ", fmtChunk), chunk("data", data))))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if a.Encoding != EncodingPCM16 || a.Channels != 2 || a.SampleRate != 44100 {
			t.Fatalf("%s: read as %v x%d at %d Hz", tc.name, a.Encoding, a.Channels, a.SampleRate)
		}
		got := pcmOf(a)
		if len(got) != 2*len(want) {
			t.Fatalf("%s: %d samples, want %d", tc.name, len(got), 2*len(want))
		}
		for i, v := range want {
			if d := int(got[2*i]) - int(v); d < -1 || d > 1 || got[2*i] != got[2*i+1] {
				t.Fatalf("%s: sample %d is %d/%d, want %d", tc.name, i, got[2*i], got[2*i+1], v)
			}
		}
	}
	// Float beyond full scale clips instead of wrapping.
	loud := binary.LittleEndian.AppendUint32(nil, math.Float32bits(1.5))
	loud = binary.LittleEndian.AppendUint32(loud, math.Float32bits(-2))
	a, err := ReadWAV(bytes.NewReader(riff(chunk("fmt ", fmtBody(wavFormatFloat, 1, 8000, 32)), chunk("data", loud))))
	if err != nil {
		t.Fatal(err)
	}
	if got := pcmOf(a); got[0] != math.MaxInt16 || got[1] != math.MinInt16 {
		t.Fatalf("float 1.5 and -2 read as %d and %d, want full scale", got[0], got[1])
	}
	// The streaming reader takes them too.
	w, err := OpenWAV(bytes.NewReader(riff(chunk("fmt ", fmtBody(wavFormatPCM, 1, 8000, 24)), chunk("data", bytes.Repeat([]byte{0, 0, 0x10}, 160)))))
	if err != nil {
		t.Fatal(err)
	}
	u, err := w.ULaw8k(1000)
	if err != nil || len(u) != 160 {
		t.Fatalf("24-bit through ULaw8k: %d bytes, %v", len(u), err)
	}
}
