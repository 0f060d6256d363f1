package recorder

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/codec/frametest"
	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/records"
	"github.com/callstream/callstream/internal/stream"
)

// frames returns n 20 ms frames of f: a 440 Hz tone at amplitude amp
// (0: digital silence).
func frames(t *testing.T, f codec.Format, n int, amp float64) [][]byte {
	return frametest.Tone(t, f, n, 440, amp)
}

// tapRecording records caller and callee frames (one each per slot)
// through a new Recorder of ForCall(f, dual), the way the call pushes
// them, and returns the file and the seconds the Recorder reported.
func tapRecording(t *testing.T, f codec.Format, dual bool, caller, callee [][]byte) (*media.Audio, float64) {
	t.Helper()
	return formatRecording(t, f, ForCall(f, dual), caller, callee)
}

// formatRecording is tapRecording into a file of format ff.
func formatRecording(t *testing.T, f codec.Format, ff Format, caller, callee [][]byte) (*media.Audio, float64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "d.wav")
	w, err := records.CreateChannels(path, ff.Encoding, ff.Rate, ff.Channels)
	if err != nil {
		t.Fatal(err)
	}
	tap, err := New(w, f, ff, 0)
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
	res, err := tap.Stop()
	if err != nil || res.Lost != 0 {
		t.Fatalf("Stop: lost %d, err %v", res.Lost, err)
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
	return a, res.Duration().Seconds()
}

func saturate(v int32) int16 { return int16(max(-32768, min(32767, v))) }

