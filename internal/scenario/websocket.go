package scenario

import (
	"context"
	"fmt"
	"github.com/callstream/callstream/internal/codec"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/dop251/goja"
	"github.com/gorilla/websocket"

	"github.com/callstream/callstream/internal/call"
	"github.com/callstream/callstream/internal/limit"
	"github.com/callstream/callstream/internal/logsafe"
	"github.com/callstream/callstream/internal/stream"
	"github.com/callstream/callstream/internal/stream/voximplant"
)

// WebSocketReadyState values.
const (
	wsConnecting = "connecting"
	wsOpen       = "open"
	wsClosing    = "closing"
	wsClosed     = "closed"
)

// maxCloseReason is the longest close reason a close frame carries.
const maxCloseReason = 123

// jsSocket is one JavaScript WebSocket: an outgoing connection the script
// made or an incoming one accepted on the session's access URL.
type jsSocket struct {
	s        *session
	id       string
	obj      *goja.Object
	et       *eventTarget
	url      string
	incoming bool
	sock     *stream.Socket
	log      *slog.Logger

	// Loop only.
	state       string
	closeCode   int    // what close() asked for
	closeReason string // and its reason
	closeFired  bool

	// Remote → gateway media, shared by the socket's reader, the media
	// clock and the loop.
	inMu    sync.Mutex
	in      map[string]*inStream // by tag
	scratch stream.AppMessage    // reader only: re-decoding a bad message
	warn    *limit.Warner        // warnings about the remote, at most one a second
}

// installWebSocketClass defines the WebSocket constructor.
func (s *session) installWebSocketClass() error {
	ctor := s.vm.ToValue(func(c goja.ConstructorCall) *goja.Object {
		protos, header := socketParams(s.vm, c.Argument(1))
		w := s.newSocket(c.Argument(0).String(), protos, header, nil)
		_ = w.obj.SetPrototype(c.This.Prototype())
		return w.obj
	})
	return s.vm.Set("WebSocket", ctor)
}

// newSocket makes a WebSocket object and opens its connection: a dial to
// url, or conn when it is an incoming connection. CREATED is posted first.
func (s *session) newSocket(url string, protos []string, header http.Header, conn *websocket.Conn) *jsSocket {
	vm := s.vm
	w := &jsSocket{
		s:        s,
		id:       s.newID("ws"),
		url:      url,
		incoming: conn != nil,
		state:    wsConnecting,
		in:       map[string]*inStream{},
	}
	if conn != nil {
		w.state = wsOpen
	}
	if conn == nil {
		w.log = s.log.With("ws", w.id, "url", logsafe.URL(url)) // the query often carries a token
	} else {
		w.log = s.log.With("ws", w.id) // the access URL's path is the session's secret
	}
	w.warn = limit.NewWarner(w.log, slog.LevelWarn, time.Second)
	obj := vm.NewObject()
	w.obj = obj
	if proto := asObject(asObject(vm.Get("WebSocket")).Get("prototype")); proto != nil {
		_ = obj.SetPrototype(proto)
	}
	w.et = newEventTarget(obj, wsHandlers)
	w.et.methods(vm)
	for _, prop := range wsHandlers {
		_ = obj.Set(prop, goja.Null())
	}
	_ = obj.DefineAccessorProperty("readyState", vm.ToValue(func(goja.FunctionCall) goja.Value { return vm.ToValue(w.state) }), nil, goja.FLAG_FALSE, goja.FLAG_TRUE)
	_ = obj.DefineAccessorProperty("url", vm.ToValue(func(goja.FunctionCall) goja.Value { return vm.ToValue(w.url) }), nil, goja.FLAG_FALSE, goja.FLAG_TRUE)
	m := func(name string, fn func(goja.FunctionCall) goja.Value) { _ = obj.Set(name, fn) }
	m("id", func(goja.FunctionCall) goja.Value { return vm.ToValue(w.id) })
	m("send", func(c goja.FunctionCall) goja.Value {
		w.send(c.Argument(0))
		return goja.Undefined()
	})
	m("close", func(c goja.FunctionCall) goja.Value {
		w.close(c.Argument(0), c.Argument(1))
		return goja.Undefined()
	})
	m("sendMediaTo", func(c goja.FunctionCall) goja.Value {
		s.sendMedia(obj, c.Argument(0), c.Argument(1))
		return goja.Undefined()
	})
	m("stopMediaTo", func(c goja.FunctionCall) goja.Value {
		s.stopMedia(obj, c.Argument(0), c.Argument(1))
		return goja.Undefined()
	})
	m("clearMediaBuffer", func(c goja.FunctionCall) goja.Value {
		tag, all := "", true
		if o := asObject(c.Argument(0)); o != nil {
			if v := o.Get("tag"); !isNothing(v) {
				tag, all = v.String(), false
			}
		}
		w.clearMediaBuffer(tag, all)
		return goja.Undefined()
	})
	s.units[obj] = w
	s.sockets = append(s.sockets, w)
	s.post(func() { s.dispatch(w.et, evWSCreated, w.event(evWSCreated)) })
	var dialer func(ctx context.Context, network, addr string) (net.Conn, error)
	if conn == nil {
		client, _ := s.rt.fetcher()
		dialer = client.Dialer(s.log.With("ws", w.id), url) // the refusal names the URL itself
	}
	w.sock = stream.Open(stream.SocketConfig{
		URL:          url,
		Header:       header,
		Subprotocols: protos,
		Dialect:      voximplant.New(),
		QueueFrames:  stream.QueueFor(stream.DefaultQueue, 4),
		MaxMessage:   s.rt.cfg.WSMaxMessage,
		Refusals:     s.rt.cfg.Refusals,
		Logger:       w.log,
		OnMessage:    w.onMessage,
		OnOpen:       w.onOpen,
		OnClose:      w.onClose,
		Conn:         conn,
		// An outgoing socket's host is dialed through the URL policy.
		NetDialContext: dialer,
	})
	s.clock.addSocket(w)
	w.log.Info("websocket created", "incoming", w.incoming)
	return w
}

