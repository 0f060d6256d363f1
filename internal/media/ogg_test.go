package media

import (
	"bytes"
	"errors"
	"io"
	"math"
	"os"
	"strings"
	"testing"
)

// toneSamples is the tone of the Ogg/Opus fixtures: 1 s of 440 Hz at
// 48 kHz, amplitude 8000.
func toneSamples() []int16 {
	x := make([]int16, 48000)
	for i := range x {
		x[i] = int16(8000 * math.Sin(2*math.Pi*440*float64(i)/48000))
	}
	return x
}

// TestOggOpusFixtures decodes the libopus fixtures (CELT and SILK modes)
// and finds the tone at its level: the same length, within 1 dB.
func TestOggOpusFixtures(t *testing.T) {
	want := rms(toneSamples())
	for _, name := range []string{"tone440_celt.opus", "tone440_silk.opus"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if c := Sniff(b); c != ContainerOgg {
			t.Fatalf("%s: Sniff = %v", name, c)
		}
		a, err := Decode(b, 0)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if a.SampleRate != 48000 || a.Channels != 1 || a.Encoding != EncodingPCM16 {
			t.Fatalf("%s: %v %d Hz %d channels", name, a.Encoding, a.SampleRate, a.Channels)
		}
		if n := len(a.Data) / 2; n != 48000 {
			t.Errorf("%s: %d samples, want 48000 (pre-skip and end trimmed)", name, n)
		}
		// The middle, away from the encoder's ramp-up.
		mid := pcmOf(a)[4800:43200]
		db := 20 * math.Log10(rms(mid)/want)
		t.Logf("%s: %d bytes, level %+.2f dB", name, len(b), db)
		if math.Abs(db) > 1 {
			t.Errorf("%s: level %+.2f dB from the source tone", name, db)
		}
	}
}

// TestOggRefusesOtherCodecs: Vorbis, FLAC and unknown codecs in Ogg fail
// with an error naming the codec and what to use instead.
func TestOggRefusesOtherCodecs(t *testing.T) {
	for head, want := range map[string]string{
		"\x01vorbis\x00\x00\x00\x00\x01": "ogg: Vorbis audio is not supported; use WAV, MP3 or Ogg/Opus",
		"\x7fFLAC\x01\x00":               "ogg: FLAC audio is not supported; use WAV, MP3 or Ogg/Opus",
		"\x80theora":                     "ogg: a stream of an unknown codec; use WAV, MP3 or Ogg/Opus",
	} {
		w := &oggWriter{serial: 7}
		w.page(0, true, []byte(head))
		_, err := Decode(w.buf.Bytes(), 0)
		if !errors.Is(err, ErrUnsupportedFormat) || err.Error() != want {
			t.Errorf("%.8q: err = %v, want %q", head, err, want)
		}
	}
}

// TestOggPages: a checksum off by one bit, a cut file and a bad version
// are malformed; a packet spanning pages is put together; pages of
// another stream are skipped.
func TestOggPages(t *testing.T) {
	good := &oggWriter{serial: 1}
	good.page(0, false, opusHead(1, 0))
	good.page(0, false, opusTags())
	b := good.buf.Bytes()

	flipped := bytes.Clone(b)
	flipped[len(flipped)-1] ^= 1
	if _, err := Decode(flipped, 0); !errors.Is(err, ErrMalformedOgg) || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("flipped bit: %v", err)
	}
	if _, err := Decode(b[:len(b)-3], 0); !errors.Is(err, ErrMalformedOgg) || !strings.Contains(err.Error(), "ends inside a page") {
		t.Errorf("cut: %v", err)
	}
	v1 := bytes.Clone(b)
	v1[4] = 1
	if _, err := decodeOgg(bytes.NewReader(v1), 0); !errors.Is(err, ErrMalformedOgg) {
		t.Errorf("version 1: %v", err)
	}
	if _, err := Decode(b, 0); !errors.Is(err, ErrMalformedOpus) || !strings.Contains(err.Error(), "no audio") {
		t.Errorf("headers only: %v", err)
	}

	// A 600-byte packet in three pages (255+255 | 90), with a page of
	// another stream between them.
	long := bytes.Repeat([]byte{0xA5}, 600)
	w := &oggWriter{serial: 2}
	w.raw(0, false, false, []byte{255, 255}, long[:510])
	other := &oggWriter{serial: 3}
	other.page(0, false, []byte("\x80theora"))
	w.buf.Write(other.buf.Bytes())
	w.raw(0, false, true, []byte{90, 3}, append(long[510:], "end"...))
	o := newOggReader(bytes.NewReader(w.buf.Bytes()))
	p, err := o.nextPacket()
	if err != nil || !bytes.Equal(p, long) {
		t.Fatalf("spanning packet: %d bytes, %v", len(p), err)
	}
	if p, err = o.nextPacket(); err != nil || string(p) != "end" {
		t.Fatalf("next packet: %q, %v", p, err)
	}
	if _, err = o.nextPacket(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last packet: %v", err)
	}
}
