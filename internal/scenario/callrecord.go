package scenario

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/dop251/goja"

	"github.com/callstream/callstream/internal/media"
	callrec "github.com/callstream/callstream/internal/recorder"
	"github.com/callstream/callstream/internal/records"
)

// Call recording events.
const (
	evRecordStarted = "Call.RecordStarted"
	evRecordStopped = "Call.RecordStopped"
	evRecordError   = "Call.RecordError"
)

// maxCallRecording bounds one call.record(): the recording stops (with
// RecordStopped) after this much audio.
const maxCallRecording = 4 * time.Hour

// recordExpiry maps RecordExpireTime values (the enum's names, or the
// strings scenarios write) to how long a recording is kept.
var recordExpiry = map[string]time.Duration{
	"THREEMONTHS": 90 * 24 * time.Hour, "3MONTHS": 90 * 24 * time.Hour,
	"SIXMONTHS": 180 * 24 * time.Hour, "6MONTHS": 180 * 24 * time.Hour,
	"ONEYEAR": 365 * 24 * time.Hour, "1YEAR": 365 * 24 * time.Hour,
	"TWOYEARS": 2 * 365 * 24 * time.Hour, "2YEARS": 2 * 365 * 24 * time.Hour,
	"THREEYEARS": 3 * 365 * 24 * time.Hour, "3YEARS": 3 * 365 * 24 * time.Hour,
}

// recordOptions are the call.record options that change the recording;
// the others are accepted and ignored.
var recordOptions = []string{"stereo", "hd_audio", "expire"}

// callRecording is one call.record(): the shared recorder tapping the
// call, writing into the runtime's recordings store.
type callRecording struct {
	name, path, url string
	w               *records.File
	rec             *callrec.Recorder
	ttl             time.Duration // > 0: kept no longer than this
	stopped         chan struct{} // closed by stopRecording
}

// record starts recording both parties of the call (call.record):
// RecordStarted fires at once with the recording's URL, RecordError when
// it cannot start. A second record() while one runs is ignored with a
// warning.
func (jc *jsCall) record(opts goja.Value) {
	s := jc.s
	if jc.ended {
		s.log.Warn("call.record: the call has ended")
		return
	}
	if jc.recording != nil {
		s.log.Warn("call.record: the call is already being recorded: ignored", "recording", jc.recording.name)
		return
	}
	stereo, hd := optBool(opts, "stereo"), optBool(opts, "hd_audio")
	ttl := jc.recordTTL(optString(opts, "expire"))
	if o := asObject(opts); o != nil {
		for _, k := range o.Keys() {
			if !slices.Contains(recordOptions, k) {
				s.log.Warn("call.record: option not supported: ignored", "option", k)
			}
		}
	}
	store := s.rt.records
	if store == nil {
		jc.recordError(errors.New("call.record: the gateway keeps no recordings"))
		return
	}
	f := jc.c.Format()
	ff := callrec.Format{Encoding: media.EncodingPCM16, Rate: f.Rate, Channels: 1}
	switch {
	case stereo:
		ff.Channels = 2
		if !hd {
			ff.Rate = media.SampleRate
		}
	case !hd:
		ff.Encoding, ff.Rate = media.EncodingULaw, media.SampleRate
	}
	if f.Rate%ff.Rate != 0 {
		ff.Rate = f.Rate // a call whose rate is not a multiple of 8 kHz keeps its own
	}
	name, path := store.Add()
	w, err := records.CreateChannels(path, ff.Encoding, ff.Rate, ff.Channels)
	if err != nil {
		store.Drop(name)
		jc.recordError(fmt.Errorf("call.record: %w", err))
		return
	}
	rec, err := callrec.New(w, f, ff, maxCallRecording)
	if err != nil {
		_ = w.Close()
		s.dropRecording(name, path)
		jc.recordError(fmt.Errorf("call.record: %w", err))
		return
	}
	cr := &callRecording{name: name, path: path, url: records.URL(s.rt.baseURL(), name), w: w, rec: rec, ttl: ttl, stopped: make(chan struct{})}
	jc.recording = cr
	jc.c.AddTap(rec)
	s.log.Info("call recording", "recording", name, "channels", ff.Channels, "rate", ff.Rate)
	s.goroutine(func() {
		select {
		case <-rec.Done():
			s.post(func() {
				if jc.recording == cr {
					s.log.Warn("call recording cut at its limit", "recording", name, "limit", maxCallRecording)
					jc.stopRecording(true)
				}
			})
		case <-cr.stopped:
		case <-s.ctx.Done():
		}
	})
	s.post(func() { s.dispatch(jc.et, evRecordStarted, jc.event(evRecordStarted, "url", cr.url)) })
}

// recordTTL returns the time to live an expire option asks for, when it
// is shorter than the store's; 0 otherwise.
func (jc *jsCall) recordTTL(expire string) time.Duration {
	if expire == "" {
		return 0
	}
	d, ok := recordExpiry[strings.ToUpper(strings.TrimPrefix(expire, "RecordExpireTime."))]
	if !ok {
		jc.s.log.Warn("call.record: unknown expire value: the gateway's time to live applies", "expire", expire)
		return 0
	}
	if keep := jc.s.rt.records.TTL(); keep > 0 && d >= keep {
		jc.s.log.Debug("call.record: expire is longer than the gateway keeps recordings: ignored", "expire", expire, "ttl", keep)
		return 0
	}
	return d
}

// recordError dispatches RecordError (posted: record() has returned).
func (jc *jsCall) recordError(err error) {
	s := jc.s
	s.log.Error("call recording failed", "err", err)
	text := err.Error()
	s.post(func() { s.dispatch(jc.et, evRecordError, jc.event(evRecordError, "error", text)) })
}

// stopRecording ends the call's recording (call.stopRecording, the call's
// end, the limit, the session's end): the file is completed and kept,
// and RecordStopped fires with its URL and duration in seconds when
// dispatch is true. Loop only.
func (jc *jsCall) stopRecording(dispatch bool) {
	cr := jc.recording
	if cr == nil {
		return
	}
	s := jc.s
	jc.recording = nil
	close(cr.stopped)
	jc.c.RemoveTap(cr.rec)
	// Waits for at most the queued chunks (seconds of audio) to be written.
	res, err := cr.rec.Stop()
	if cerr := cr.w.Close(); err == nil {
		err = cerr
	}
	if res.Lost > 0 {
		s.log.Warn("call recording: audio lost: the disk did not keep up", "recording", cr.name, "lost_bytes", res.Lost)
	}
	store := s.rt.records
	if err != nil {
		s.dropRecording(cr.name, cr.path)
		if dispatch {
			jc.recordError(fmt.Errorf("call recording: %w", err))
		} else {
			s.log.Error("call recording failed", "err", err)
		}
		return
	}
	store.EndedWithin(cr.name, time.Now(), cr.ttl)
	seconds := res.Duration().Seconds()
	s.log.Info("call recording ended", "recording", cr.name, "seconds", seconds)
	if dispatch {
		s.dispatch(jc.et, evRecordStopped, jc.event(evRecordStopped, "url", cr.url, "duration", seconds, "cost", 0))
	}
}

// dropRecording forgets and deletes a recording that is not kept.
func (s *session) dropRecording(name, path string) {
	s.rt.records.Drop(name)
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("call recording: file not deleted", "recording", name, "err", err)
	}
}