func TestRecorderDual(t *testing.T) {
	const n = 120 // more than two chunks
	f := codec.PCMU
	caller, callee := frames(t, f, n, 8000), frames(t, f, n, 2000)
	a, seconds := tapRecording(t, f, true, caller, callee)
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

func TestRecorderDualMissingCallerFrame(t *testing.T) {
	f := codec.PCMU
	path := filepath.Join(t.TempDir(), "d.wav")
	w, err := records.CreateChannels(path, media.EncodingPCM16, 8000, 2)
	if err != nil {
		t.Fatal(err)
	}
	tap, err := New(w, f, ForCall(f, true), 0)
	if err != nil {
		t.Fatal(err)
	}
	loud := frames(t, f, 2, 8000)
	tap.Push(stream.TrackInbound, 1, codec.Frame{Format: f, Payload: loud[0]})
	tap.Push(stream.TrackOutbound, 2, codec.Frame{Format: f, Payload: loud[1]}) // slot 2 had no inbound frame
	if _, err := tap.Stop(); err != nil {
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

func TestRecorderMono(t *testing.T) {
	for _, f := range []codec.Format{codec.PCMU, codec.PCMA, codec.L16(16000)} {
		t.Run(f.String(), func(t *testing.T) {
			const n = 60
			caller, callee := frames(t, f, n, 6000), frames(t, f, n, 3000)
			a, seconds := tapRecording(t, f, false, caller, callee)
			if a.Channels != 1 || a.Encoding != ForCall(f, false).Encoding || a.SampleRate != f.Rate {
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
func TestRecorderPushAllocs(t *testing.T) {
	for _, dual := range []bool{false, true} {
		f := codec.PCMU
		ff := ForCall(f, dual)
		w, err := records.CreateChannels(filepath.Join(t.TempDir(), "a.wav"), ff.Encoding, ff.Rate, ff.Channels)
		if err != nil {
			t.Fatal(err)
		}
		tap, err := New(w, f, ff, 0)
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
		if _, err := tap.Stop(); err != nil {
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

// A 16 kHz call recorded at 8 kHz: half the samples, each the mean of two,
// in µ-law for one channel and 16-bit PCM for two, still one 20 ms frame
// per slot.
func TestRecorderDownsample(t *testing.T) {
	f := codec.L16(16000)
	const n = 25
	caller, callee := frames(t, f, n, 6000), frames(t, f, n, 0)
	mono, seconds := formatRecording(t, f, Format{media.EncodingULaw, 8000, 1}, caller, callee)
	if mono.SampleRate != 8000 || mono.Encoding != media.EncodingULaw || len(mono.Data) != n*160 || seconds != 0.5 {
		t.Fatalf("mono: %v at %d Hz, %d bytes, %g s; want µ-law at 8000, %d bytes, 0.5 s", mono.Encoding, mono.SampleRate, len(mono.Data), seconds, n*160)
	}
	stereo, _ := formatRecording(t, f, Format{media.EncodingPCM16, 8000, 2}, caller, callee)
	if stereo.Channels != 2 || len(stereo.Data) != n*160*4 {
		t.Fatalf("stereo: %d channels, %d bytes", stereo.Channels, len(stereo.Data))
	}
	for i := range n * 160 {
		x := appendL16(nil, caller[i/160][(i%160)*4:(i%160)*4+4])
		want := int16((int(x[0]) + int(x[1])) / 2)
		l := int16(binary.LittleEndian.Uint16(stereo.Data[4*i:]))
		r := int16(binary.LittleEndian.Uint16(stereo.Data[4*i+2:]))
		if l != want || r != 0 {
			t.Fatalf("sample %d: (%d, %d), want (%d, 0)", i, l, r, want)
		}
		if m := codec.ULawToPCM(mono.Data[i]); abs32(int32(m)-int32(want)) > 8+abs32(int32(want))/16 {
			t.Fatalf("mono sample %d: %d, want about %d", i, m, want)
		}
	}
}

// New refuses formats it cannot write, naming the problem.
func TestRecorderRefusesFormats(t *testing.T) {
	for _, c := range []struct {
		f    codec.Format
		file Format
		want string
	}{
		{codec.PCMU, Format{media.EncodingPCM16, 8000, 3}, "3 channels"},
		{codec.PCMU, Format{media.EncodingPCM16, 16000, 1}, "8000 Hz is not recorded at 16000 Hz"},
		{codec.L16(16000), Format{media.EncodingPCM16, 6000, 1}, "16000 Hz is not recorded at 6000 Hz"},
	} {
		if _, err := New(io.Discard, c.f, c.file, 0); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v %+v: %v, want %q", c.f, c.file, err, c.want)
		}
	}
}

// A limit stops the recording after that much audio: Done closes, later
// frames are not recorded, and the result says it was cut.
func TestRecorderLimit(t *testing.T) {
	f := codec.PCMU
	var buf bytes.Buffer
	tap, err := New(&buf, f, ForCall(f, false), 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	mixed := make([]byte, 320)
	for i := range 10 {
		tap.Push(stream.TrackMixed, uint64(i), codec.Frame{Format: codec.L16(8000), Payload: mixed})
		if i == 4 {
			select {
			case <-tap.Done():
			default:
				t.Fatal("not done after 5 frames of a 100 ms limit")
			}
		}
	}
	res, err := tap.Stop()
	if err != nil || !res.Cut || res.Frames != 5 || buf.Len() != 5*160 {
		t.Fatalf("Stop: %+v, %d bytes, %v; want cut after 5 frames, 800 bytes", res, buf.Len(), err)
	}
	if _, err := tap.Stop(); !errors.Is(err, ErrStopped) {
		t.Fatalf("second Stop: %v", err)
	}
}

// blockedWriter holds every Write until released.
type blockedWriter struct{ release chan struct{} }

func (w blockedWriter) Write(p []byte) (int, error) { <-w.release; return len(p), nil }

// A disk that does not keep up loses chunks, counted, instead of making
// Append wait; Close writes what was queued.
func TestQueueLosesRatherThanWaits(t *testing.T) {
	w := blockedWriter{release: make(chan struct{})}
	q := NewQueue(w, 10)
	chunk := make([]byte, 10)
	for range ChunksQueued + 5 { // one in the writer, ChunksQueued queued, the rest lost
		q.Append(chunk)
	}
	if q.Lost() < 30 || q.Written() != int64(10*(ChunksQueued+5)) {
		t.Fatalf("lost %d, written %d", q.Lost(), q.Written())
	}
	close(w.release)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
}
