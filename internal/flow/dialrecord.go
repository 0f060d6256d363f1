package flow

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/callstream/callstream/flexml"
	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/records"
	"github.com/callstream/callstream/internal/stream"
)

// dialRecordTap is a call Tap on the caller that records both parties of
// a bridged <Dial>: the caller is the call's inbound track, the callee
// what the caller hears (its outbound track, the relayed callee). Mono
// takes the call's mixed track (both summed with saturation) and keeps
// it as G.711 in the caller's codec, or 16-bit PCM for other codecs; dual
// decodes both tracks to 16-bit PCM and interleaves them, the caller
// first. On the media clock it only converts a frame into a chunk of its
// chunkQueue.
type dialRecordTap struct {
	dual     bool
	enc      media.Encoding
	channels int
	rate     int
	inDec    codec.Decoder // the caller's track (dual)
	outDec   codec.Decoder // the callee's track (dual)

	mu       sync.Mutex
	over     bool
	q        *chunkQueue
	frames   int     // frames recorded
	inSlot   uint64  // slot of inPCM
	inPCM    []int16 // the caller's frame waiting for the callee's of its slot
	outPCM   []int16
	mixPCM   []int16
	frame    []byte // one frame of the file
	frameLen int    // bytes of one frame in the file
}

// newDialRecordTap starts recording a call of format f into w, which was
// created with the tap's fileFormat.
func newDialRecordTap(w *records.File, f codec.Format, dual bool) (*dialRecordTap, error) {
	t := &dialRecordTap{dual: dual, rate: f.Rate}
	t.enc, t.channels = dialRecordFileFormat(f, dual)
	n := f.FrameSamples()
	if dual {
		var err error
		if t.inDec, err = codec.NewDecoder(f); err != nil {
			return nil, fmt.Errorf("dial record: %w", err)
		}
		if t.outDec, err = codec.NewDecoder(f); err != nil {
			return nil, fmt.Errorf("dial record: %w", err)
		}
	}
	t.frameLen = n * t.channels
	if t.enc == media.EncodingPCM16 {
		t.frameLen *= 2
	}
	t.inPCM = make([]int16, 0, 2*n)
	t.outPCM = make([]int16, 0, 2*n)
	t.mixPCM = make([]int16, 0, 2*n)
	t.frame = make([]byte, 0, t.frameLen)
	t.q = newChunkQueue(w, chunkFrames*t.frameLen)
	return t, nil
}

// dialRecordFileFormat is how a Dial's recording of a call in f is kept:
// mono G.711 in the caller's codec, or else 16-bit PCM (always for dual).
func dialRecordFileFormat(f codec.Format, dual bool) (media.Encoding, int) {
	switch {
	case dual:
		return media.EncodingPCM16, 2
	case f.Name == codec.NamePCMU:
		return media.EncodingULaw, 1
	case f.Name == codec.NamePCMA:
		return media.EncodingALaw, 1
	}
	return media.EncodingPCM16, 1
}

// Wants reports the caller's and the callee's tracks (dual) or their mix.
func (t *dialRecordTap) Wants(tr stream.Track) bool {
	if t.dual {
		return tr == stream.TrackInbound || tr == stream.TrackOutbound
	}
	return tr == stream.TrackMixed
}

// Attach is part of call.Tap.
func (t *dialRecordTap) Attach(uint64) {}

// Push records one frame (media clock goroutine). The call pushes a
// slot's inbound frame before its outbound one; an outbound frame without
// the inbound one of its slot records the caller as silence.
func (t *dialRecordTap) Push(tr stream.Track, slot uint64, fr codec.Frame) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.over {
		return
	}
	switch {
	case !t.dual && tr == stream.TrackMixed:
		t.mixPCM = appendL16(t.mixPCM[:0], fr.Payload)
		t.frame = t.frame[:0]
		switch t.enc {
		case media.EncodingULaw:
			t.frame = codec.EncodeULaw(t.frame, t.mixPCM)
		case media.EncodingALaw:
			t.frame = codec.EncodeALaw(t.frame, t.mixPCM)
		default:
			t.frame = append(t.frame, fr.Payload...)
		}
		t.put()
	case t.dual && tr == stream.TrackInbound:
		pcm, err := t.inDec.Decode(t.inPCM[:0], fr.Payload)
		if err != nil {
			pcm = pcm[:0]
		}
		t.inPCM, t.inSlot = pcm, slot
	case t.dual && tr == stream.TrackOutbound:
		pcm, err := t.outDec.Decode(t.outPCM[:0], fr.Payload)
		if err != nil {
			pcm = pcm[:0]
		}
		t.outPCM = pcm
		caller := t.inPCM
		if t.inSlot != slot {
			caller = caller[:0]
		}
		n := t.frameLen / 4
		t.frame = t.frame[:0]
		for i := range n {
			var a, b int16
			if i < len(caller) {
				a = caller[i]
			}
			if i < len(pcm) {
				b = pcm[i]
			}
			t.frame = binary.LittleEndian.AppendUint16(t.frame, uint16(a))
			t.frame = binary.LittleEndian.AppendUint16(t.frame, uint16(b))
		}
		t.inPCM = t.inPCM[:0]
		t.put()
	}
}

