package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"testing"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/codec/codectest"
)

// The testdata WAV files were written by sox; the .raw files next to them
// hold the same samples without a header, also written by sox.
func TestReadWAVFromSox(t *testing.T) {
	for name, tc := range map[string]struct {
		file     string
		enc      Encoding
		rate     int
		channels int
		raw      string // expected Data, if set
		dataLen  int
	}{
		"ulaw":               {"ulaw.wav", EncodingULaw, 8000, 1, "ulaw.raw", 400},
		"alaw":               {"alaw.wav", EncodingALaw, 8000, 1, "alaw.raw", 400},
		"pcm16":              {"pcm16.wav", EncodingPCM16, 8000, 1, "pcm16.raw", 800},
		"pcm16 16 kHz":       {"pcm16_16k.wav", EncodingPCM16, 16000, 1, "", 1600},
		"pcm16 44.1 kHz":     {"pcm16_44k.wav", EncodingPCM16, 44100, 1, "", 440},
		"stereo ulaw":        {"stereo.wav", EncodingULaw, 8000, 2, "", 160},
		"extensible 3 chan.": {"three.wav", EncodingPCM16, 8000, 3, "", 240},
		"float as pcm16":     {"float.wav", EncodingPCM16, 8000, 1, "", 80},
	} {
		t.Run(name, func(t *testing.T) {
			a, err := ReadWAV(bytes.NewReader(codectest.Testdata(t, tc.file)))
			if err != nil {
				t.Fatal(err)
			}
			if a.Encoding != tc.enc || a.SampleRate != tc.rate || a.Channels != tc.channels || len(a.Data) != tc.dataLen {
				t.Fatalf("got %v %d Hz %d ch %d bytes, want %v %d Hz %d ch %d bytes",
					a.Encoding, a.SampleRate, a.Channels, len(a.Data), tc.enc, tc.rate, tc.channels, tc.dataLen)
			}
			if tc.raw != "" && !bytes.Equal(a.Data, codectest.Testdata(t, tc.raw)) {
				t.Fatal("data differs from sox's raw output")
			}
		})
	}
}

// chunk returns a RIFF chunk with its pad byte.
func chunk(id string, body []byte) []byte {
	b := append([]byte(id), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...)
	b = append(b, body...)
	if len(body)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

// fmtBody returns a 16-byte fmt chunk body.
func fmtBody(tag uint16, channels, rate, bits int) []byte {
	b := binary.LittleEndian.AppendUint16(nil, tag)
	b = binary.LittleEndian.AppendUint16(b, uint16(channels))
	b = binary.LittleEndian.AppendUint32(b, uint32(rate))
	b = binary.LittleEndian.AppendUint32(b, uint32(rate*channels*bits/8))
	b = binary.LittleEndian.AppendUint16(b, uint16(channels*bits/8))
	return binary.LittleEndian.AppendUint16(b, uint16(bits))
}

// extensibleBody returns a 40-byte WAVE_FORMAT_EXTENSIBLE fmt body wrapping
// the sub-format tag sub.
func extensibleBody(sub uint16, channels, rate, bits int) []byte {
	b := fmtBody(wavFormatExtensible, channels, rate, bits)
	b = binary.LittleEndian.AppendUint16(b, 22)           // cbSize
	b = binary.LittleEndian.AppendUint16(b, uint16(bits)) // valid bits
	b = binary.LittleEndian.AppendUint32(b, 4)            // channel mask: front centre
	b = binary.LittleEndian.AppendUint16(b, sub)
	return append(b, extensibleGUIDTail...)
}

// riff wraps chunks in a RIFF/WAVE header.
func riff(chunks ...[]byte) []byte {
	body := []byte("WAVE")
	for _, c := range chunks {
		body = append(body, c...)
	}
	return append(append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...), body...)
}

