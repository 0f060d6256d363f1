package scenario

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/dop251/goja"

	"github.com/callstream/callstream/internal/stream"
)

// maxCustomData is VoxEngine's bound on customData.
const maxCustomData = 200

// installGlobals defines the Go-backed globals of a session: VoxEngine,
// WebSocket, Logger, the timers, Net and require. The prelude adds the
// enums and the helpers written in JavaScript.
func (s *session) installGlobals() error {
	vm := s.vm
	g := vm.GlobalObject()

	vox := vm.NewObject()
	s.app = newEventTarget(vox, nil)
	s.app.methods(vm)
	set := func(o *goja.Object, name string, fn func(goja.FunctionCall) goja.Value) {
		_ = o.Set(name, fn)
	}
	set(vox, "terminate", func(goja.FunctionCall) goja.Value {
		s.post(func() { s.terminate("VoxEngine.terminate()") })
		return goja.Undefined()
	})
	set(vox, "customData", func(c goja.FunctionCall) goja.Value {
		if v := c.Argument(0); !isNothing(v) {
			data := v.String()
			if len(data) > maxCustomData {
				s.log.Warn("VoxEngine.customData: longer than 200 bytes", "bytes", len(data))
			}
			s.customData = data
		}
		return vm.ToValue(s.customData)
	})
	set(vox, "createWebSocket", func(c goja.FunctionCall) goja.Value {
		protos, header := socketParams(vm, c.Argument(1))
		w := s.newSocket(c.Argument(0).String(), protos, header, nil)
		return w.obj
	})
	set(vox, "allowWebSocketConnections", func(goja.FunctionCall) goja.Value {
		s.allowWS.Store(true)
		return goja.Undefined()
	})
	set(vox, "callSIP", func(c goja.FunctionCall) goja.Value {
		return s.callSIP(c.Argument(0), c.Arguments)
	})
	set(vox, "callPSTN", func(c goja.FunctionCall) goja.Value {
		return s.callPSTN(c.Argument(0), c.Argument(1), c.Argument(2))
	})
	set(vox, "sendMediaBetween", func(c goja.FunctionCall) goja.Value {
		a, b := c.Argument(0), c.Argument(1)
		s.sendMedia(a, b, goja.Undefined())
		s.sendMedia(b, a, goja.Undefined())
		return goja.Undefined()
	})
	set(vox, "stopMediaBetween", func(c goja.FunctionCall) goja.Value {
		a, b := c.Argument(0), c.Argument(1)
		s.stopMedia(a, b, nil)
		s.stopMedia(b, a, nil)
		return goja.Undefined()
	})
	set(vox, "createURLPlayer", func(c goja.FunctionCall) goja.Value {
		p := s.newPlayer(nil, true)
		p.loop = optBool(c.Argument(1), "loop")
		p.load(fetchSource(c.Argument(0).String()))
		return p.obj
	})
	set(vox, "createTTSPlayer", func(c goja.FunctionCall) goja.Value {
		p := s.newPlayer(nil, true)
		p.load(ttsSource(c.Argument(0).String(), s.voiceOf(c.Argument(1))))
		return p.obj
	})
	set(vox, "createRecorder", func(c goja.FunctionCall) goja.Value {
		return s.newRecorder().obj
	})
	for _, name := range []string{"enableStatisticsForIncomingWebsockets", "disableStatisticsForIncomingWebsockets", "enableTraceForIncomingWebsockets", "disableTraceForIncomingWebsockets"} {
		set(vox, name, func(goja.FunctionCall) goja.Value { return goja.Undefined() })
	}
	_ = g.Set("VoxEngine", vox)

	if err := s.installWebSocketClass(); err != nil {
		return err
	}
	if err := s.installLanguage(); err != nil {
		return err
	}

	logger := vm.NewObject()
	set(logger, "write", func(c goja.FunctionCall) goja.Value {
		parts := make([]string, len(c.Arguments))
		for i, a := range c.Arguments {
			parts[i] = a.String()
		}
		s.log.Info("scenario log", "text", strings.Join(parts, " "))
		return goja.Undefined()
	})
	_ = g.Set("Logger", logger)

	_ = g.Set("setTimeout", func(c goja.FunctionCall) goja.Value { return s.setTimer(c, false) })
	_ = g.Set("setInterval", func(c goja.FunctionCall) goja.Value { return s.setTimer(c, true) })
	clearTimer := func(c goja.FunctionCall) goja.Value {
		s.clearTimer(c.Argument(0))
		return goja.Undefined()
	}
	_ = g.Set("clearTimeout", clearTimer)
	_ = g.Set("clearInterval", clearTimer)

	net := vm.NewObject()
	set(net, "httpRequestAsync", func(c goja.FunctionCall) goja.Value {
		return s.httpRequestAsync(c.Argument(0).String(), c.Argument(1))
	})
	set(net, "httpRequest", func(c goja.FunctionCall) goja.Value {
		s.httpRequest(c.Argument(0).String(), c.Argument(1), c.Argument(2))
		return goja.Undefined()
	})
	_ = g.Set("Net", net)

	_ = g.Set("require", func(c goja.FunctionCall) goja.Value {
		s.log.Debug("scenario: require is a no-op", "module", c.Argument(0).String())
		return goja.Undefined()
	})
	return s.installAPITable()
}

