package scenario

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/dop251/goja"

	"github.com/callstream/callstream/internal/call"
	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/records"
)

// maxRecording bounds a recorder's audio (an hour of 8 kHz µ-law).
const maxRecording = 3600 * media.SampleRate

// recorder is a Recorder: it takes the audio sent to it (from a WebSocket
// or a player) one frame per tick and writes it as a µ-law WAV file when
// stopped. The file is served under /records/ on the HTTP listener to
// holders of an API token, and deleted RecordTTL after it was written.
type recorder struct {
	s    *session
	id   string
	obj  *goja.Object
	et   *eventTarget
	name string // the file's name, also its name under /records/
	path string
	url  string

	mu   sync.Mutex
	data []byte
	full bool

	// Loop only.
	cur     *pump
	stopped bool
}

// newRecorder makes a Recorder; Started fires with its URL.
func (s *session) newRecorder() *recorder {
	vm := s.vm
	r := &recorder{s: s, id: s.newID("rec")}
	r.name, r.path = s.rt.records.Add()
	r.url = s.rt.baseURL() + "/records/" + r.name
	obj := vm.NewObject()
	r.obj = obj
	r.et = newEventTarget(obj, nil)
	r.et.methods(vm)
	_ = obj.Set("id", func(goja.FunctionCall) goja.Value { return vm.ToValue(r.id) })
	_ = obj.Set("stop", func(goja.FunctionCall) goja.Value { r.stop(); return goja.Undefined() })
	s.units[obj] = r
	s.recorders = append(s.recorders, r)
	s.post(func() { s.dispatch(r.et, evRecorderStarted, r.event(evRecorderStarted, "url", r.url)) })
	return r
}

func (r *recorder) event(name string, fields ...any) *goja.Object {
	return r.s.event(name, append([]any{"recorder", r.obj, "id", r.id}, fields...)...)
}

// attach records src from now on, instead of what it recorded before.
func (r *recorder) attach(src call.Source, _ mediaOpts, replaced func()) (func(), error) {
	if r.stopped {
		return nil, fmt.Errorf("the recorder %s has stopped", r.id)
	}
	src, err := adaptSource(src, r.format())
	if err != nil {
		return nil, err
	}
	if r.cur != nil {
		r.s.clock.removePump(r.cur)
	}
	p := &pump{src: src, dst: r}
	r.cur = p
	r.s.clock.addPump(p)
	return func() {
		r.s.clock.removePump(p)
		if r.cur == p {
			r.cur = nil
		}
	}, nil
}

// format returns µ-law: a recording is a µ-law WAV file.
func (r *recorder) format() codec.Format { return codec.PCMU }

// writeFrame appends one frame (media clock goroutine).
func (r *recorder) writeFrame(_ uint64, frame []byte) {
	r.mu.Lock()
	if len(r.data)+len(frame) <= maxRecording {
		r.data = append(r.data, frame...)
	} else {
		r.full = true
	}
	r.mu.Unlock()
}

// stop ends the recording: the file is written and Stopped fires.
func (r *recorder) stop() {
	if r.stopped {
		return
	}
	path, err := r.finish()
	r.mu.Lock()
	seconds := float64(len(r.data)) / media.SampleRate
	r.mu.Unlock()
	if err != nil {
		r.s.dispatch(r.et, evRecorderError, r.event(evRecorderError, "error", err.Error()))
		return
	}
	r.s.log.Info("recording written", "recorder", r.id, "path", path, "seconds", seconds)
	r.s.dispatch(r.et, evRecorderStopped, r.event(evRecorderStopped, "url", r.url, "duration", seconds))
}

// finish stops taking audio and writes the file.
func (r *recorder) finish() (string, error) {
	if r.stopped {
		return "", nil
	}
	r.stopped = true
	if r.cur != nil {
		r.s.clock.removePump(r.cur)
		r.cur = nil
	}
	path := r.path
	r.mu.Lock()
	data := r.data
	full := r.full
	r.mu.Unlock()
	if full {
		r.s.log.Warn("recording cut at its limit", "recorder", r.id, "limit", time.Duration(maxRecording/media.SampleRate)*time.Second)
	}
	if err := records.WriteFile(path, media.EncodingULaw, media.SampleRate, data); err != nil {
		r.s.rt.records.Drop(r.name)
		_ = os.Remove(path)
		return "", fmt.Errorf("recorder: %w", err)
	}
	r.s.rt.records.Ended(r.name, time.Now())
	return path, nil
}