func TestReadWAVChunks(t *testing.T) {
	samples := []byte{1, 2, 3, 4, 5}
	for name, tc := range map[string]struct {
		file []byte
		enc  Encoding
		data []byte
	}{
		"odd LIST and junk chunks are skipped": {
			riff(chunk("JUNK", []byte{9, 9, 9}), chunk("fmt ", fmtBody(7, 1, 8000, 8)),
				chunk("LIST", []byte("INFOICMT\x01\x00\x00\x00x")), chunk("data", samples)),
			EncodingULaw, samples,
		},
		"chunks after data are ignored": {
			riff(chunk("fmt ", fmtBody(6, 1, 8000, 8)), chunk("data", samples), chunk("LIST", []byte("abc"))),
			EncodingALaw, samples,
		},
		"odd fmt chunk with extension": {
			riff(chunk("fmt ", append(fmtBody(7, 1, 8000, 8), 0, 0, 0)), chunk("data", samples)),
			EncodingULaw, samples,
		},
		"extensible µ-law": {
			riff(chunk("fmt ", extensibleBody(7, 1, 8000, 8)), chunk("fact", []byte{5, 0, 0, 0}), chunk("data", samples)),
			EncodingULaw, samples,
		},
		"extensible PCM": {
			riff(chunk("fmt ", extensibleBody(1, 1, 8000, 16)), chunk("data", []byte{1, 0, 2, 0})),
			EncodingPCM16, []byte{1, 0, 2, 0},
		},
		"missing final pad byte": {
			riff(chunk("fmt ", fmtBody(7, 1, 8000, 8)), chunk("data", samples))[:8+4+24+8+5],
			EncodingULaw, samples,
		},
	} {
		t.Run(name, func(t *testing.T) {
			a, err := ReadWAV(bytes.NewReader(tc.file))
			if err != nil {
				t.Fatal(err)
			}
			if a.Encoding != tc.enc || a.SampleRate != 8000 || a.Channels != 1 || !bytes.Equal(a.Data, tc.data) {
				t.Fatalf("got %+v", a)
			}
		})
	}
}

// Tools writing to a pipe leave 0x7FFFF000 as the data size; such a chunk
// runs to the end of the input, cut to whole sample frames.
func TestReadWAVStreamingSize(t *testing.T) {
	file := riff(chunk("fmt ", fmtBody(1, 1, 8000, 16)))
	file = append(file, "data\x00\xf0\xff\x7f"...)
	file = append(file, 1, 0, 2, 0, 3)
	a, err := ReadWAV(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Data, []byte{1, 0, 2, 0}) {
		t.Fatalf("data = %v", a.Data)
	}
}

