package flow

import (
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/recorder"
	"github.com/callstream/callstream/internal/records"
	"github.com/callstream/callstream/internal/stream"
)

// What ends a recording, for the log and the tap.
const (
	recordSilence   = "timeout"
	recordMaxLength = "maxLength"
	recordKey       = "finishOnKey"
	recordHangup    = "hangup"
)

const (
	// voiceRMS is the level a 20 ms frame of the caller's audio must reach
	// to count as sound (about -40 dBFS); below it the frame is silence.
	voiceRMS = 330
	// chunkFrames is how many frames the tap hands the file writer at once.
	chunkFrames = recorder.ChunkFrames
)

// recordFormat is how a call's frames are kept: G.711 as it comes, L16 as
// it comes, anything else (G.722) decoded to 16-bit PCM.
type recordFormat struct {
	enc        media.Encoding
	rate       int
	frameBytes int  // bytes of one 20 ms frame in the file
	raw        bool // frames are written as they come
}

func recordFormatOf(f codec.Format) recordFormat {
	switch {
	case f.Name == codec.NamePCMU:
		return recordFormat{media.EncodingULaw, f.Rate, f.FrameSamples(), true}
	case f.Name == codec.NamePCMA:
		return recordFormat{media.EncodingALaw, f.Rate, f.FrameSamples(), true}
	case f.Name == codec.NameL16 && !f.BigEndian:
		return recordFormat{media.EncodingPCM16, f.Rate, 2 * f.FrameSamples(), true}
	}
	return recordFormat{media.EncodingPCM16, f.Rate, 2 * f.FrameSamples(), false}
}

// recordTap is a call Tap that records the caller's track to a File. On
// the media clock it only measures each frame and appends it to the
// shared recorder.Queue, whose writer goroutine writes it; it ends
// itself (Done) after maxLength or timeout of silence. finish stops it,
// waits for the writer and completes the file.
type recordTap struct {
	format   recordFormat
	dec      codec.Decoder
	maxFrame int // frames of maxLength
	quietEnd int // frames of silence that end it; 0: none
	trim     bool

	q    *recorder.Queue
	done chan struct{}

	mu      sync.Mutex
	over    bool
	endedBy string
	pcm     []int16 // one decoded frame
	out     []byte  // one frame of PCM16 when not raw
	frames  int     // frames seen
	first   int     // first frame with sound; -1: none yet
	last    int     // last frame with sound
	quiet   int     // frames of silence in a row
	endByte int64   // with trim: the file's length after the last sound
}

// newRecordTap starts recording into w, for frames of f.
func newRecordTap(w *records.File, f codec.Format, maxLength, timeout time.Duration, trim bool) (*recordTap, error) {
	dec, err := codec.NewDecoder(f)
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	rf := recordFormatOf(f)
	t := &recordTap{
		format:   rf,
		dec:      dec,
		maxFrame: int(maxLength / codec.FrameDuration),
		quietEnd: int(timeout / codec.FrameDuration),
		trim:     trim,
		q:        recorder.NewQueue(w, chunkFrames*rf.frameBytes),
		done:     make(chan struct{}),
		pcm:      make([]int16, 0, dec.Rate()/50*2),
		out:      make([]byte, 0, rf.frameBytes),
		first:    -1,
	}
	return t, nil
}

// Wants reports true for the inbound track only.
func (t *recordTap) Wants(tr stream.Track) bool { return tr == stream.TrackInbound }

// Attach is part of call.Tap.
func (t *recordTap) Attach(uint64) {}

// Done is closed when maxLength or the silence timeout ended the tap.
func (t *recordTap) Done() <-chan struct{} { return t.done }

// Push records one frame of the caller (media clock goroutine).
func (t *recordTap) Push(tr stream.Track, _ uint64, fr codec.Frame) {
	if tr != stream.TrackInbound {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.over {
		return
	}
	var err error
	t.pcm, err = t.dec.Decode(t.pcm[:0], fr.Payload)
	if err != nil {
		t.pcm = t.pcm[:0]
	}
	voiced := loud(t.pcm)
	k := t.frames
	t.frames++
	if voiced {
		if t.first < 0 {
			t.first = k
		}
		t.last = k
		t.quiet = 0
	} else {
		t.quiet++
	}
	if !t.trim || t.first >= 0 {
		audio := fr.Payload
		if !t.format.raw {
			t.out = t.out[:0]
			for _, s := range t.pcm {
				t.out = binary.LittleEndian.AppendUint16(t.out, uint16(s))
			}
			audio = t.out
		}
		t.q.Append(audio)
		if voiced {
			t.endByte = t.q.Written()
		}
	}
	switch {
	case t.frames >= t.maxFrame:
		t.end(recordMaxLength)
	case t.quietEnd > 0 && t.quiet >= t.quietEnd:
		t.end(recordSilence)
	}
}

// loud reports whether a frame's RMS level reaches voiceRMS.
func loud(pcm []int16) bool {
	if len(pcm) == 0 {
		return false
	}
	var sum int64
	for _, s := range pcm {
		sum += int64(s) * int64(s)
	}
	return sum >= voiceRMS*voiceRMS*int64(len(pcm))
}

// end stops taking frames and signals Done. mu is held.
func (t *recordTap) end(why string) {
	if t.over {
		return
	}
	t.over = true
	t.endedBy = why
	close(t.done)
}

// recordResult is what a finished tap recorded.
type recordResult struct {
	endedBy string // "" when finish stopped it
	sound   bool   // some frame had sound
	lost    int    // bytes lost to a slow disk
}

// finish stops the tap (already removed from the call), waits for its
// writer and trims the file; the caller closes it.
func (t *recordTap) finish(w *records.File) (recordResult, error) {
	t.mu.Lock()
	t.over = true
	res := recordResult{endedBy: t.endedBy, sound: t.first >= 0, lost: t.q.Lost()}
	endByte := t.endByte
	t.mu.Unlock()
	if err := t.q.Close(); err != nil {
		return res, err
	}
	if t.trim && res.sound {
		if err := w.Truncate(endByte); err != nil {
			return res, err
		}
	}
	return res, nil
}
