package stream

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/limit"
)

// Defaults for a socket.
const (
	// DefaultQueue is the audio queued towards a slow app, or during a
	// reconnect, before the oldest is dropped. It holds an outage of 2 s
	// plus the reconnect's back-off and handshake (see DefaultReconnect).
	DefaultQueue        = 3 * time.Second
	DefaultDialTimeout  = 10 * time.Second // WebSocket connect + handshake
	DefaultWriteTimeout = 10 * time.Second // an app that reads nothing this long is disconnected
	// DefaultMaxMessage bounds a message read from an app.
	DefaultMaxMessage = 1 << 20
	// DefaultControlQueue bounds the messages other than media and a
	// flow's start and stop (marks, dtmf, text) waiting to be written.
	DefaultControlQueue = 256
	// DefaultReconnect is how long a FlexML stream whose app socket
	// dropped is reconnected for.
	DefaultReconnect = 5 * time.Second
	closeWait        = 2 * time.Second // how long to wait for the app's close frame
	sendBuffer       = 64 << 10        // kernel send buffer of a stream's TCP connection
)

// Errors reported by a socket.
var (
	ErrDial         = errors.New("websocket connect failed")
	ErrWriteTimeout = errors.New("app stopped reading")
	// ErrMessageTooBig ends a socket whose app sent a message over the
	// socket's MaxMessage; the socket closes with 1009.
	ErrMessageTooBig = errors.New("websocket message too big")
	// ErrReconnectFailed ends a socket whose connection dropped and could
	// not be opened again within its Reconnect time.
	ErrReconnectFailed = errors.New("websocket reconnect failed")
)

// SocketConfig configures one WebSocket connection to an app.
type SocketConfig struct {
	URL          string
	Header       http.Header
	Subprotocols []string
	Dialect      Dialect
	Info         *Info // identifies the stream in the connected message (Twilio streamSid)
	// QueueFrames bounds the media frames waiting to be written (default:
	// DefaultQueue worth of frames per track, see QueueFor).
	QueueFrames int
	// ControlQueue bounds the marks, dtmf events and text frames waiting to
	// be written (default DefaultControlQueue). One more is dropped and
	// counted (ControlDropped, limit.ControlQueueFull). A socket whose app
	// may leave marks pending needs room for them all: its playout's
	// MaxMarks more.
	ControlQueue int
	// MaxMessage bounds a message read from the app, in bytes (default
	// DefaultMaxMessage; negative: no bound). A larger message is not read
	// whole: the socket ends with ErrMessageTooBig and closes with 1009.
	MaxMessage   int64
	DialTimeout  time.Duration
	WriteTimeout time.Duration
	// Reconnect, when positive, is how long the socket tries to connect to
	// URL again after its connection dropped (no close frame from the app:
	// a reset, a read or write error). Meanwhile media queue up to
	// QueueFrames; once connected again the socket sends connected, a start
	// for every running flow, the last media frames the old connection may
	// not have delivered (with their own chunk and timestamp), then what
	// queued. Zero: never; an incoming socket (Conn) never reconnects.
	Reconnect time.Duration
	// Logger is the stream's logger: it names the stream (its URL without
	// query string, its ids); the socket's lines add no URL of their own.
	Logger *slog.Logger
	// Refusals counts the bounds the socket hits: message size, control
	// queue, pending marks.
	Refusals limit.Counter
	// Playout receives the app's audio (media messages, binary frames), clear
	// and marks. Nil on a unidirectional stream: the app's audio is ignored.
	Playout *Playout
	// OnMessage, when set, sees every message from the app first; returning
	// true means it handled the message. raw is the frame's bytes; m is the
	// dialect's decoding (nil for binary frames or when decoding failed).
	OnMessage func(raw []byte, binary bool, m *AppMessage, err error) bool
	// OnOpen runs in the writer goroutine once the socket is first open
	// (not again after a reconnect).
	OnOpen func()
	// OnClose runs once when the socket has ended, with the close code the
	// app sent (0 when none) and the error that ended it (nil for a clean close).
	OnClose func(code int, reason string, err error)
	// Conn is an already-open connection (an incoming socket); URL is then
	// only used in logs.
	Conn *websocket.Conn
	// TLS configures wss:// connections (nil: the system's roots).
	TLS *tls.Config
	// NetDialContext, when set, opens the TCP connection to the URL's
	// host:port (the gateway's URL policy); nil dials directly.
	NetDialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// Observer, when set, gets sampled frame latencies and queue depths.
	Observer Observer
}