// isNothing reports undefined, null or a missing argument.
func isNothing(v goja.Value) bool {
	return v == nil || goja.IsUndefined(v) || goja.IsNull(v)
}

// asObject returns v as an object, or nil.
func asObject(v goja.Value) *goja.Object {
	if isNothing(v) {
		return nil
	}
	o, _ := v.(*goja.Object)
	return o
}

// optString returns v[key] as a string ("" when absent).
func optString(v goja.Value, key string) string {
	o := asObject(v)
	if o == nil {
		return ""
	}
	x := o.Get(key)
	if isNothing(x) {
		return ""
	}
	return x.String()
}

// optBool returns v[key] as a boolean.
func optBool(v goja.Value, key string) bool {
	o := asObject(v)
	if o == nil {
		return false
	}
	x := o.Get(key)
	return !isNothing(x) && x.ToBoolean()
}

// socketParams reads the second argument of new WebSocket / createWebSocket:
// a protocol string, an array of them, or {protocols, headers}.
func socketParams(vm *goja.Runtime, v goja.Value) ([]string, http.Header) {
	protos := []string{"chat"}
	var header http.Header
	if isNothing(v) {
		return protos, nil
	}
	o := asObject(v)
	if o == nil || o.ClassName() == "Array" {
		return stringList(vm, v), nil
	}
	if p := o.Get("protocols"); !isNothing(p) {
		protos = stringList(vm, p)
	}
	if h := asObject(o.Get("headers")); h != nil {
		header = http.Header{}
		if h.ClassName() == "Array" {
			for _, k := range h.Keys() {
				e := asObject(h.Get(k))
				if e == nil {
					continue
				}
				name := optString(e, "name")
				if name == "" {
					name = optString(e, "key")
				}
				if name != "" {
					header.Add(name, optString(e, "value"))
				}
			}
		} else {
			for _, k := range h.Keys() {
				header.Add(k, h.Get(k).String())
			}
		}
	}
	return protos, header
}

// stringList reads a string or an array of strings.
func stringList(vm *goja.Runtime, v goja.Value) []string {
	o := asObject(v)
	if o == nil || o.ClassName() != "Array" {
		if isNothing(v) || v.String() == "" {
			return nil
		}
		return []string{v.String()}
	}
	var out []string
	for _, k := range o.Keys() {
		if x := o.Get(k); !isNothing(x) && x.String() != "" {
			out = append(out, x.String())
		}
	}
	return out
}

// mediaOpts are the sendMediaTo parameters.
type mediaOpts struct {
	enc    *encoding // the encoding to send (default PCM8)
	encSet bool      // encoding given explicitly
	tag    string
	params []stream.Param
}

// mediaOptions reads {encoding, tag, customParameters}.
func (s *session) mediaOptions(v goja.Value) (mediaOpts, error) {
	var o mediaOpts
	name := optString(v, "encoding")
	enc, err := lookupEncoding(name)
	if err != nil {
		return o, err
	}
	o.enc, o.encSet = enc, name != ""
	o.tag = optString(v, "tag")
	if obj := asObject(v); obj != nil {
		cp := obj.Get("customParameters")
		if cp == nil {
			cp = goja.Undefined()
		}
		if str, ok := cp.Export().(string); ok && str != "" {
			// A JSON string holding the parameters, as Voximplant sends them.
			if parse, ok := goja.AssertFunction(s.vm.Get("JSON").ToObject(s.vm).Get("parse")); ok {
				if r, err := parse(goja.Undefined(), cp); err == nil {
					cp = r
				}
			}
		}
		if p := asObject(cp); p != nil {
			for _, k := range p.Keys() {
				o.params = append(o.params, stream.Param{Name: k, Value: p.Get(k).String()})
			}
		}
	}
	return o, nil
}

