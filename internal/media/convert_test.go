package media

import (
	"bytes"
	"errors"
	"testing"

	"github.com/callstream/callstream/internal/codec"
)

// Convert copies audio between equal formats, transcodes G.711 byte for
// byte, pads a short last frame with silence, and turns 8 kHz µ-law into
// G.722 frames of 160 bytes (20 ms each).
func TestConvert(t *testing.T) {
	ulaw := make([]byte, 400) // 2.5 frames
	for i := range ulaw {
		ulaw[i] = byte(i)
	}
	same, err := Convert(ulaw, codec.PCMU, codec.PCMU)
	if err != nil || !bytes.Equal(same[:400], ulaw) || !bytes.Equal(same[400:], bytes.Repeat([]byte{codec.ULawSilence}, 80)) {
		t.Fatalf("PCMU to PCMU: %d bytes, %v", len(same), err)
	}
	alaw, err := Convert(ulaw, codec.PCMU, codec.PCMA)
	if err != nil || len(alaw) != 480 {
		t.Fatalf("PCMU to PCMA: %d bytes, %v", len(alaw), err)
	}
	for i, b := range ulaw {
		if alaw[i] != codec.ULawToALaw(b) {
			t.Fatalf("byte %d: %#x, want %#x", i, alaw[i], codec.ULawToALaw(b))
		}
	}
	if tail := alaw[400:]; !bytes.Equal(tail, bytes.Repeat([]byte{codec.ULawToALaw(codec.ULawSilence)}, 80)) {
		t.Fatalf("padding % x…", tail[:4])
	}
	g722, err := Convert(ulaw, codec.PCMU, codec.G722)
	if err != nil || len(g722) != 3*160 {
		t.Fatalf("PCMU to G722: %d bytes, %v", len(g722), err)
	}
	if _, err := Convert(ulaw, codec.Opus, codec.PCMU); !errors.Is(err, codec.ErrUnknownFormat) {
		t.Fatalf("from opus: %v", err)
	}
}

// A 16 kHz PCM file encodes once into G.722 (20 ms = 160 bytes) and into
// 8 kHz µ-law through one resampling; an 8 kHz A-law file reaches a PCMA
// call unchanged (its last frame completed with A-law silence).
func TestAudioEncode(t *testing.T) {
	pcm := make([]int16, 16000) // 1 s at 16 kHz
	for i := range pcm {
		pcm[i] = int16(i%200*100 - 10000)
	}
	a := &Audio{Encoding: EncodingPCM16, SampleRate: 16000, Channels: 1, Data: codec.SamplesToPCM16LE(nil, pcm)}
	g, err := a.Encode(codec.G722)
	if err != nil || len(g) != 50*160 {
		t.Fatalf("G722: %d bytes, %v", len(g), err)
	}
	u, err := a.Encode(codec.PCMU)
	if err != nil || len(u) != 50*160 {
		t.Fatalf("PCMU: %d bytes, %v", len(u), err)
	}
	alaw := []byte{1, 2, 3, 4, 5}
	b := &Audio{Encoding: EncodingALaw, SampleRate: 8000, Channels: 1, Data: alaw}
	got, err := b.Encode(codec.PCMA)
	if err != nil || !bytes.Equal(got[:5], alaw) || len(got) != 160 || got[5] != codec.ALawSilence {
		t.Fatalf("A-law to PCMA: % x, %v", got, err)
	}
	if _, err := (&Audio{Encoding: EncodingPCM16, SampleRate: 44100, Channels: 1}).Encode(codec.PCMU); !errors.Is(err, ErrUnsupportedRate) {
		t.Fatalf("44.1 kHz: %v", err)
	}
	if _, err := (&Audio{Encoding: EncodingPCM16, SampleRate: 8000, Channels: 2}).Encode(codec.PCMU); !errors.Is(err, ErrNotMono) {
		t.Fatalf("stereo: %v", err)
	}
}