// event makes a WebSocket event: {name, websocket, ...fields}.
func (w *jsSocket) event(name string, fields ...any) *goja.Object {
	return w.s.event(name, append([]any{"websocket", w.obj}, fields...)...)
}

// onOpen runs in the socket's writer once connected.
func (w *jsSocket) onOpen() {
	if w.incoming {
		return
	}
	w.s.post(func() {
		if w.state != wsConnecting {
			return
		}
		w.state = wsOpen
		w.log.Info("websocket open")
		w.s.dispatch(w.et, evWSOpen, w.event(evWSOpen))
	})
}

// onClose runs once when the socket has ended.
func (w *jsSocket) onClose(code int, reason string, err error) {
	w.s.post(func() { w.closed(code, reason, err) })
}

// closed fires ERROR (on a failure) and CLOSE, once, and detaches the
// socket's media.
func (w *jsSocket) closed(code int, reason string, err error) {
	if w.closeFired {
		return
	}
	w.closeFired = true
	s := w.s
	clean := err == nil && code != 0 && code != websocket.CloseAbnormalClosure
	switch {
	case code != 0:
	case err == nil && w.closeCode != 0:
		code = w.closeCode
	default:
		code = websocket.CloseAbnormalClosure
	}
	if reason == "" && err == nil && w.closeCode != 0 {
		// The peer echoed our close without a reason: report ours.
		reason = w.closeReason
	}
	if err != nil && reason == "" {
		reason = err.Error()
	}
	w.state = wsClosed
	for _, f := range append([]*callFlow(nil), s.callFlows...) {
		if f.ws == w {
			s.dropCallFlow(f)
		}
	}
	w.unbindAll()
	s.clock.removeSocket(w)
	for i, x := range s.sockets {
		if x == w {
			s.sockets = append(s.sockets[:i], s.sockets[i+1:]...)
			break
		}
	}
	if w.incoming {
		s.incoming.Add(-1)
	}
	w.log.Info("websocket closed", "code", code, "reason", reason, "clean", clean, "err", err)
	if err != nil || code == websocket.CloseAbnormalClosure {
		s.dispatch(w.et, evWSError, w.event(evWSError))
	}
	s.dispatch(w.et, evWSClose, w.event(evWSClose, "code", code, "reason", reason, "wasClean", clean))
}

// postError fires ERROR later on the loop and logs err.
func (w *jsSocket) postError(err error) {
	w.log.Warn("websocket error", "err", err)
	w.s.post(func() { w.s.dispatch(w.et, evWSError, w.event(evWSError)) })
}

// send queues a text frame; on a socket that is not open it fires ERROR.
func (w *jsSocket) send(v goja.Value) {
	if w.state != wsOpen {
		w.postError(fmt.Errorf("send: %w (readyState %s)", ErrNotOpen, w.state))
		return
	}
	text := ""
	if !isNothing(v) {
		text = v.String()
	}
	if !w.sock.SendText(text) {
		w.postError(fmt.Errorf("send: %w", ErrNotOpen))
	}
}

