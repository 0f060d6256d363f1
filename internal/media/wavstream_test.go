package media

import (
	"bytes"
	"errors"
	"io"
	"math"
	"runtime"
	"testing"
	"testing/iotest"

	"github.com/callstream/callstream/internal/codec"
)

// testTone returns n samples of a 440 Hz tone with some noise-like harmonics,
// so conversions touch every code path of the tables and the filter.
func testTone(n, rate int) []int16 {
	out := make([]int16, n)
	for i := range out {
		t := float64(i) / float64(rate)
		v := 9000*math.Sin(2*math.Pi*440*t) + 3000*math.Sin(2*math.Pi*3100*t) + 500*math.Sin(2*math.Pi*6000*t)
		out[i] = int16(v)
	}
	return out
}

// wavOf writes samples as a WAV file in enc at rate.
func wavOf(t *testing.T, enc Encoding, rate int, pcm []int16) []byte {
	t.Helper()
	var data []byte
	switch enc {
	case EncodingULaw:
		data = codec.EncodeULaw(nil, pcm)
	case EncodingALaw:
		data = codec.EncodeALaw(nil, pcm)
	default:
		data = codec.SamplesToPCM16LE(nil, pcm)
	}
	var b bytes.Buffer
	if err := WriteWAV(&b, enc, rate, data); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// The streaming conversion gives byte for byte what ReadWAV and ULaw8k give,
// whatever sizes the reads return.
func TestReadULaw8kMatchesWholeFile(t *testing.T) {
	for _, enc := range []Encoding{EncodingULaw, EncodingALaw, EncodingPCM16} {
		for _, rate := range []int{8000, 16000} {
			// More than one read block, and an odd count of samples.
			file := wavOf(t, enc, rate, testTone(3*readBlock/2+101, rate))
			a, err := ReadWAV(bytes.NewReader(file))
			if err != nil {
				t.Fatal(err)
			}
			want, err := a.ULaw8k()
			if err != nil {
				t.Fatal(err)
			}
			readers := map[string]func() io.Reader{
				"whole":    func() io.Reader { return bytes.NewReader(file) },
				"one byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(file)) },
				"halves":   func() io.Reader { return iotest.HalfReader(bytes.NewReader(file)) },
			}
			for name, r := range readers {
				got, err := ReadULaw8k(r(), len(want))
				if err != nil {
					t.Fatalf("%v %d Hz %s: %v", enc, rate, name, err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("%v %d Hz %s: %d bytes differ from ULaw8k's %d", enc, rate, name, len(got), len(want))
				}
			}
		}
	}
}

// A data chunk with a placeholder size runs to the end of the input; a
// trailing part of a sample is dropped.
func TestReadULaw8kStreamingSize(t *testing.T) {
	pcm := testTone(1000, 8000)
	data := append(codec.SamplesToPCM16LE(nil, pcm), 0x12) // half a sample at the end
	file := riff(chunk("fmt ", fmtBody(1, 1, 8000, 16)))
	file = append(file, "data"...)
	file = append(file, 0xFF, 0xFF, 0xFF, 0xFF)
	file = append(file, data...)
	got, err := ReadULaw8k(bytes.NewReader(file), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if want := codec.EncodeULaw(nil, pcm); !bytes.Equal(got, want) {
		t.Fatalf("%d bytes, want %d", len(got), len(want))
	}
}

func TestReadULaw8kErrors(t *testing.T) {
	tone := wavOf(t, EncodingULaw, 8000, testTone(8000, 8000))
	for name, tc := range map[string]struct {
		file  []byte
		limit int
		want  error
	}{
		"too long":  {tone, 7999, ErrTooLong},
		"truncated": {tone[:len(tone)-10], 1 << 20, ErrTruncated},
		"stereo":    {riff(chunk("fmt ", fmtBody(7, 2, 8000, 8)), chunk("data", make([]byte, 16))), 1 << 20, ErrNotMono},
		"44.1 kHz":  {riff(chunk("fmt ", fmtBody(1, 1, 44100, 16)), chunk("data", make([]byte, 16))), 1 << 20, ErrUnsupportedRate},
		"not wav":   {[]byte("<html>hello</html>"), 1 << 20, ErrNotWAV},
		"odd data":  {riff(chunk("fmt ", fmtBody(1, 1, 8000, 16)), chunk("data", make([]byte, 15))), 1 << 20, ErrMalformed},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ReadULaw8k(bytes.NewReader(tc.file), tc.limit)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := ReadULaw8k(io.MultiReader(bytes.NewReader(tone[:100]), failingReader{}), 1<<20); !errors.Is(err, errReadFailed) {
		t.Fatalf("reader error: %v", err)
	}
}

// A header that claims a huge data chunk does not make the reader allocate
// for it: the output is sized by the limit.
func TestReadULaw8kLyingSize(t *testing.T) {
	file := riff(chunk("fmt ", fmtBody(7, 1, 8000, 8)))
	file = append(file, "data"...)
	file = append(file, 0x00, 0x00, 0x00, 0x70) // 1.8 GB
	file = append(file, make([]byte, 1000)...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := ReadULaw8k(bytes.NewReader(file), 4096)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("err %v, want truncated", err)
	}
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 1<<20 {
		t.Fatalf("allocated %d bytes for a file of %d", grown, len(file))
	}
}

// OpenWAV gives the format first; ReadAll reads what ULaw8k does not take.
func TestOpenWAVReadAll(t *testing.T) {
	data := make([]byte, 32)
	for i := range data {
		data[i] = byte(i)
	}
	w, err := OpenWAV(bytes.NewReader(riff(chunk("fmt ", fmtBody(7, 2, 8000, 8)), chunk("data", data))))
	if err != nil {
		t.Fatal(err)
	}
	if w.Format.Channels != 2 || w.Format.Encoding != EncodingULaw || w.Format.Data != nil {
		t.Fatalf("format %+v", w.Format)
	}
	a, err := w.ReadAll()
	if err != nil || !bytes.Equal(a.Data, data) || a.Channels != 2 {
		t.Fatalf("ReadAll: %v %+v", err, a)
	}
}
