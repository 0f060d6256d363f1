package flow

import (
	"bytes"
	"os"
	"path/filepath"
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

// tapRecording pushes in to a new tap until it ends itself or in runs
// out, finishes it and returns the file's audio and the result.
func tapRecording(t *testing.T, f codec.Format, in [][]byte, maxLength, timeout time.Duration, trim bool) (*media.Audio, recordResult, int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "r.wav")
	rf := recordFormatOf(f)
	w, err := records.Create(path, rf.enc, rf.rate)
	if err != nil {
		t.Fatal(err)
	}
	tap, err := newRecordTap(w, f, maxLength, timeout, trim)
	if err != nil {
		t.Fatal(err)
	}
	pushed := 0
	for i, p := range in {
		select {
		case <-tap.Done():
		default:
			tap.Push(stream.TrackInbound, uint64(i), codec.Frame{Format: f, Payload: p})
			tap.Push(stream.TrackOutbound, uint64(i), codec.Frame{Format: f, Payload: p}) // not recorded
			pushed++
			continue
		}
		break
	}
	res, err := tap.finish(w)
	if err != nil {
		t.Fatal(err)
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
	return a, res, pushed
}

// Silence before and after the caller's sound is trimmed; the silence
// timeout ends the tap after exactly its frames of silence (counted from
// the start too: a caller who never speaks ends it); a PCMU call
// is recorded byte for byte as µ-law.
func TestRecordTapTrimAndTimeout(t *testing.T) {
	f := codec.PCMU
	quiet := frames(t, f, 200, 0)
	voice := frames(t, f, 30, 6000)
	in := append(append(append([][]byte{}, quiet[:5]...), voice...), quiet...)
	a, res, pushed := tapRecording(t, f, in, time.Hour, 200*time.Millisecond, true)
	if res.endedBy != recordSilence || !res.sound || pushed != 5+30+10 {
		t.Fatalf("ended by %q, sound %v, after %d frames; want timeout after 45", res.endedBy, res.sound, pushed)
	}
	if a.Encoding != media.EncodingULaw || a.SampleRate != 8000 || !bytes.Equal(a.Data, bytes.Join(voice, nil)) {
		t.Fatalf("recording %v %d Hz %d bytes, want the 30 voiced frames (4800 bytes)", a.Encoding, a.SampleRate, len(a.Data))
	}
	// Without trim everything from the start is kept.
	a, _, _ = tapRecording(t, f, in, time.Hour, 200*time.Millisecond, false)
	if len(a.Data) != 45*160 {
		t.Fatalf("untrimmed: %d bytes, want %d", len(a.Data), 45*160)
	}
	// Nothing but silence: no sound.
	_, res, _ = tapRecording(t, f, quiet, time.Hour, time.Second, true)
	if res.sound || res.endedBy != recordSilence {
		t.Fatalf("silence: %+v", res)
	}
}

// maxLength ends the tap after its frames; a G.722 call is recorded as
// 16 kHz PCM; with no timeout silence never ends it.
func TestRecordTapMaxLengthWideband(t *testing.T) {
	f := codec.G722
	in := frames(t, f, 100, 6000)
	a, res, pushed := tapRecording(t, f, in, time.Second, 0, false)
	if res.endedBy != recordMaxLength || pushed != 50 {
		t.Fatalf("ended by %q after %d frames", res.endedBy, pushed)
	}
	if a.Encoding != media.EncodingPCM16 || a.SampleRate != 16000 || len(a.Data) != 50*640 {
		t.Fatalf("recording %v %d Hz %d bytes, want PCM16 16000 Hz %d bytes", a.Encoding, a.SampleRate, len(a.Data), 50*640)
	}
	_, res, pushed = tapRecording(t, f, frames(t, f, 300, 0), time.Hour, 0, true)
	if res.endedBy != "" || pushed != 300 {
		t.Fatalf("no timeout: ended by %q after %d frames", res.endedBy, pushed)
	}
}

// Push, on the media clock, allocates nothing between chunks.
func TestRecordTapPushAllocs(t *testing.T) {
	for _, f := range []codec.Format{codec.PCMU, codec.G722} {
		w, err := records.Create(filepath.Join(t.TempDir(), "r.wav"), recordFormatOf(f).enc, f.Rate)
		if err != nil {
			t.Fatal(err)
		}
		tap, err := newRecordTap(w, f, time.Hour, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		fr := codec.Frame{Format: f, Payload: frames(t, f, 1, 6000)[0]}
		slot := uint64(0)
		allocs := testing.AllocsPerRun(chunkFrames*4, func() {
			tap.Push(stream.TrackInbound, slot, fr)
			slot++
		})
		// A new chunk (one per chunkFrames frames) may be made before the
		// writer returns the first ones.
		if allocs > 1.0/chunkFrames*2 {
			t.Errorf("%s: %.3f allocations per frame", f, allocs)
		}
		if _, err := tap.finish(w); err != nil {
			t.Fatal(err)
		}
		_ = w.Close()
	}
}
