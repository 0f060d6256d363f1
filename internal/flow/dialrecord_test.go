package flow

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/records"
	"github.com/callstream/callstream/internal/stream"
)

// dialTapRecording records caller and callee frames (one each per slot)
// through a new dialRecordTap, the way the call pushes them, and returns
// the file and the seconds the tap reported.
func dialTapRecording(t *testing.T, f codec.Format, dual bool, caller, callee [][]byte) (*media.Audio, float64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "d.wav")
	enc, channels := dialRecordFileFormat(f, dual)
	w, err := records.CreateChannels(path, enc, f.Rate, channels)
	if err != nil {
		t.Fatal(err)
	}
	tap, err := newDialRecordTap(w, f, dual)
	if err != nil {
		t.Fatal(err)
	}
	mix, err := codec.NewDecoder(f)
	if err != nil {
		t.Fatal(err)
	}
	for i := range caller {
		slot := uint64(100 + i)
		tap.Push(stream.TrackInbound, slot, codec.Frame{Format: f, Payload: caller[i]})
		tap.Push(stream.TrackOutbound, slot, codec.Frame{Format: f, Payload: callee[i]})
		// The mixed track: both decoded and summed, as the call does.
		a, _ := mix.Decode(nil, caller[i])
		b, _ := mix.Decode(nil, callee[i])
		var l16 []byte
		for j := range a {
			l16 = binary.LittleEndian.AppendUint16(l16, uint16(saturate(int32(a[j])+int32(b[j]))))
		}
		tap.Push(stream.TrackMixed, slot, codec.Frame{Format: codec.L16(f.Rate), Payload: l16})
	}
	seconds, lost, err := tap.finish()
	if err != nil || lost != 0 {
		t.Fatalf("finish: lost %d, err %v", lost, err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := media.ReadWAV(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return a, seconds
}

func saturate(v int32) int16 { return int16(max(-32768, min(32767, v))) }

func TestDialRecordTapDual(t *testing.T) {
	const n = 120 // more than two chunks
	f := codec.PCMU
	caller, callee := frames(t, f, n, 8000), frames(t, f, n, 2000)
	a, seconds := dialTapRecording(t, f, true, caller, callee)
	if a.Channels != 2 || a.Encoding != media.EncodingPCM16 || a.SampleRate != 8000 {
		t.Fatalf("file: %d channels, %v at %d Hz; want 2, PCM16 at 8000", a.Channels, a.Encoding, a.SampleRate)
	}
	if seconds != 2.4 || len(a.Data) != n*160*4 {
		t.Fatalf("%g s, %d bytes; want 2.4 s, %d bytes", seconds, len(a.Data), n*160*4)
	}
	// Sample-exact: each channel is its party's µ-law decoded.
	for i := range n * 160 {
		l := int16(binary.LittleEndian.Uint16(a.Data[4*i:]))
		r := int16(binary.LittleEndian.Uint16(a.Data[4*i+2:]))
		if wl, wr := codec.ULawToPCM(caller[i/160][i%160]), codec.ULawToPCM(callee[i/160][i%160]); l != wl || r != wr {
			t.Fatalf("sample %d: (%d, %d), want caller %d, callee %d", i, l, r, wl, wr)
		}
	}
}

func TestDialRecordTapDualMissingCallerFrame(t *testing.T) {
	f := codec.PCMU
	path := filepath.Join(t.TempDir(), "d.wav")
	w, err := records.CreateChannels(path, media.EncodingPCM16, 8000, 2)
	if err != nil {
		t.Fatal(err)
	}
	tap, err := newDialRecordTap(w, f, true)
	if err != nil {
		t.Fatal(err)
	}
	loud := frames(t, f, 2, 8000)
	tap.Push(stream.TrackInbound, 1, codec.Frame{Format: f, Payload: loud[0]})
	tap.Push(stream.TrackOutbound, 2, codec.Frame{Format: f, Payload: loud[1]}) // slot 2 had no inbound frame
	if _, _, err := tap.finish(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	a, err := media.ReadWAV(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 160 {
		if l := int16(binary.LittleEndian.Uint16(a.Data[4*i:])); l != 0 {
			t.Fatalf("caller sample %d = %d: another slot's frame was recorded", i, l)
		}
	}
}

func TestDialRecordTapMono(t *testing.T) {
	for _, f := range []codec.Format{codec.PCMU, codec.PCMA, codec.L16(16000)} {
		t.Run(f.String(), func(t *testing.T) {
			const n = 60
			caller, callee := frames(t, f, n, 6000), frames(t, f, n, 3000)
			a, seconds := dialTapRecording(t, f, false, caller, callee)
			enc, _ := dialRecordFileFormat(f, false)
			if a.Channels != 1 || a.Encoding != enc || a.SampleRate != f.Rate {
				t.Fatalf("file: %d channels, %v at %d Hz", a.Channels, a.Encoding, a.SampleRate)
			}
			if seconds != 1.2 {
				t.Fatalf("%g s, want 1.2", seconds)
			}
			dec, err := codec.NewDecoder(f)
			if err != nil {
				t.Fatal(err)
			}
			got := wavPCM(a)
			if len(got) != n*f.FrameSamples() {
				t.Fatalf("%d samples, want %d", len(got), n*f.FrameSamples())
			}
			// Both parties, summed: within G.711's step of the exact sum.
			for i := range n {
				x, _ := dec.Decode(nil, caller[i])
				y, _ := dec.Decode(nil, callee[i])
				for j := range x {
					want := int32(saturate(int32(x[j]) + int32(y[j])))
					d := int32(got[i*len(x)+j]) - want
					if d < 0 {
						d = -d
					}
					if d > 8+abs32(want)/16 { // G.711 quantization
						t.Fatalf("sample %d: %d, want about %d", i*len(x)+j, got[i*len(x)+j], want)
					}
				}
			}
		})
	}
}

func abs32(v int32) int32 {
	if v < 0 {
		return -v
	}
	return v
}

// wavPCM returns a mono file's samples as 16-bit PCM.
func wavPCM(a *media.Audio) []int16 {
	var out []int16
	switch a.Encoding {
	case media.EncodingULaw:
		out = codec.DecodeULaw(nil, a.Data)
	case media.EncodingALaw:
		out = codec.DecodeALaw(nil, a.Data)
	default:
		out = appendL16(nil, a.Data)
	}
	return out
}

// Push converts a frame into the file's chunk without allocating (a chunk
// is allocated once per 50 frames at most, until written ones come back).
func TestDialRecordTapPushAllocs(t *testing.T) {
	for _, dual := range []bool{false, true} {
		f := codec.PCMU
		enc, channels := dialRecordFileFormat(f, dual)
		w, err := records.CreateChannels(filepath.Join(t.TempDir(), "a.wav"), enc, f.Rate, channels)
		if err != nil {
			t.Fatal(err)
		}
		tap, err := newDialRecordTap(w, f, dual)
		if err != nil {
			t.Fatal(err)
		}
		in := frames(t, f, 1, 5000)[0]
		mixed := make([]byte, 320)
		slot := uint64(0)
		allocs := testing.AllocsPerRun(200, func() {
			slot++
			tap.Push(stream.TrackInbound, slot, codec.Frame{Format: f, Payload: in})
			tap.Push(stream.TrackOutbound, slot, codec.Frame{Format: f, Payload: in})
			tap.Push(stream.TrackMixed, slot, codec.Frame{Format: codec.L16(8000), Payload: mixed})
		})
		if _, _, err := tap.finish(); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if allocs != 0 {
			t.Errorf("dual %v: %v allocations per frame", dual, allocs)
		}
	}
}
