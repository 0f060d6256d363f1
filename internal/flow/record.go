package flow

import (
	"context"
	"encoding/binary"
	"errors"
	"io/fs"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/callstream/callstream/flexml"
	"github.com/callstream/callstream/internal/call"
	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/records"
)

// The beep before a recording: a 1 kHz tone.
const (
	beepHz        = 1000
	beepLength    = 300 * time.Millisecond
	beepAmplitude = 8000 // about -12 dBFS
)

// beep returns the beep as 16-bit PCM at rate.
func beep(rate int) []byte {
	n := rate * int(beepLength/time.Millisecond) / 1000
	b := make([]byte, 0, 2*n)
	for i := range n {
		s := beepAmplitude * math.Sin(2*math.Pi*beepHz*float64(i)/float64(rate))
		b = binary.LittleEndian.AppendUint16(b, uint16(int16(s)))
	}
	return b
}

// record runs a <Record>: after the beep it records the caller to a WAV
// file in the recordings store until maxLength, timeout seconds of
// silence, a finishOnKey key or the caller's hang-up. A recording with
// sound in it and an action request the action (with RecordingUrl,
// RecordingDuration, RecordingSid and, when a key ended it, Digits);
// otherwise the document goes on. A recording of nothing but silence is
// not kept.
func (r *run) record(ctx context.Context, v *flexml.Record) (*redirect, error) {
	store := r.in.cfg.Records
	if store == nil {
		r.log.Error("record skipped: the gateway keeps no recordings")
		return nil, nil
	}
	// The finishing key, from the RTP goroutine; subscribed before the
	// answer so that no key is missed.
	keys := make(chan byte, 1)
	unsubscribe := r.c.OnDTMF(func(d byte) {
		if strings.IndexByte(v.FinishOnKey, d) < 0 {
			return
		}
		select {
		case keys <- d:
		default:
		}
	})
	defer unsubscribe()
	if err := r.c.Answer(); err != nil {
		return nil, err
	}
	f := r.c.Format()
	if v.PlayBeep {
		if err := r.c.PlayAudio(ctx, beep(f.Rate), codec.L16(f.Rate), 1); err != nil {
			if errors.Is(err, call.ErrEnded) || ctx.Err() != nil {
				return nil, call.ErrEnded
			}
			r.log.Warn("record: beep not played", "err", err)
		}
	}
	if ctx.Err() != nil {
		return nil, call.ErrEnded
	}

	name, path := store.Add()
	rf := recordFormatOf(f)
	w, err := records.Create(path, rf.enc, rf.rate)
	if err != nil {
		store.Drop(name)
		r.log.Error("record failed", "err", err)
		return nil, nil
	}
	tap, err := newRecordTap(w, f, v.MaxLength, v.Timeout, v.Trim)
	if err != nil {
		_ = w.Close()
		r.drop(store, name, path)
		r.log.Error("record failed", "err", err)
		return nil, nil
	}
	r.c.AddTap(tap)
	started := time.Now()
	var key byte
	endedBy := ""
	select {
	case <-tap.Done():
	case key = <-keys:
		endedBy = recordKey
	case <-ctx.Done():
		endedBy = recordHangup
	}
	r.c.RemoveTap(tap)
	res, err := tap.finish(w)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if res.endedBy != "" {
		endedBy = res.endedBy
	}
	if res.lost > 0 {
		r.log.Warn("record: audio lost: the disk did not keep up", "lost_bytes", res.lost)
	}
	if err != nil {
		r.drop(store, name, path)
		r.log.Error("record failed", "err", err)
		if ctx.Err() != nil {
			return nil, call.ErrEnded
		}
		return nil, nil
	}
	if !res.sound {
		r.drop(store, name, path)
		r.log.Info("record ended: nothing but silence, no recording kept", "ended_by", endedBy, "took", time.Since(started).Round(time.Millisecond))
		if ctx.Err() != nil {
			return nil, call.ErrEnded
		}
		return nil, nil
	}
	store.Ended(name, time.Now())
	seconds := float64(w.Len()) / float64(rf.frameBytes*int(time.Second/codec.FrameDuration))
	r.log.Info("record ended", "ended_by", endedBy, "recording", name, "seconds", seconds)
	if ctx.Err() != nil {
		// The caller hung up: the recording is kept, and there is no call
		// left to run the action's answer on.
		return nil, call.ErrEnded
	}
	if v.Action == "" {
		return nil, nil
	}
	url := records.URL(r.in.baseURL(), name)
	duration := strconv.Itoa(max(1, int(math.Round(seconds))))
	sid := recordingSid(name)
	results := Results{RecordingUrl: &url, RecordingDuration: &duration, RecordingSid: &sid}
	if endedBy == recordKey {
		// The key is the caller's input: DEBUG only.
		r.log.Debug("record: finished by key", "digits", string(key))
		k := string(key)
		results.Digits = &k
	}
	return r.action(v.Action, v.Method, results)
}

// drop deletes a recording that is not kept.
func (r *run) drop(store *records.Store, name, path string) {
	store.Drop(name)
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		r.log.Warn("record: file not deleted", "err", err)
	}
}