// sendMedia routes from's audio to to: the JavaScript sendMediaTo.
func (s *session) sendMedia(from, to, params goja.Value) {
	src, dst := s.unitOf(from), s.unitOf(to)
	if src == nil {
		s.throw(fmt.Errorf("sendMediaTo: the source is not a media unit"))
	}
	if dst == nil {
		s.throw(fmt.Errorf("sendMediaTo: the target is not a media unit"))
	}
	opts, err := s.mediaOptions(params)
	if err != nil {
		s.mediaError(dst, err)
		return
	}
	switch src := src.(type) {
	case *jsCall:
		switch d := dst.(type) {
		case *jsSocket:
			s.callToSocket(src, d, opts)
		case sink:
			s.callToUnit(src, d, to.(*goja.Object))
		default:
			s.throw(fmt.Errorf("call.sendMediaTo(%s) is %w: it plays no audio", unitKind(dst), ErrNotSupported))
		}
	case *jsSocket:
		sk, ok := dst.(sink)
		if !ok {
			s.throw(fmt.Errorf("websocket.sendMediaTo(%s) is %w", unitKind(dst), ErrNotSupported))
		}
		src.bind(to.(*goja.Object), sk, opts)
	case *player:
		sk, ok := dst.(sink)
		if !ok {
			s.throw(fmt.Errorf("player.sendMediaTo(%s) is %w", unitKind(dst), ErrNotSupported))
		}
		src.sendTo(to.(*goja.Object), sk, opts)
	default:
		s.throw(fmt.Errorf("%s.sendMediaTo is %w: it receives audio only", unitKind(src), ErrNotSupported))
	}
}

// stopMedia stops what sendMedia started.
func (s *session) stopMedia(from, to, opts goja.Value) {
	src := s.unitOf(from)
	obj := asObject(to)
	// Options with a tag stop only the media of that tag (WebSocket
	// interaction); without one, everything sent to the unit stops.
	tag, anyTag := "", true
	if o := asObject(opts); o != nil {
		if v := o.Get("tag"); !isNothing(v) {
			tag, anyTag = v.String(), false
		}
	}
	switch src := src.(type) {
	case *jsCall:
		if w, ok := s.unitOf(to).(*jsSocket); ok {
			for _, f := range append([]*callFlow(nil), s.callFlows...) {
				if f.call == src && f.ws == w && (anyTag || f.tag == tag) {
					s.stopCallFlow(f)
				}
			}
		}
		for _, r := range append([]*callRelay(nil), s.callRelays...) {
			if r.call == src && r.obj == obj {
				s.stopRelay(r)
			}
		}
	case *jsSocket:
		src.unbindUnit(obj, tag, anyTag)
	case *player:
		src.stopTo(obj)
	}
}

// mediaError reports a media routing error: an ERROR event when a
// WebSocket is involved, a log line always.
func (s *session) mediaError(unit any, err error) {
	s.log.Error("scenario: media not sent", "err", err)
	if w, ok := unit.(*jsSocket); ok {
		w.postError(err)
	}
}

// unitOf returns the Go side of a media unit object.
func (s *session) unitOf(v goja.Value) any {
	o := asObject(v)
	if o == nil {
		return nil
	}
	return s.units[o]
}

func unitKind(u any) string {
	switch u.(type) {
	case *jsCall:
		return "Call"
	case *jsSocket:
		return "WebSocket"
	case *player:
		return "Player"
	case *recorder:
		return "Recorder"
	}
	return "unknown"
}

// jsTimer is one setTimeout or setInterval.
type jsTimer struct {
	cb    goja.Callable
	args  []goja.Value
	every time.Duration
	t     *time.Timer
}

// setTimer implements setTimeout and setInterval.
func (s *session) setTimer(c goja.FunctionCall, repeat bool) goja.Value {
	cb, ok := goja.AssertFunction(c.Argument(0))
	if !ok {
		panic(s.vm.NewTypeError("setTimeout: the callback is not a function"))
	}
	if len(s.timers) >= s.lim.Timers {
		err := fmt.Errorf("%w: at most %d timers may be active", ErrTooManyTimers, s.lim.Timers)
		s.log.Error("scenario: "+err.Error(), "limit", s.lim.Timers)
		s.throw(err)
	}
	ms := c.Argument(1).ToFloat()
	if math.IsNaN(ms) || ms < 0 {
		ms = 0
	}
	d := time.Duration(ms * float64(time.Millisecond))
	if repeat && d < s.lim.MinInterval {
		s.log.Warn("setInterval: period raised to the minimum", "asked", d, "min", s.lim.MinInterval)
		d = s.lim.MinInterval
	}
	s.nextTimer++
	id := s.nextTimer
	t := &jsTimer{cb: cb, args: append([]goja.Value(nil), c.Arguments[min(2, len(c.Arguments)):]...)}
	if repeat {
		t.every = d
	}
	t.t = time.AfterFunc(d, func() { s.post(func() { s.fireTimer(id) }) })
	s.timers[id] = t
	return s.vm.ToValue(id)
}

// fireTimer runs a timer's callback on the loop.
func (s *session) fireTimer(id int64) {
	t, ok := s.timers[id]
	if !ok {
		return
	}
	if t.every > 0 {
		t.t.Reset(t.every)
	} else {
		delete(s.timers, id)
	}
	s.callJS(t.cb, goja.Undefined(), t.args...)
}

func (s *session) clearTimer(v goja.Value) {
	if isNothing(v) {
		return
	}
	id := v.ToInteger()
	if t, ok := s.timers[id]; ok {
		t.t.Stop()
		delete(s.timers, id)
	}
}