func TestReadWAVErrors(t *testing.T) {
	ulaw := codectest.Testdata(t, "ulaw.wav") // fmt at 12 (18 bytes), fact at 38, data at 50
	for name, tc := range map[string]struct {
		file []byte
		kind error
		msg  string
	}{
		"empty":               {nil, ErrNotWAV, "wav: not a RIFF/WAVE file"},
		"not RIFF":            {[]byte("ID3\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), ErrNotWAV, "wav: not a RIFF/WAVE file"},
		"RIFF but not WAVE":   {[]byte("RIFF\x04\x00\x00\x00AVI "), ErrNotWAV, "wav: not a RIFF/WAVE file"},
		"short RIFF header":   {ulaw[:6], ErrTruncated, "wav: truncated RIFF header: 6 of 12 bytes"},
		"in fmt chunk":        {ulaw[:30], ErrTruncated, `wav: truncated "fmt " chunk: 10 of 18 bytes`},
		"in chunk header":     {ulaw[:40], ErrTruncated, "wav: truncated chunk header: 2 of 8 bytes"},
		"in fact chunk":       {ulaw[:48], ErrTruncated, `wav: truncated "fact" chunk: 2 of 4 bytes`},
		"in data chunk":       {ulaw[:len(ulaw)-100], ErrTruncated, `wav: truncated "data" chunk: 300 of 400 bytes`},
		"no fmt chunk":        {riff(chunk("LIST", nil)), ErrMalformed, `wav: no "fmt " chunk`},
		"no data chunk":       {ulaw[:50], ErrMalformed, `wav: no "data" chunk`},
		"data before fmt":     {riff(chunk("data", []byte{1}), chunk("fmt ", fmtBody(7, 1, 8000, 8))), ErrMalformed, `wav: "data" chunk before "fmt " chunk`},
		"tiny fmt chunk":      {riff(chunk("fmt ", []byte{7, 0})), ErrMalformed, `wav: "fmt " chunk size 2, want 16 to 4096`},
		"MP3":                 {riff(chunk("fmt ", fmtBody(85, 1, 8000, 0)), chunk("data", nil)), ErrUnsupportedFormat, "wav: unsupported format 85 (MP3)"},
		"unknown tag":         {riff(chunk("fmt ", fmtBody(0x1234, 1, 8000, 8))), ErrUnsupportedFormat, "wav: unsupported format 4660 (unknown)"},
		"12-bit PCM":          {riff(chunk("fmt ", fmtBody(1, 1, 8000, 12))), ErrUnsupportedFormat, "wav: unsupported format 1 (PCM) with 12 bits per sample, want 8, 16, 24 or 32"},
		"40-bit PCM":          {riff(chunk("fmt ", fmtBody(1, 1, 8000, 40))), ErrUnsupportedFormat, "wav: unsupported format 1 (PCM) with 40 bits per sample, want 8, 16, 24 or 32"},
		"16-bit float":        {riff(chunk("fmt ", fmtBody(3, 1, 8000, 16))), ErrUnsupportedFormat, "wav: unsupported format 3 (IEEE float) with 16 bits per sample, want 32 or 64"},
		"16-bit µ-law":        {riff(chunk("fmt ", fmtBody(7, 1, 8000, 16))), ErrUnsupportedFormat, "wav: unsupported format 7 (mu-law) with 16 bits per sample, want 8"},
		"extensible bad GUID": {riff(chunk("fmt ", append(extensibleBody(7, 1, 8000, 8)[:39], 0))), ErrUnsupportedFormat, "wav: unsupported extensible sub-format 0700000000001000800000aa00389b00"},
		"short extensible":    {riff(chunk("fmt ", fmtBody(0xFFFE, 1, 8000, 8))), ErrMalformed, `wav: "fmt " chunk size 16, want 40 for WAVE_FORMAT_EXTENSIBLE`},
		"zero channels":       {riff(chunk("fmt ", fmtBody(7, 0, 8000, 8))), ErrMalformed, "wav: 0 channels"},
		"zero rate":           {riff(chunk("fmt ", fmtBody(7, 1, 0, 8))), ErrMalformed, "wav: sample rate 0 out of range"},
		"bad block align":     {riff(chunk("fmt ", append(fmtBody(1, 1, 8000, 16)[:12], 4, 0, 16, 0))), ErrMalformed, "wav: block align 4, want 2"},
		"odd PCM data":        {riff(chunk("fmt ", fmtBody(1, 1, 8000, 16)), chunk("data", []byte{1, 2, 3})), ErrMalformed, `wav: "data" chunk size 3 is not a multiple of block align 2`},
	} {
		t.Run(name, func(t *testing.T) {
			a, err := ReadWAV(bytes.NewReader(tc.file))
			if err == nil {
				t.Fatalf("no error, got %+v", a)
			}
			if !errors.Is(err, tc.kind) {
				t.Errorf("error %v is not %v", err, tc.kind)
			}
			if err.Error() != tc.msg {
				t.Errorf("error %q, want %q", err, tc.msg)
			}
		})
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errReadFailed }

var errReadFailed = errors.New("disk on fire")

func TestReadWAVReaderError(t *testing.T) {
	ulaw := codectest.Testdata(t, "ulaw.wav")
	for _, n := range []int{0, 6, 12, 30, 60} {
		_, err := ReadWAV(io.MultiReader(bytes.NewReader(ulaw[:n]), failingReader{}))
		if !errors.Is(err, errReadFailed) {
			t.Errorf("cut at %d: error %v does not wrap the reader's", n, err)
		}
	}
}

// WriteWAV lays files out as sox does, so its output equals sox's byte for
// byte (which also shows sox reads it).
func TestWriteWAVMatchesSox(t *testing.T) {
	for _, tc := range []struct {
		wav, raw string
		enc      Encoding
	}{
		{"ulaw.wav", "ulaw.raw", EncodingULaw},
		{"alaw.wav", "alaw.raw", EncodingALaw},
		{"pcm16.wav", "pcm16.raw", EncodingPCM16},
	} {
		var buf bytes.Buffer
		if err := WriteWAV(&buf, tc.enc, 8000, codectest.Testdata(t, tc.raw)); err != nil {
			t.Fatal(err)
		}
		if want := codectest.Testdata(t, tc.wav); !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("%v: WriteWAV output differs from %s:\n got %x\nwant %x", tc.enc, tc.wav, buf.Bytes()[:64], want[:64])
		}
	}
}

func TestWriteWAVRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		enc  Encoding
		rate int
		data []byte
	}{
		{EncodingULaw, 8000, []byte{1, 2, 3}}, // odd: padded
		{EncodingALaw, 16000, []byte{0xD5, 0x55}},
		{EncodingPCM16, 44100, []byte{1, 2, 3, 4}},
		{EncodingULaw, 8000, nil},
	} {
		var buf bytes.Buffer
		if err := WriteWAV(&buf, tc.enc, tc.rate, tc.data); err != nil {
			t.Fatal(err)
		}
		b := buf.Bytes()
		if len(b)%2 != 0 || int(binary.LittleEndian.Uint32(b[4:])) != len(b)-8 {
			t.Errorf("%v: file of %d bytes, RIFF size %d", tc.enc, len(b), binary.LittleEndian.Uint32(b[4:]))
		}
		a, err := ReadWAV(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if a.Encoding != tc.enc || a.SampleRate != tc.rate || a.Channels != 1 || !bytes.Equal(a.Data, tc.data) {
			t.Errorf("%v: read back %+v", tc.enc, a)
		}
	}
}

type failingWriter struct{ after int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.after <= 0 {
		return 0, errWriteFailed
	}
	w.after--
	return len(p), nil
}

var errWriteFailed = errors.New("pipe burst")

func TestWriteWAVErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		enc  Encoding
		rate int
		data []byte
		kind error
		msg  string
	}{
		"bad encoding": {Encoding(9), 8000, nil, ErrUnsupportedFormat, "wav: unsupported encoding Encoding(9)"},
		"zero rate":    {EncodingULaw, 0, nil, ErrUnsupportedRate, "wav: sample rate 0 out of range"},
		"huge rate":    {EncodingPCM16, math.MaxUint32, nil, ErrUnsupportedRate, "wav: sample rate 4294967295 out of range"},
		"odd PCM":      {EncodingPCM16, 8000, []byte{1}, ErrMalformed, "wav: pcm16 data length 1 is not a multiple of 2"},
	} {
		err := WriteWAV(io.Discard, tc.enc, tc.rate, tc.data)
		if !errors.Is(err, tc.kind) || err.Error() != tc.msg {
			t.Errorf("%s: error %v, want %q", name, err, tc.msg)
		}
	}
	for after := range 3 {
		err := WriteWAV(&failingWriter{after: after}, EncodingULaw, 8000, []byte{1})
		if !errors.Is(err, errWriteFailed) {
			t.Errorf("writer failing after %d writes: error %v", after, err)
		}
	}
}

