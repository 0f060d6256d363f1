package codec

import (
	"bytes"
	"slices"
	"testing"
)

// The sample-by-sample codecs decode and encode through the Decoder and
// Encoder interfaces exactly as the slice functions do.
func TestG711Codecs(t *testing.T) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	for _, tc := range []struct {
		f      Format
		decode func([]int16, []byte) []int16
		encode func([]byte, []int16) []byte
	}{
		{PCMU, DecodeULaw, EncodeULaw},
		{PCMA, DecodeALaw, EncodeALaw},
	} {
		dec, err := NewDecoder(tc.f)
		if err != nil {
			t.Fatal(err)
		}
		enc, err := NewEncoder(tc.f)
		if err != nil {
			t.Fatal(err)
		}
		if dec.Rate() != 8000 || enc.Rate() != 8000 {
			t.Errorf("%v: rates %d, %d", tc.f, dec.Rate(), enc.Rate())
		}
		pcm, _ := dec.Decode([]int16{7}, all)
		if want := tc.decode([]int16{7}, all); !slices.Equal(pcm, want) {
			t.Errorf("%v: Decode differs from the slice function", tc.f)
		}
		b, _ := enc.Encode([]byte{9}, pcm[1:])
		if want := tc.encode([]byte{9}, pcm[1:]); !bytes.Equal(b, want) {
			t.Errorf("%v: Encode differs from the slice function", tc.f)
		}
		if got := dec.Conceal([]int16{1}, 3); !slices.Equal(got, []int16{1, 0, 0, 0}) {
			t.Errorf("%v: Conceal = %v", tc.f, got)
		}
	}
}

// WebSocket L16 is little-endian, RTP L16 big-endian; both decoders carry an
// odd byte over to the next payload.
func TestL16ByteOrder(t *testing.T) {
	pcm := []int16{0x1234, -2, 0x7F01}
	le := []byte{0x34, 0x12, 0xFE, 0xFF, 0x01, 0x7F}
	be := []byte{0x12, 0x34, 0xFF, 0xFE, 0x7F, 0x01}
	for _, tc := range []struct {
		f    Format
		wire []byte
	}{
		{L16(16000), le},
		{L16BE(16000), be},
	} {
		enc, err := NewEncoder(tc.f)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := enc.Encode([]byte{0xAA}, pcm)
		if want := append([]byte{0xAA}, tc.wire...); !bytes.Equal(got, want) {
			t.Errorf("%v: Encode = %x, want %x", tc.f, got, want)
		}
		for _, cut := range []int{0, 1, 2, 3, 5} {
			dec, err := NewDecoder(tc.f)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := dec.Decode(nil, tc.wire[:cut])
			out, _ = dec.Decode(out, tc.wire[cut:])
			if !slices.Equal(out, pcm) {
				t.Errorf("%v cut at %d: %v, want %v", tc.f, cut, out, pcm)
			}
		}
		dec, _ := NewDecoder(tc.f)
		_, _ = dec.Decode(nil, tc.wire[:1])
		dec.Reset() // drops the carried byte
		if out, _ := dec.Decode(nil, tc.wire); !slices.Equal(out, pcm) {
			t.Errorf("%v after Reset: %v", tc.f, out)
		}
		if dec.Rate() != 16000 || enc.Rate() != 16000 {
			t.Errorf("%v: rates %d, %d", tc.f, dec.Rate(), enc.Rate())
		}
	}
	if got := SamplesToPCM16BE(nil, pcm); !bytes.Equal(got, be) {
		t.Errorf("SamplesToPCM16BE = %x", got)
	}
	if got := PCM16BEToSamples([]int16{5}, append(slices.Clone(be), 0x99)); !slices.Equal(got, append([]int16{5}, pcm...)) {
		t.Errorf("PCM16BEToSamples = %v", got)
	}
}
