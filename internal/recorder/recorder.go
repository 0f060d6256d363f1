// Package recorder records a call into a WAV file of the recordings store,
// for both call controllers: FlexML's <Dial record> and the scenario
// runtime's call.record. A Recorder is a call Tap that takes both parties
// (the caller, and what the call plays to the caller: a bridged callee, a
// prompt, a remote app), converts each 20 ms frame into the file's format
// on the media clock and hands it to a Queue, whose writer goroutine
// writes it. It never makes the media clock wait and allocates nothing per
// frame.
package recorder

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/stream"
)

// ChunkFrames is how many 20 ms frames a Queue chunk holds.
const ChunkFrames = 50

// Format is how a recording is kept in its WAV file.
type Format struct {
	// Encoding is µ-law, A-law or 16-bit PCM.
	Encoding media.Encoding
	// Rate is the file's sample rate: the call's, or the call's divided
	// by a whole number (8 kHz of a 16 kHz call).
	Rate int
	// Channels is 1 (both parties summed with saturation) or 2 (the
	// caller first, what the call plays to the caller second).
	Channels int
}

// ForCall is the format a call in f is recorded in when nothing else is
// asked: one channel as G.711 in the caller's codec, or 16-bit PCM for
// other codecs and for two channels, at the call's rate.
func ForCall(f codec.Format, stereo bool) Format {
	switch {
	case stereo:
		return Format{media.EncodingPCM16, f.Rate, 2}
	case f.Name == codec.NamePCMU:
		return Format{media.EncodingULaw, f.Rate, 1}
	case f.Name == codec.NamePCMA:
		return Format{media.EncodingALaw, f.Rate, 1}
	}
	return Format{media.EncodingPCM16, f.Rate, 1}
}

// bytesPerSample returns the bytes of one sample of one channel.
func (ff Format) bytesPerSample() int {
	if ff.Encoding == media.EncodingPCM16 {
		return 2
	}
	return 1
}

// Result is what a stopped Recorder recorded.
type Result struct {
	// Frames is the 20 ms frames recorded.
	Frames int
	// Lost is the bytes lost because the disk did not keep up.
	Lost int
	// Cut reports that the recording reached its limit and stopped.
	Cut bool
}

// Duration returns the length of the recorded audio.
func (r Result) Duration() time.Duration { return time.Duration(r.Frames) * codec.FrameDuration }

// Recorder is a call Tap that records both parties of a call. Mono takes
// the call's mixed track; stereo decodes the inbound (caller) and outbound
// (what the caller hears) tracks and interleaves them, the caller first.
// AddTap starts it; after RemoveTap, Stop waits for its writer.
type Recorder struct {
	file     Format
	step     int // call samples per file sample
	frameLen int // bytes of one 20 ms frame in the file
	maxFrame int // frames before the limit cuts it; 0: none
	inDec    codec.Decoder
	outDec   codec.Decoder
	done     chan struct{}

	mu      sync.Mutex
	over    bool
	cut     bool
	q       *Queue
	frames  int
	inSlot  uint64  // slot of inPCM
	inPCM   []int16 // the caller's frame waiting for the outbound one of its slot
	outPCM  []int16
	samples []int16 // one frame of the file's samples, interleaved
	frame   []byte  // one frame of the file
}

// New starts a Recorder of a call in f that writes file-format audio to w
// (a records.File created with the same format). A limit > 0 stops the
// recording after that much audio (Done is closed then).
func New(w io.Writer, f codec.Format, file Format, limit time.Duration) (*Recorder, error) {
	if file.Channels != 1 && file.Channels != 2 {
		return nil, fmt.Errorf("recorder: %d channels: 1 or 2 are recorded", file.Channels)
	}
	switch file.Encoding {
	case media.EncodingULaw, media.EncodingALaw, media.EncodingPCM16:
	default:
		return nil, fmt.Errorf("recorder: encoding %v is not recorded", file.Encoding)
	}
	if file.Rate <= 0 || f.Rate%file.Rate != 0 {
		return nil, fmt.Errorf("recorder: a call at %d Hz is not recorded at %d Hz", f.Rate, file.Rate)
	}
	r := &Recorder{
		file: file,
		step: f.Rate / file.Rate,
		done: make(chan struct{}),
	}
	n := f.FrameSamples()
	r.frameLen = n / r.step * file.Channels * file.bytesPerSample()
	if limit > 0 {
		r.maxFrame = max(1, int(limit/codec.FrameDuration))
	}
	if file.Channels == 2 {
		var err error
		if r.inDec, err = codec.NewDecoder(f); err != nil {
			return nil, fmt.Errorf("recorder: %w", err)
		}
		if r.outDec, err = codec.NewDecoder(f); err != nil {
			return nil, fmt.Errorf("recorder: %w", err)
		}
	}
	r.inPCM = make([]int16, 0, 2*n)
	r.outPCM = make([]int16, 0, 2*n)
	r.samples = make([]int16, 0, 2*n)
	r.frame = make([]byte, 0, r.frameLen)
	r.q = NewQueue(w, ChunkFrames*r.frameLen)
	return r, nil
}

