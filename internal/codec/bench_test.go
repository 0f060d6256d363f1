package codec

import (
	"testing"

	"github.com/callstream/callstream/internal/codec/codectest"
)

// frame8k is the number of samples in one 20 ms frame at 8 kHz.
const frame8k = 160

// ulawFrame returns one 20 ms frame of a µ-law tone.
func ulawFrame() []byte {
	return EncodeULaw(nil, codectest.Sine(frame8k, 8000, 440, 8000))
}

// The per-frame functions must not allocate once their buffers exist; this
// guards it in every test run, the benchmarks below show the cost.
func TestHotPathsDoNotAllocate(t *testing.T) {
	a := ulawFrame()
	dst := make([]byte, frame8k)
	pcm := make([]int16, 0, 2*frame8k)
	enc := make([]byte, 0, frame8k)
	up, _ := NewResampler(8000, 16000)
	down, _ := NewResampler(16000, 8000)
	wide := make([]int16, 0, 2*frame8k)
	narrow := make([]int16, 0, frame8k)
	for name, f := range map[string]func(){
		"TranscodeALawToULaw": func() { TranscodeALawToULaw(dst, a) },
		"DecodeULaw":          func() { pcm = DecodeULaw(pcm[:0], a) },
		"DecodeALaw":          func() { pcm = DecodeALaw(pcm[:0], a) },
		"EncodeULaw":          func() { enc = EncodeULaw(enc[:0], pcm[:frame8k]) },
		"EncodeALaw":          func() { enc = EncodeALaw(enc[:0], pcm[:frame8k]) },
		"PCM16LEToSamples":    func() { pcm = PCM16LEToSamples(pcm[:0], dst) },
		"Resampler up":        func() { wide = up.Process(wide[:0], pcm[:frame8k]) },
		"Resampler down":      func() { narrow = down.Process(narrow[:0], wide) },
	} {
		pcm = DecodeULaw(pcm[:0], a)
		wide = up.Process(wide[:0], pcm)
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s: %.1f allocations per frame", name, n)
		}
	}
}

func BenchmarkTranscodeALawToULaw(b *testing.B) {
	src := ulawFrame()
	dst := make([]byte, frame8k)
	b.ReportAllocs()
	b.SetBytes(frame8k)
	for b.Loop() {
		TranscodeALawToULaw(dst, src)
	}
}

func BenchmarkDecodeULaw(b *testing.B) {
	src := ulawFrame()
	dst := make([]int16, 0, frame8k)
	b.ReportAllocs()
	b.SetBytes(frame8k)
	for b.Loop() {
		dst = DecodeULaw(dst[:0], src)
	}
}

func BenchmarkEncodeULaw(b *testing.B) {
	src := codectest.Sine(frame8k, 8000, 440, 8000)
	dst := make([]byte, 0, frame8k)
	b.ReportAllocs()
	b.SetBytes(frame8k)
	for b.Loop() {
		dst = EncodeULaw(dst[:0], src)
	}
}

func BenchmarkResampler(b *testing.B) {
	narrow := codectest.Sine(frame8k, 8000, 440, 8000)
	wide := codectest.Sine(2*frame8k, 16000, 440, 8000)
	for _, tc := range []struct {
		name     string
		from, to int
		src      []int16
	}{
		{"8k-16k", 8000, 16000, narrow},
		{"16k-8k", 16000, 8000, wide},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r, err := NewResampler(tc.from, tc.to)
			if err != nil {
				b.Fatal(err)
			}
			dst := make([]int16, 0, 2*frame8k)
			b.ReportAllocs()
			for b.Loop() {
				dst = r.Process(dst[:0], tc.src)
			}
		})
	}
}

// convertCases are the chains the media path runs per frame, with one
// 20 ms frame of input each.
func convertCases(tb testing.TB) []struct {
	name     string
	from, to Format
	frame    []byte
} {
	tb.Helper()
	pcm8 := codectest.Sine(frame8k, 8000, 440, 8000)
	pcm16 := codectest.Sine(2*frame8k, 16000, 440, 8000)
	enc := newG722Encoder()
	g722, _ := enc.Encode(nil, pcm16)
	return []struct {
		name     string
		from, to Format
		frame    []byte
	}{
		{"PCMU-PCMA", PCMU, PCMA, EncodeULaw(nil, pcm8)},
		{"PCMA-PCMA-pass", PCMA, PCMA, EncodeALaw(nil, pcm8)},
		{"PCMA-L16-16000", PCMA, L16(16000), EncodeALaw(nil, pcm8)},
		{"G722-PCMU", G722, PCMU, g722},
		{"G722-L16-16000", G722, L16(16000), g722},
	}
}

// discard is a sink that drops frames.
type discard struct{ rate int }

func (d discard) WriteFrame([]byte) error { return nil }
func (d discard) SampleRate() int         { return d.rate }
func (d discard) String() string          { return "discard" }

// No chain allocates per frame once warm.
func TestConvertDoesNotAllocate(t *testing.T) {
	for _, tc := range convertCases(t) {
		w, err := Convert(tc.from, tc.to, discard{tc.to.Rate})
		if err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(200, func() { _ = w.WriteFrame(tc.frame) }); n != 0 {
			t.Errorf("%s: %.1f allocations per frame", tc.name, n)
		}
	}
}

func BenchmarkConvert(b *testing.B) {
	for _, tc := range convertCases(b) {
		b.Run(tc.name, func(b *testing.B) {
			w, err := Convert(tc.from, tc.to, discard{tc.to.Rate})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(tc.frame)))
			for b.Loop() {
				if err := w.WriteFrame(tc.frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkG722(b *testing.B) {
	pcm := codectest.SpeechLike(2*frame8k, 16000, 1)
	enc := newG722Encoder()
	dec := newG722Decoder()
	payload, _ := enc.Encode(nil, pcm)
	out := make([]int16, 0, len(pcm))
	buf := make([]byte, 0, len(payload))
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			buf, _ = enc.Encode(buf[:0], pcm)
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			out, _ = dec.Decode(out[:0], payload)
		}
	})
}
