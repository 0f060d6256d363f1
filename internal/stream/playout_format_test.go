package stream_test

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/scenario/voxtest"
	"github.com/callstream/callstream/internal/stream"
)

// writeChunks writes b into p in chunks of n bytes (the app's own cut).
func writeChunks(p *stream.Playout, b []byte, n int) {
	for i := 0; i < len(b); i += n {
		p.Write(b[i:min(i+n, len(b))])
	}
}

// readAll reads p frame by frame until it runs dry.
func readAll(p *stream.Playout) []byte {
	var out []byte
	dst := make([]byte, p.FrameBytes())
	for p.ReadFrame(dst) {
		out = append(out, dst...)
	}
	return out
}

func mustPlayout(t *testing.T, limit time.Duration, wire, call codec.Format) *stream.Playout {
	t.Helper()
	p, err := stream.NewPlayout(limit, wire, call)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// App audio in the call's own encoding reaches the caller byte for byte:
// µ-law to a PCMU call, A-law to a PCMA one, 16 kHz L16 to an Opus call's
// linear frames.
func TestPlayoutPassThrough(t *testing.T) {
	for _, f := range []codec.Format{codec.PCMU, codec.PCMA, codec.L16(16000)} {
		t.Run(f.String(), func(t *testing.T) {
			p := mustPlayout(t, time.Second, f, f)
			want := bytes.Join(numberedFrames(10, f.MaxFrameBytes()), nil)
			writeChunks(p, want, 333)
			if p.FrameBytes() != f.MaxFrameBytes() || p.Buffered() != 200*time.Millisecond {
				t.Fatalf("frame %d bytes, %v buffered", p.FrameBytes(), p.Buffered())
			}
			if got := readAll(p); !bytes.Equal(got, want) {
				t.Fatalf("%d bytes played, want the %d written unchanged", len(got), len(want))
			}
		})
	}
}

// 8 kHz L16 from the app to a PCMA caller is encoded to A-law once, even
// when the app's chunks split samples.
func TestPlayoutL16ToPCMA(t *testing.T) {
	pcm := voxtest.Tone(1600, 8000, 700, 12000)
	p := mustPlayout(t, time.Second, codec.L16(8000), codec.PCMA)
	writeChunks(p, codec.SamplesToPCM16LE(nil, pcm), 101)
	if got, want := readAll(p), codec.EncodeALaw(nil, pcm); !bytes.Equal(got, want) {
		t.Fatalf("%d bytes played, not the A-law of the app's samples", len(got))
	}
}

// 16 kHz app audio reaches a G.722 caller without passing through 8 kHz:
// a 6 kHz tone survives.
func TestPlayoutWidebandToG722(t *testing.T) {
	tone := voxtest.Tone(50*320, 16000, 6000, 8000)
	p := mustPlayout(t, 2*time.Second, codec.L16(16000), codec.G722)
	writeChunks(p, codec.SamplesToPCM16LE(nil, tone), 640)
	played := readAll(p)
	if len(played) != 50*160 {
		t.Fatalf("%d G.722 bytes played, want %d", len(played), 50*160)
	}
	dec, err := codec.NewDecoder(codec.G722)
	if err != nil {
		t.Fatal(err)
	}
	s, err := dec.Decode(nil, played)
	if err != nil {
		t.Fatal(err)
	}
	s = s[1600:]
	pw := voxtest.Power(s, 16000, 6000)
	if snr := log10(pw/(voxtest.MeanPower(s)-pw)) * 10; snr < 20 {
		t.Fatalf("6 kHz tone SNR %.1f dB, want > 20", snr)
	}
}

// The limit counts the call's frames: 100 ms of an L16/16000 call is
// 3200 bytes, and what is dropped is counted in them too; Clear forgets a sample split across writes, so the audio
// after it is not shifted by a stale byte.
func TestPlayoutLimitAndClearInCallFormat(t *testing.T) {
	p := mustPlayout(t, 100*time.Millisecond, codec.L16(8000), codec.L16(16000))
	// 250 ms at 8 kHz is 8000 bytes at 16 kHz: 3200 kept, 4800 dropped.
	if n := p.Write(make([]byte, 4000)); n != 3200 || p.Dropped() != 4800 {
		t.Fatalf("accepted %d dropped %d, want 3200 and 4800", n, p.Dropped())
	}
	p.Clear()
	q := mustPlayout(t, time.Second, codec.L16(8000), codec.PCMU)
	q.Write([]byte{0x55}) // half a sample
	q.Clear()
	pcm := voxtest.Tone(320, 8000, 440, 10000)
	q.Write(codec.SamplesToPCM16LE(nil, pcm))
	if got, want := readAll(q), codec.EncodeULaw(nil, pcm); !bytes.Equal(got, want) {
		t.Fatal("audio after a clear is not the app's samples: the split sample leaked")
	}
}

// SetWire switches the app's format; formats that cannot be converted are
// refused with a clear error.
func TestPlayoutSetWireAndErrors(t *testing.T) {
	p := mustPlayout(t, time.Second, codec.PCMU, codec.PCMA)
	if err := p.SetWire(codec.PCMA); err != nil {
		t.Fatal(err)
	}
	alaw := bytes.Join(numberedFrames(3, 160), nil)
	p.Write(alaw)
	if got := readAll(p); !bytes.Equal(got, alaw) || p.Wire() != codec.PCMA {
		t.Fatal("A-law to a PCMA call after SetWire is not passed through")
	}
	if _, err := stream.NewPlayout(time.Second, codec.PCMU, codec.Opus); !errors.Is(err, codec.ErrUnknownFormat) {
		t.Fatalf("a playout into Opus frames: %v", err)
	}
	if !codec.OpusAvailable {
		if _, err := stream.NewPlayout(time.Second, codec.Opus, codec.PCMU); !errors.Is(err, codec.ErrUnavailable) {
			t.Fatalf("Opus app audio without Opus: %v", err)
		}
		if err := p.SetWire(codec.Opus); err == nil || p.Wire() != codec.PCMA {
			t.Fatalf("SetWire(Opus) without Opus: %v, wire %v", err, p.Wire())
		}
	}
}