// Wants reports the inbound and outbound tracks (stereo) or the mixed one.
func (r *Recorder) Wants(tr stream.Track) bool {
	if r.file.Channels == 2 {
		return tr == stream.TrackInbound || tr == stream.TrackOutbound
	}
	return tr == stream.TrackMixed
}

// Attach is part of call.Tap.
func (r *Recorder) Attach(uint64) {}

// Done is closed when the limit stopped the recording.
func (r *Recorder) Done() <-chan struct{} { return r.done }

// Push records one frame (media clock goroutine). The call pushes a
// slot's inbound frame before its outbound one; an outbound frame without
// the inbound one of its slot records the caller as silence.
func (r *Recorder) Push(tr stream.Track, slot uint64, fr codec.Frame) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.over {
		return
	}
	switch {
	case r.file.Channels == 1 && tr == stream.TrackMixed:
		r.inPCM = appendL16(r.inPCM[:0], fr.Payload)
		r.samples = r.downsample(r.samples[:0], r.inPCM, nil)
		r.put()
	case r.file.Channels == 2 && tr == stream.TrackInbound:
		pcm, err := r.inDec.Decode(r.inPCM[:0], fr.Payload)
		if err != nil {
			pcm = pcm[:0]
		}
		r.inPCM, r.inSlot = pcm, slot
	case r.file.Channels == 2 && tr == stream.TrackOutbound:
		pcm, err := r.outDec.Decode(r.outPCM[:0], fr.Payload)
		if err != nil {
			pcm = pcm[:0]
		}
		r.outPCM = pcm
		caller := r.inPCM
		if r.inSlot != slot {
			caller = caller[:0]
		}
		r.samples = r.downsample(r.samples[:0], caller, pcm)
		r.inPCM = r.inPCM[:0]
		r.put()
	}
}

// downsample appends a frame of the file's samples: a (and b, for two
// channels, interleaved), each file sample the mean of step call samples;
// missing samples are silence.
func (r *Recorder) downsample(dst, a, b []int16) []int16 {
	n := r.frameLen / r.file.bytesPerSample() / r.file.Channels
	for i := range n {
		dst = append(dst, mean(a, i*r.step, r.step))
		if r.file.Channels == 2 {
			dst = append(dst, mean(b, i*r.step, r.step))
		}
	}
	return dst
}

// mean returns the mean of x[at:at+n], missing samples counted as 0.
func mean(x []int16, at, n int) int16 {
	if n == 1 {
		if at < len(x) {
			return x[at]
		}
		return 0
	}
	var sum int
	for i := at; i < at+n && i < len(x); i++ {
		sum += int(x[i])
	}
	return int16(sum / n)
}

// put encodes r.samples into the file's encoding and hands the frame to
// the queue. mu is held.
func (r *Recorder) put() {
	r.frame = r.frame[:0]
	switch r.file.Encoding {
	case media.EncodingULaw:
		r.frame = codec.EncodeULaw(r.frame, r.samples)
	case media.EncodingALaw:
		r.frame = codec.EncodeALaw(r.frame, r.samples)
	default:
		for _, s := range r.samples {
			r.frame = binary.LittleEndian.AppendUint16(r.frame, uint16(s))
		}
	}
	r.q.Append(r.frame[:r.frameLen])
	r.frames++
	if r.maxFrame > 0 && r.frames >= r.maxFrame {
		r.over, r.cut = true, true
		close(r.done)
	}
}

// appendL16 appends little-endian 16-bit samples.
func appendL16(dst []int16, p []byte) []int16 {
	for i := 0; i+1 < len(p); i += 2 {
		dst = append(dst, int16(binary.LittleEndian.Uint16(p[i:])))
	}
	return dst
}

// ErrStopped is returned by a second Stop.
var ErrStopped = errors.New("recorder: already stopped")

// Stop ends the recording (the tap already removed from the call) and
// waits for its writer to write everything; the caller then closes the
// file.
func (r *Recorder) Stop() (Result, error) {
	r.mu.Lock()
	if r.q == nil {
		r.mu.Unlock()
		return Result{}, ErrStopped
	}
	r.over = true
	res := Result{Frames: r.frames, Cut: r.cut}
	q := r.q
	r.q = nil
	r.mu.Unlock()
	err := q.Close()
	res.Lost = q.Lost()
	return res, err
}