// close starts the closing handshake with code (default 1000) and reason.
func (w *jsSocket) close(codeV, reasonV goja.Value) {
	if w.state == wsClosing || w.state == wsClosed {
		return
	}
	code := websocket.CloseNormalClosure
	if !isNothing(codeV) {
		code = int(codeV.ToInteger())
	}
	switch {
	case code == websocket.CloseNoStatusReceived, code == websocket.CloseAbnormalClosure, code == websocket.CloseTLSHandshake:
		// These may not travel in a close frame: it goes without a status.
		code = websocket.CloseNoStatusReceived
	case code < 1000 || code > 4999:
		w.log.Warn("websocket.close: invalid close code, 1000 sent", "code", code)
		code = websocket.CloseNormalClosure
	}
	reason := ""
	if !isNothing(reasonV) {
		reason = reasonV.String()
	}
	if len(reason) > maxCloseReason {
		reason = reason[:maxCloseReason]
	}
	w.state = wsClosing
	w.closeCode, w.closeReason = code, reason
	w.sock.BeginClose(code, reason)
}

// shutdown closes the socket at the session's end. A socket the script is
// already closing is left to finish: what it queued (stop messages, the
// close frame) still goes out; the session's end waits for it, bounded.
func (w *jsSocket) shutdown() {
	if w.state == wsClosed || w.state == wsClosing {
		return
	}
	w.state = wsClosing
	w.closeCode = websocket.CloseNormalClosure
	w.sock.BeginClose(websocket.CloseNormalClosure, "session ended")
}

// attach makes the socket send src's audio as a new flow (another unit's
// audio to this socket): start, 20 ms media, stop on detach.
func (w *jsSocket) attach(src call.Source, o mediaOpts, _ func()) (func(), error) {
	if w.state == wsClosed || w.state == wsClosing {
		return nil, fmt.Errorf("sendMediaTo a websocket: %w", ErrNotOpen)
	}
	enc, err := o.enc.newEncoder()
	if err != nil {
		return nil, fmt.Errorf("sendMediaTo a websocket as %s: %w", o.enc.name, err)
	}
	fl := w.sock.AddFlow(stream.FlowConfig{
		Info: stream.Info{
			Tag:        o.tag,
			Tracks:     []stream.Track{stream.TrackInbound},
			Params:     o.params,
			Encoding:   o.enc.name,
			SampleRate: o.enc.rate,
		},
		Tracks:     stream.TrackSet(0).With(stream.TrackInbound),
		Timestamps: stream.TimestampSamples,
		Encoder:    enc,
	})
	p := &pump{src: src, dst: flowSink{fl}}
	w.s.clock.addPump(p)
	return func() {
		w.s.clock.removePump(p)
		w.sock.StopFlow(fl, false)
	}, nil
}

// flowSink writes pumped frames into a flow.
type flowSink struct{ f *stream.Flow }

func (f flowSink) writeFrame(index uint64, frame []byte) {
	f.f.Push(stream.TrackInbound, index, codec.Frame{Format: codec.PCMU, Payload: frame})
}

// onMessage sees every frame from the remote (socket reader goroutine):
// start, media and stop drive the remote's audio streams; any other text
// is a MESSAGE for the script.
func (w *jsSocket) onMessage(raw []byte, binary bool, m *stream.AppMessage, err error) bool {
	if binary {
		w.warn.Log("binary websocket frame ignored: media travels in media messages", "bytes", len(raw))
		return true
	}
	if err != nil {
		if w.mediaEvent(raw) {
			w.warn.Log("invalid media message from the remote", "err", err)
			w.postError(fmt.Errorf("invalid %s message: %w", w.scratch.Event, err))
			return true
		}
		w.postMessage(string(raw))
		return true
	}
	switch m.Kind {
	case stream.MsgStart:
		w.remoteStart(m)
	case stream.MsgMedia:
		w.remoteMedia(m)
	case stream.MsgStop:
		w.remoteStop(m)
	default:
		w.postMessage(string(raw))
	}
	return true
}

// postMessage fires MESSAGE with the text (as text and data).
func (w *jsSocket) postMessage(text string) {
	w.s.post(func() {
		if w.closeFired {
			return
		}
		w.s.dispatch(w.et, evWSMessage, w.event(evWSMessage, "text", text, "data", text))
	})
}

// mediaEvent reports whether raw, which the dialect could not decode, is
// a start, media or stop message (reader goroutine only).
func (w *jsSocket) mediaEvent(raw []byte) bool {
	_ = voximplant.New().Decode(raw, &w.scratch)
	switch w.scratch.Event {
	case "start", "media", "stop":
		return true
	}
	return false
}
