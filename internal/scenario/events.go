package scenario

import (
	"github.com/dop251/goja"
)

// Event type strings, the values of the enums the prelude defines.
const (
	evCallAlerting       = "Application.CallAlerting"
	evStarted            = "Application.Started"
	evTerminating        = "Application.Terminating"
	evTerminated         = "Application.Terminated"
	evHTTPRequest        = "Application.HttpRequest"
	evWebSocket          = "AppEvents.NewWebSocketConnection"
	evNewWebSocketFailed = "Application.OnNewWebSocketFailed"

	evConnected        = "Call.Connected"
	evDisconnected     = "Call.Disconnected"
	evFailed           = "Call.Failed"
	evRinging          = "Call.Ringing"
	evToneReceived     = "Call.ToneReceived"
	evPlaybackReady    = "Call.PlaybackReady"
	evPlaybackStarted  = "Call.PlaybackStarted"
	evPlaybackFinished = "Call.PlaybackFinished"
	evAudioStarted     = "Call.AudioStarted"
	evFirstAudio       = "Call.FirstAudioPacketReceived"
	evStateChanged     = "Call.StateChanged"

	evWSOpen         = "WebSocket.Open"
	evWSClose        = "WebSocket.Close"
	evWSMessage      = "WebSocket.Message"
	evWSError        = "WebSocket.Error"
	evWSCreated      = "WebSocket.Created"
	evWSMediaStarted = "WebSocket.MediaEventStarted"
	evWSMediaEnded   = "WebSocket.MediaEventEnded"

	evPlayerStarted  = "Player.Started"
	evPlayerReady    = "Player.PlaybackReady"
	evPlayerFinished = "Player.PlaybackFinished"
	evPlayerStopped  = "Player.Stopped"
	evPlayerMarker   = "Player.PlaybackMarkerReached"

	evRecorderStarted = "Recorder.Started"
	evRecorderStopped = "Recorder.Stopped"
	evRecorderError   = "Recorder.Error"
)

// legacyEvents maps event names older scenarios use to current ones.
var legacyEvents = map[string]string{
	"WebSocket.MEDIA_STARTED": evWSMediaStarted,
	"WebSocket.MEDIA_ENDED":   evWSMediaEnded,
}

// wsHandlers maps WebSocket events to the on* properties that run before
// the listeners.
var wsHandlers = map[string]string{
	evWSOpen:         "onopen",
	evWSClose:        "onclose",
	evWSMessage:      "onmessage",
	evWSError:        "onerror",
	evWSCreated:      "oncreated",
	evWSMediaStarted: "onmediastarted",
	evWSMediaEnded:   "onmediaended",
}

// listener is one addEventListener registration.
type listener struct {
	fn goja.Value
	cb goja.Callable
}

// eventTarget holds the listeners of one JS object. It is used on the
// session's loop only.
type eventTarget struct {
	obj      *goja.Object
	handlers map[string]string // event -> on* property, or nil
	ls       map[string][]listener
}

func newEventTarget(obj *goja.Object, handlers map[string]string) *eventTarget {
	return &eventTarget{obj: obj, handlers: handlers, ls: map[string][]listener{}}
}

// eventName turns an event argument into its type string.
func eventName(v goja.Value) string {
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return ""
	}
	name := v.String()
	if n, ok := legacyEvents[name]; ok {
		return n
	}
	return name
}

// add registers fn for the event; a value that is not a function throws a
// TypeError (uncaught, it stops that callback only: see scriptFailed).
func (et *eventTarget) add(vm *goja.Runtime, ev, fn goja.Value) {
	name := eventName(ev)
	if name == "" {
		panic(vm.NewTypeError("addEventListener: the event type is missing"))
	}
	cb, ok := goja.AssertFunction(fn)
	if !ok {
		panic(vm.NewTypeError("addEventListener(%q): the callback is not a function", name))
	}
	et.ls[name] = append(et.ls[name], listener{fn: fn, cb: cb})
}

// remove unregisters fn for the event, or every listener of the event
// when fn is undefined.
func (et *eventTarget) remove(ev, fn goja.Value) {
	name := eventName(ev)
	if fn == nil || goja.IsUndefined(fn) || goja.IsNull(fn) {
		delete(et.ls, name)
		return
	}
	list := et.ls[name]
	for i, l := range list {
		if l.fn.StrictEquals(fn) {
			et.ls[name] = append(list[:i:i], list[i+1:]...)
			return
		}
	}
}

// methods installs addEventListener and removeEventListener on et.obj.
func (et *eventTarget) methods(vm *goja.Runtime) {
	_ = et.obj.Set("addEventListener", func(c goja.FunctionCall) goja.Value {
		et.add(vm, c.Argument(0), c.Argument(1))
		return goja.Undefined()
	})
	_ = et.obj.Set("removeEventListener", func(c goja.FunctionCall) goja.Value {
		et.remove(c.Argument(0), c.Argument(1))
		return goja.Undefined()
	})
}

// dispatch runs the on* handler of the event, then a snapshot of its
// listeners, each with ev as the argument. A listener that throws does not
// keep the others from running; dispatch stops when the session breaks.
func (s *session) dispatch(et *eventTarget, name string, ev *goja.Object) {
	if s.broken || et == nil || (s.state != stateRunning && !s.finalEvents) {
		return
	}
	if prop, ok := et.handlers[name]; ok {
		if cb, ok := goja.AssertFunction(et.obj.Get(prop)); ok {
			if !s.callJS(cb, et.obj, ev) && s.broken {
				return
			}
		}
	}
	list := et.ls[name]
	if len(list) == 0 {
		return
	}
	snap := append([]listener(nil), list...)
	for _, l := range snap {
		if !s.callJS(l.cb, et.obj, ev) && s.broken {
			return
		}
	}
}

// event makes an event object {name, ...fields}.
func (s *session) event(name string, fields ...any) *goja.Object {
	o := s.vm.NewObject()
	_ = o.Set("name", name)
	for i := 0; i+1 < len(fields); i += 2 {
		_ = o.Set(fields[i].(string), fields[i+1])
	}
	return o
}