func TestEncodingString(t *testing.T) {
	for e, want := range map[Encoding]string{EncodingULaw: "ulaw", EncodingALaw: "alaw", EncodingPCM16: "pcm16", 0: "Encoding(0)"} {
		if got := e.String(); got != want {
			t.Errorf("%d: %q, want %q", uint8(e), got, want)
		}
	}
}

func TestULaw8k(t *testing.T) {
	read := func(name string) *Audio {
		t.Helper()
		a, err := ReadWAV(bytes.NewReader(codectest.Testdata(t, name)))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	// sox converted the same files to µ-law; the bytes must agree.
	for _, tc := range []struct{ wav, want string }{
		{"ulaw.wav", "ulaw.raw"},
		{"alaw.wav", "alaw_as_ulaw.raw"},
		{"pcm16.wav", "pcm16_as_ulaw.raw"},
	} {
		a := read(tc.wav)
		got, err := a.ULaw8k()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, codectest.Testdata(t, tc.want)) {
			t.Errorf("%s: ULaw8k differs from sox's %s", tc.wav, tc.want)
		}
		if len(got) > 0 && &got[0] == &a.Data[0] {
			t.Errorf("%s: ULaw8k returned the Audio's own buffer", tc.wav)
		}
	}

	// 16 kHz input comes out at 8 kHz with the tone intact.
	a := read("pcm16_16k.wav")
	got, err := a.ULaw8k()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 400 {
		t.Fatalf("16 kHz: %d bytes, want 400", len(got))
	}
	pcm := codec.DecodeULaw(nil, got)[48:] // skip the filter's start-up
	if frac := codectest.ToneFraction(pcm, 8000, 1000); frac < 0.99 {
		t.Errorf("16 kHz: only %.3f of the output power is at 1 kHz", frac)
	}
	a16 := &Audio{Encoding: EncodingULaw, SampleRate: 16000, Channels: 1, Data: codec.EncodeULaw(nil, codec.PCM16LEToSamples(nil, a.Data))}
	if got16, err := a16.ULaw8k(); err != nil || len(got16) != 400 {
		t.Errorf("16 kHz µ-law: %d bytes, %v", len(got16), err)
	}

	for name, tc := range map[string]struct {
		a    *Audio
		kind error
		msg  string
	}{
		"stereo":       {read("stereo.wav"), ErrNotMono, "wav: 2 channels, want mono"},
		"44.1 kHz":     {read("pcm16_44k.wav"), ErrUnsupportedRate, "wav: 44100 Hz, want 8000 or 16000"},
		"no encoding":  {&Audio{SampleRate: 8000, Channels: 1}, ErrUnsupportedFormat, "wav: unsupported encoding Encoding(0)"},
		"odd PCM data": {&Audio{Encoding: EncodingPCM16, SampleRate: 8000, Channels: 1, Data: []byte{1}}, ErrMalformed, "wav: pcm16 data length 1 is not a multiple of 2"},
	} {
		_, err := tc.a.ULaw8k()
		if !errors.Is(err, tc.kind) || err == nil || err.Error() != tc.msg {
			t.Errorf("%s: error %v, want %q", name, err, tc.msg)
		}
	}
}
