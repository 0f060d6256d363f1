package main

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/media"
)

// stereoTone is seconds of a 500 Hz tone as 16-bit stereo PCM at rate.
func stereoTone(rate int, seconds float64) *media.Audio {
	n := int(float64(rate) * seconds)
	data := make([]byte, 0, 4*n)
	for i := range n {
		v := uint16(int16(8000 * math.Sin(2*math.Pi*500*float64(i)/float64(rate))))
		data = binary.LittleEndian.AppendUint16(data, v)
		data = binary.LittleEndian.AppendUint16(data, v)
	}
	return &media.Audio{Encoding: media.EncodingPCM16, SampleRate: rate, Channels: 2, Data: data}
}

// A 44.1 kHz stereo file becomes one second of the call's codec: 8000
// µ-law or A-law bytes, 8000 G.722 bytes (16 kHz audio), and the built-in
// µ-law clip passes to a PCMU call unchanged.
func TestCallPayload(t *testing.T) {
	a := stereoTone(44100, 1)
	for _, f := range []codec.Format{codec.PCMU, codec.PCMA, codec.G722} {
		b, pcm, err := callPayload(a, f)
		if err != nil || pcm != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(b) != 8000 {
			t.Errorf("%s: %d bytes, want 8000", f, len(b))
		}
	}
	b, _, err := callPayload(a, codec.PCMU)
	if err != nil {
		t.Fatal(err)
	}
	var peak int
	for _, v := range codec.DecodeULaw(nil, b[800:7200]) {
		peak = max(peak, int(v), -int(v))
	}
	if peak < 7000 || peak > 9000 {
		t.Errorf("peak %d after resampling, want about 8000", peak)
	}

	clip, err := loadCallAudio("")
	if err != nil {
		t.Fatal(err)
	}
	b, _, err = callPayload(clip, codec.PCMU)
	if err != nil || string(b) != string(clip.Data) {
		t.Errorf("the built-in clip is not passed unchanged to PCMU: %v", err)
	}
}
