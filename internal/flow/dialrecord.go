package flow

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/callstream/callstream/flexml"
	"github.com/callstream/callstream/internal/recorder"
	"github.com/callstream/callstream/internal/records"
)

// recordingSid is a recording's RecordingSid: RE and the hex of its name.
func recordingSid(name string) string {
	return "RE" + strings.TrimSuffix(strings.TrimPrefix(name, "rec-"), ".wav")
}

// dialRecording is a Dial's recording in progress.
type dialRecording struct {
	name, path string
	w          *records.File
	tap        *recorder.Recorder
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
	ff := recorder.ForCall(f, d.Record == flexml.DialRecordDual)
	name, path := store.Add()
	w, err := records.CreateChannels(path, ff.Encoding, ff.Rate, ff.Channels)
	if err != nil {
		store.Drop(name)
		r.log.Error("dial: not recorded", "err", err)
		return nil
	}
	tap, err := recorder.New(w, f, ff, 0)
	if err != nil {
		_ = w.Close()
		r.drop(store, name, path)
		r.log.Error("dial: not recorded", "err", err)
		return nil
	}
	r.c.AddTap(tap)
	r.log.Info("dial: recording", "recording", name, "channels", ff.Channels)
	return &dialRecording{name: name, path: path, w: w, tap: tap}
}

// stop ends the recording, keeps it in the store and sets the action's
// Recording fields in results; when it failed, the file is dropped and
// results left as they are.
func (rec *dialRecording) stop(r *run, results *Results) {
	r.c.RemoveTap(rec.tap)
	store := r.in.cfg.Records
	res, err := rec.tap.Stop()
	if cerr := rec.w.Close(); err == nil {
		err = cerr
	}
	if res.Lost > 0 {
		r.log.Warn("dial: recorded audio lost: the disk did not keep up", "lost_bytes", res.Lost)
	}
	seconds := res.Duration().Seconds()
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