// put hands the frame in t.frame, padded or cut to one frame, to the
// queue. mu is held.
func (t *dialRecordTap) put() {
	for len(t.frame) < t.frameLen {
		t.frame = append(t.frame, silenceByte(t.enc))
	}
	t.q.append(t.frame[:t.frameLen])
	t.frames++
}

// silenceByte is a byte of silence in enc.
func silenceByte(enc media.Encoding) byte {
	switch enc {
	case media.EncodingULaw:
		return 0xff
	case media.EncodingALaw:
		return 0xd5
	}
	return 0
}

// recordingSid is a recording's RecordingSid: RE and the hex of its name.
func recordingSid(name string) string {
	return "RE" + strings.TrimSuffix(strings.TrimPrefix(name, "rec-"), ".wav")
}

// appendL16 appends little-endian 16-bit samples.
func appendL16(dst []int16, p []byte) []int16 {
	for i := 0; i+1 < len(p); i += 2 {
		dst = append(dst, int16(binary.LittleEndian.Uint16(p[i:])))
	}
	return dst
}

// finish stops the tap (already removed from the call) and waits for its
// writer; it returns the seconds recorded and the bytes lost to a slow
// disk. The caller closes the file.
func (t *dialRecordTap) finish() (seconds float64, lost int, err error) {
	t.mu.Lock()
	t.over = true
	frames := t.frames
	t.mu.Unlock()
	err = t.q.close()
	return float64(frames) * codec.FrameDuration.Seconds(), t.q.lost, err
}

// dialRecording is a Dial's recording in progress.
type dialRecording struct {
	name, path string
	w          *records.File
	tap        *dialRecordTap
}

// startDialRecording starts recording the bridge on the caller, or
// returns nil (and logs why) when it cannot.
func (r *run) startDialRecording(d *flexml.Dial) *dialRecording {
	store := r.in.cfg.Records
	if store == nil {
		r.log.Error("dial: not recorded: the gateway keeps no recordings")
		return nil
	}
	f := r.c.Format()
	dual := d.Record == flexml.DialRecordDual
	enc, channels := dialRecordFileFormat(f, dual)
	name, path := store.Add()
	w, err := records.CreateChannels(path, enc, f.Rate, channels)
	if err != nil {
		store.Drop(name)
		r.log.Error("dial: not recorded", "err", err)
		return nil
	}
	tap, err := newDialRecordTap(w, f, dual)
	if err != nil {
		_ = w.Close()
		r.drop(store, name, path)
		r.log.Error("dial: not recorded", "err", err)
		return nil
	}
	r.c.AddTap(tap)
	r.log.Info("dial: recording", "recording", name, "channels", channels)
	return &dialRecording{name: name, path: path, w: w, tap: tap}
}

// stop ends the recording, keeps it in the store and sets the action's
// Recording fields in results; when it failed, the file is dropped and
// results left as they are.
func (rec *dialRecording) stop(r *run, results *Results) {
	r.c.RemoveTap(rec.tap)
	store := r.in.cfg.Records
	seconds, lost, err := rec.tap.finish()
	if cerr := rec.w.Close(); err == nil {
		err = cerr
	}
	if lost > 0 {
		r.log.Warn("dial: recorded audio lost: the disk did not keep up", "lost_bytes", lost)
	}
	if err != nil {
		r.drop(store, rec.name, rec.path)
		r.log.Error("dial: recording failed", "err", err)
		return
	}
	store.Ended(rec.name, time.Now())
	r.log.Info("dial: recording ended", "recording", rec.name, "seconds", seconds)
	url := records.URL(r.in.baseURL(), rec.name)
	duration := strconv.Itoa(int(math.Round(seconds)))
	sid := recordingSid(rec.name)
	results.RecordingUrl, results.RecordingDuration, results.RecordingSid = &url, &duration, &sid
}