// QueueFor returns the media queue bound for d of audio of n tracks.
func QueueFor(d time.Duration, tracks int) int {
	if tracks < 1 {
		tracks = 1
	}
	return int(d/FrameDuration) * tracks
}

// SocketStats counts what a socket did.
type SocketStats struct {
	MessagesSent   uint64 // messages written, all kinds
	MediaSent      uint64 // media messages written (replays included)
	MediaDropped   uint64 // media frames dropped because the app was slow or away
	MessagesRecv   uint64 // messages received from the app
	BadMessages    uint64 // app messages that could not be decoded or were unknown
	QueuedFrames   int    // media frames waiting now
	PlayoutDrops   uint64 // bytes of app audio dropped: playout buffer full
	ConnectTimeMs  int64  // time to open the connection
	ControlDropped uint64 // marks, dtmf events and text frames dropped: control queue full
	MarksEarly     uint64 // marks answered before their audio played: too many pending
	TooBig         bool   // the app sent a message over MaxMessage
	// Reconnects counts the connections opened again after a drop;
	// ReconnectAttempts the dials tried for them; ReconnectFailed is set
	// when the last drop could not be reconnected in time.
	Reconnects        uint64
	ReconnectAttempts uint64
	ReconnectFailed   bool
	OutageMs          int64  // time without a connection between drops and reconnects
	MediaReplayed     uint64 // media frames sent again on a new connection
	// FrameLatency is the latest sampled time from an inbound frame's
	// push on the media path to the end of the write that sent it (0
	// before the first sample, and without an Observer).
	FrameLatency time.Duration
}

// Socket is one WebSocket connection to an app carrying one or more flows.
// One writer goroutine owns the connection's writes; sending never blocks
// the caller. Close or the app closing ends it; a connection that drops is
// opened again when the config asks for it. Done is closed when every
// goroutine has returned and the connection is released.
type Socket struct {
	cfg    SocketConfig
	log    *slog.Logger
	q      *queue
	ctx    context.Context // cancelled by Abort, and when the socket has ended
	cancel context.CancelFunc
	done   chan struct{}

	open         atomic.Bool // a connection is up
	ending       atomic.Bool // the gateway closes the socket: no reconnect
	reconnecting atomic.Bool // the writer is dialling again after a drop

	mu        sync.Mutex
	flows     []*Flow
	link      *link // the connection now (nil before the first, between drops)
	err       error
	code      int
	reason    string
	started   time.Time
	ended     bool     // Done is closed
	afterDone []func() // run once ended

	// wmu is held while writing to the connection: by the writer, and by
	// the reader for its pong and close replies.
	wmu sync.Mutex
	// The writer goroutine's own state.
	mask    bool      // the socket is the client: frames are masked
	wbuf    []byte    // message buffer: hdrRoom bytes of header room, then the body
	batch   []byte    // frames gathered for one write()
	batched uint64    // messages in batch
	enc     []byte    // a converted frame (see convert)
	m       Media     // the media message being encoded
	replay  replay    // the last media frames written, sent again after a reconnect
	dropAt  time.Time // when the last drop was seen

	// Warnings about the app, each kind at most once a second.
	warnBad, warnControl, warnMarks, warnConvert limit.Warner
	// foreignWarned is set once the app was told it speaks another
	// dialect (see foreign).
	foreignWarned atomic.Bool
	// sampledAt is the push time (monoNow) of the batch's sampled frame, 0
	// for none; wakes counts wake-ups. Both for the Observer.
	sampledAt int64
	wakes     uint64

	sent, mediaSent, recv, bad atomic.Uint64
	controlDropped, marksEarly atomic.Uint64
	reconnects, attempts       atomic.Uint64
	replayed                   atomic.Uint64
	outageMs, connectMs        atomic.Int64
	latency                    atomic.Int64 // FrameLatency, nanoseconds
	reconnectFailed, tooBig    atomic.Bool
	lastHeard                  atomic.Int64 // unix nanos of the last frame (data, ping or pong) from the app
}

// Open starts a socket: the writer goroutine connects (unless cfg.Conn is
// set) and then sends what is queued. Open returns at once.
func Open(cfg SocketConfig) *Socket {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.QueueFrames <= 0 {
		cfg.QueueFrames = QueueFor(DefaultQueue, 1)
	}
	if cfg.ControlQueue <= 0 {
		cfg.ControlQueue = DefaultControlQueue
	}
	if cfg.MaxMessage == 0 {
		cfg.MaxMessage = DefaultMaxMessage
	}
	if cfg.Conn != nil {
		cfg.Reconnect = 0
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Socket{
		cfg:     cfg,
		log:     cfg.Logger,
		q:       newQueue(cfg.QueueFrames, cfg.ControlQueue),
		ctx:     ctx,
		cancel:  cancel,
		done:    make(chan struct{}),
		started: time.Now(),
	}
	s.replay.on, s.replay.queue = cfg.Reconnect > 0, cfg.QueueFrames
	for _, w := range []*limit.Warner{&s.warnBad, &s.warnControl, &s.warnMarks, &s.warnConvert} {
		w.Logger, w.Level, w.Period = cfg.Logger, slog.LevelWarn, time.Second
	}
	go s.run()
	return s
}

// AfterDone arranges for fn to run once the socket has ended and released
// everything (after Done is closed), in the socket's own goroutine; at once,
// in the caller's, if it has already ended. No goroutine waits meanwhile.
func (s *Socket) AfterDone(fn func()) {
	s.mu.Lock()
	if !s.ended {
		s.afterDone = append(s.afterDone, fn)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	fn()
}

// end marks the socket ended, closes Done and runs the AfterDone functions.
func (s *Socket) end() {
	s.mu.Lock()
	s.ended = true
	fns := s.afterDone
	s.afterDone = nil
	s.mu.Unlock()
	close(s.done)
	for _, fn := range fns {
		fn()
	}
}

// Done is closed when the socket has ended and released everything.
func (s *Socket) Done() <-chan struct{} { return s.done }

// IsOpen reports whether a connection is open and the socket is not closing.
func (s *Socket) IsOpen() bool { return s.open.Load() && !s.ending.Load() }

// Err returns what ended the socket (nil while running or after a clean close).
func (s *Socket) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// CloseStatus returns the close code and reason the app sent (0, "" if none).
func (s *Socket) CloseStatus() (int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.code, s.reason
}

// Stats returns the socket's counters.
func (s *Socket) Stats() SocketStats {
	queued, dropped := s.q.stats()
	st := SocketStats{
		MessagesSent:      s.sent.Load(),
		MediaSent:         s.mediaSent.Load(),
		MediaDropped:      dropped,
		MessagesRecv:      s.recv.Load(),
		BadMessages:       s.bad.Load(),
		QueuedFrames:      queued,
		ConnectTimeMs:     s.connectMs.Load(),
		ControlDropped:    s.controlDropped.Load(),
		MarksEarly:        s.marksEarly.Load(),
		TooBig:            s.tooBig.Load(),
		Reconnects:        s.reconnects.Load(),
		ReconnectAttempts: s.attempts.Load(),
		ReconnectFailed:   s.reconnectFailed.Load(),
		OutageMs:          s.outageMs.Load(),
		MediaReplayed:     s.replayed.Load(),
		FrameLatency:      time.Duration(s.latency.Load()),
	}
	if s.cfg.Playout != nil {
		st.PlayoutDrops = s.cfg.Playout.Dropped()
	}
	return st
}

// AddFlow starts a flow on the socket: its start message is queued now.
func (s *Socket) AddFlow(cfg FlowConfig) *Flow {
	if cfg.Wire.Name == "" {
		cfg.Wire = codec.PCMU
	}
	f := &Flow{cfg: cfg, sock: s, seq: s.cfg.Dialect.FirstSequence()}
	f.first = TrackMixed
	for t := TrackInbound; t <= TrackMixed; t++ {
		if cfg.Tracks.Has(t) {
			f.first = t
			break
		}
	}
	if cfg.MaxLength > 0 {
		f.maxFrames = uint64((cfg.MaxLength + FrameDuration - 1) / FrameDuration)
	}
	s.mu.Lock()
	s.flows = append(s.flows, f)
	s.mu.Unlock()
	s.q.pushControl(itemStart, f, 0, 0, "")
	return f
}

// StopFlow queues the flow's stop message. With closeAfter the socket then
// closes with 1000 once everything before it is sent.
func (s *Socket) StopFlow(f *Flow, closeAfter bool) { s.stopFlow(f, closeAfter) }

func (s *Socket) stopFlow(f *Flow, closeAfter bool) {
	if f.stopped.Swap(true) {
		return
	}
	s.q.pushControl(itemStop, f, 0, 0, "")
	if closeAfter {
		s.pushClose(websocket.CloseNormalClosure, "")
	}
}

// PushMark queues a mark reply for f (dialects without marks send nothing).
// It never blocks: when the control queue is full the reply is dropped and
// counted.
func (s *Socket) PushMark(f *Flow, name string) {
	s.pushEcho(itemMark, f, 0, name)
}

// SendText queues a raw text frame (a scenario's ws.send). It reports false
// when the socket is closing or its control queue is full.
func (s *Socket) SendText(text string) bool {
	return s.pushEcho(itemText, nil, 0, text)
}

// pushEcho queues a mark, dtmf or text item; one over the control queue's
// bound is dropped, counted and warned about.
func (s *Socket) pushEcho(kind itemKind, f *Flow, digit byte, text string) bool {
	switch s.q.pushControl(kind, f, digit, 0, text) {
	case pushed:
		return true
	case pushedFull:
		s.controlDropped.Add(1)
		limit.Count(s.cfg.Refusals, limit.ControlQueueFull)
		s.warnControl.Log("message to app dropped: control queue full",
			"kind", kind.String(), "control_queue", s.cfg.ControlQueue, "dropped_total", s.controlDropped.Load())
	}
	return false
}

// BeginClose stops every flow still running (their stop messages are
// queued) and asks the writer to close the connection with code once what
// is queued has been written. It returns at once; Done is closed when the
// socket has ended. A socket waiting to reconnect ends at once.
func (s *Socket) BeginClose(code int, reason string) {
	s.mu.Lock()
	flows := append([]*Flow(nil), s.flows...)
	s.mu.Unlock()
	for _, f := range flows {
		s.stopFlow(f, false)
	}
	if code == 0 {
		code = websocket.CloseNormalClosure
	}
	if !s.pushClose(code, reason) {
		// Already closing: make sure a stuck writer gives up.
		s.cancel()
	}
}

// Close is BeginClose, then waits until the socket has ended: for the app's
// close frame up to 2 s, then it cuts the connection. It returns what ended
// the socket (nil for a clean close).
func (s *Socket) Close(code int, reason string) error {
	s.BeginClose(code, reason)
	t := time.NewTimer(closeWait + time.Second)
	defer t.Stop()
	select {
	case <-s.done:
	case <-t.C:
		s.Abort()
		<-s.done
	}
	return s.Err()
}

// pushClose queues the close item; no reconnect follows. It reports false
// when the queue was already closed.
func (s *Socket) pushClose(code int, reason string) bool {
	s.stopReconnecting()
	return s.q.pushControl(itemClose, nil, 0, code, reason) == pushed
}

// stopReconnecting marks the socket ending, so a drop is not reconnected,
// and cuts short a reconnect under way.
func (s *Socket) stopReconnecting() {
	s.ending.Store(true)
	if s.reconnecting.Load() {
		s.cancel()
	}
}

// Abort ends the socket at once without sending anything more.
func (s *Socket) Abort() {
	s.ending.Store(true)
	s.q.closeNow()
	s.cancel()
	s.mu.Lock()
	l := s.link
	s.mu.Unlock()
	if l != nil {
		_ = l.conn.Close()
	}
}

func (s *Socket) setErr(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}

// finish runs once when the last connection has ended: reports.
func (s *Socket) finish() {
	s.open.Store(false)
	s.ending.Store(true)
	s.q.closeNow()
	s.cancel()
	s.mu.Lock()
	for _, f := range s.flows {
		f.stopped.Store(true)
	}
	code, reason, err := s.code, s.reason, s.err
	s.mu.Unlock()
	if s.cfg.OnClose != nil {
		s.cfg.OnClose(code, reason, err)
	}
}
