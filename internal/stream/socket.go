package stream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Defaults for a socket.
const (
	DefaultQueue        = 2 * time.Second  // audio queued towards a slow app before the oldest is dropped
	DefaultDialTimeout  = 10 * time.Second // WebSocket connect + handshake
	DefaultWriteTimeout = 10 * time.Second // an app that reads nothing this long is disconnected
	closeWait           = 2 * time.Second  // how long to wait for the app's close frame
	sendBuffer          = 64 << 10         // kernel send buffer of a stream's TCP connection
)

// Errors reported by a socket.
var (
	ErrDial         = errors.New("websocket connect failed")
	ErrWriteTimeout = errors.New("app stopped reading")
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
	QueueFrames  int
	DialTimeout  time.Duration
	WriteTimeout time.Duration
	Logger       *slog.Logger
	// Playout receives the app's audio (media messages, binary frames), clear
	// and marks. Nil on a unidirectional stream: the app's audio is ignored.
	Playout *Playout
	// OnMessage, when set, sees every message from the app first; returning
	// true means it handled the message. raw is the frame's bytes; m is the
	// dialect's decoding (nil for binary frames or when decoding failed).
	OnMessage func(raw []byte, binary bool, m *AppMessage, err error) bool
	// OnOpen runs in the writer goroutine once the socket is open.
	OnOpen func()
	// OnClose runs once when the socket has ended, with the close code the
	// app sent (0 when none) and the error that ended it (nil for a clean close).
	OnClose func(code int, reason string, err error)
	// Conn is an already-open connection (an incoming socket); URL is then
	// only used in logs.
	Conn *websocket.Conn
	// TLS configures wss:// connections (nil: the system's roots).
	TLS *tls.Config
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
	MessagesSent  uint64 // messages written, all kinds
	MediaSent     uint64 // media messages written
	MediaDropped  uint64 // media frames dropped because the app was slow
	MessagesRecv  uint64 // messages received from the app
	BadMessages   uint64 // app messages that could not be decoded or were unknown
	QueuedFrames  int    // media frames waiting now
	PlayoutDrops  uint64 // bytes of app audio dropped: playout buffer full
	ConnectTimeMs int64  // time to open the connection
}

// Socket is one WebSocket connection to an app carrying one or more flows.
// One writer goroutine owns the connection's writes; sending never blocks
// the caller. Close or the app closing ends it; Done is closed when every
// goroutine has returned and the connection is released.
type Socket struct {
	cfg    SocketConfig
	log    *slog.Logger
	q      *queue
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	conn       *websocket.Conn // set by the writer once open
	open       atomic.Bool
	closing    atomic.Bool
	readerDone chan struct{}

	mu        sync.Mutex
	flows     []*Flow
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
	mask    bool   // the socket is the client: frames are masked
	wbuf    []byte // message buffer: hdrRoom bytes of header room, then the body
	batch   []byte // frames gathered for one write()
	batched uint64 // messages in batch
	enc     []byte // a flow encoder's output
	m       Media  // the media message being encoded
	// sampledAt is the push time (monoNow) of the batch's sampled frame, 0
	// for none; wakes counts wake-ups. Both for the Observer.
	sampledAt int64
	wakes     uint64

	sent, mediaSent, recv, bad atomic.Uint64
	connectMs                  atomic.Int64
	lastHeard                  atomic.Int64 // unix nanos of the last frame (data, ping or pong) from the app
	lastWarn                   atomic.Int64 // unix nanos of the last rate-limited warning
	warnSkipped                atomic.Uint64
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
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Socket{
		cfg:        cfg,
		log:        cfg.Logger,
		q:          newQueue(cfg.QueueFrames),
		ctx:        ctx,
		cancel:     cancel,
		done:       make(chan struct{}),
		readerDone: make(chan struct{}),
		started:    time.Now(),
	}
	go s.writeLoop()
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

// IsOpen reports whether the connection is open.
func (s *Socket) IsOpen() bool { return s.open.Load() && !s.closing.Load() }

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
		MessagesSent:  s.sent.Load(),
		MediaSent:     s.mediaSent.Load(),
		MediaDropped:  dropped,
		MessagesRecv:  s.recv.Load(),
		BadMessages:   s.bad.Load(),
		QueuedFrames:  queued,
		ConnectTimeMs: s.connectMs.Load(),
	}
	if s.cfg.Playout != nil {
		st.PlayoutDrops = s.cfg.Playout.Dropped()
	}
	return st
}

// AddFlow starts a flow on the socket: its start message is queued now.
func (s *Socket) AddFlow(cfg FlowConfig) *Flow {
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
		s.q.pushControl(itemClose, nil, 0, websocket.CloseNormalClosure, "")
	}
}

// PushMark queues a mark reply for f (dialects without marks send nothing).
func (s *Socket) PushMark(f *Flow, name string) {
	s.q.pushControl(itemMark, f, 0, 0, name)
}

// SendText queues a raw text frame (a scenario's ws.send).
func (s *Socket) SendText(text string) bool {
	return s.q.pushControl(itemText, nil, 0, 0, text)
}

// Close stops every flow still running (their stop messages are sent) and
// closes the connection with code once what is queued has been written.
func (s *Socket) Close(code int, reason string) {
	s.mu.Lock()
	flows := append([]*Flow(nil), s.flows...)
	s.mu.Unlock()
	for _, f := range flows {
		s.stopFlow(f, false)
	}
	if code == 0 {
		code = websocket.CloseNormalClosure
	}
	if !s.q.pushControl(itemClose, nil, 0, code, reason) {
		// Already closing: make sure a stuck writer gives up.
		s.cancel()
	}
}

// Abort ends the socket at once without sending anything more.
func (s *Socket) Abort() {
	s.q.closeNow()
	s.cancel()
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

func (s *Socket) setErr(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
}

// writeLoop connects, then (in write) writes queued items until a close
// item, a write error or the app closing. It waits on one channel, the queue's doorbell:
// the reader ending, the socket being cancelled and the ping timer ring it
// too, so a frame costs one wake-up and no select.
func (s *Socket) writeLoop() {
	conn := s.cfg.Conn
	if conn == nil {
		var err error
		conn, err = s.dial()
		if err != nil {
			s.setErr(err)
			s.q.closeNow()
			s.finish()
			s.end()
			return
		}
		// The handshake grew this goroutine's stack; the writer runs for
		// the whole stream, so it goes on in a fresh goroutine with a
		// small one.
		go s.write(conn)
		return
	}
	s.write(conn)
}

// write is the writer once the connection is open.
func (s *Socket) write(conn *websocket.Conn) {
	defer s.end()
	defer s.finish()
	s.mu.Lock()
	s.conn = conn
	s.mu.Unlock()
	w := newConnWriter(conn.NetConn(), s.cfg.Conn == nil, s.cfg.WriteTimeout)
	s.mask = w.mask
	s.wbuf = make([]byte, hdrRoom, 512)
	s.open.Store(true)
	s.connectMs.Store(time.Since(s.started).Milliseconds())
	s.lastHeard.Store(time.Now().UnixNano())
	conn.SetPongHandler(func(string) error {
		s.lastHeard.Store(time.Now().UnixNano())
		return nil
	})
	// The reader's replies go through the same writer as everything else.
	conn.SetPingHandler(func(data string) error {
		s.lastHeard.Store(time.Now().UnixNano())
		s.wmu.Lock()
		if !w.closed {
			_ = w.control(opPong, []byte(data))
		}
		s.wmu.Unlock()
		return nil
	})
	conn.SetCloseHandler(func(code int, _ string) error {
		s.wmu.Lock()
		if !w.closed {
			_ = w.closeFrame(websocket.FormatCloseMessage(code, ""))
		}
		s.wmu.Unlock()
		return nil
	})
	go s.readLoop(conn)
	if s.cfg.OnOpen != nil {
		s.cfg.OnOpen()
	}
	if s.cfg.Info != nil {
		if b, ok := s.cfg.Dialect.AppendConnected(s.wbuf[:hdrRoom], s.cfg.Info); ok {
			s.addLocked(b, opText)
			if err := s.flush(w); err != nil {
				s.fail(conn, err)
				return
			}
		}
	}
	// Pings prove the app reads: its WebSocket library answers them only
	// while reading. An app silent for WriteTimeout is disconnected.
	period := pingEvery(s.cfg.WriteTimeout)
	var pingDue atomic.Bool
	ping := time.AfterFunc(period, func() {
		pingDue.Store(true)
		s.q.ring()
	})
	defer ping.Stop()
	defer context.AfterFunc(s.ctx, s.q.ring)()
	var it item
	for {
		if !s.q.pop(&it) {
			// Nothing more queued: write what was gathered, then wait.
			if err := s.flush(w); err != nil {
				s.fail(conn, err)
				return
			}
			select {
			case <-s.readerDone:
				// The app closed or the connection broke.
				_ = conn.Close()
				return
			default:
			}
			if s.ctx.Err() != nil {
				_ = conn.Close()
				return
			}
			if pingDue.Swap(false) {
				if silent := time.Since(time.Unix(0, s.lastHeard.Load())); silent > s.cfg.WriteTimeout {
					s.fail(conn, fmt.Errorf("%w: nothing read for %s", ErrWriteTimeout, silent.Round(time.Millisecond)))
					return
				}
				s.wmu.Lock()
				_ = w.control(opPing, nil)
				s.wmu.Unlock()
				ping.Reset(period)
			}
			<-s.q.wake
			s.reportWake()
			continue
		}
		if it.kind == itemClose {
			if err := s.flush(w); err != nil {
				s.fail(conn, err)
				return
			}
			s.closing.Store(true)
			s.wmu.Lock()
			if err := w.closeFrame(websocket.FormatCloseMessage(it.code, it.text)); err != nil {
				s.log.Debug("websocket close frame not sent", "err", err)
			}
			s.wmu.Unlock()
			// Wait for the app to answer the close, then release.
			t := time.NewTimer(closeWait)
			select {
			case <-s.readerDone:
			case <-t.C:
			case <-s.ctx.Done():
			}
			t.Stop()
			_ = conn.Close()
			return
		}
		s.addItem(&it)
		if len(s.batch) >= maxBatch {
			if err := s.flush(w); err != nil {
				s.fail(conn, err)
				return
			}
		}
	}
}

// maxBatch bounds the bytes gathered for one write().
const maxBatch = 32 << 10

// flush writes the frames gathered in the batch with one write().
func (s *Socket) flush(w *connWriter) error {
	if len(s.batch) == 0 {
		return nil
	}
	var err error
	s.wmu.Lock()
	if !w.closed || w.err != nil {
		if err = w.write(s.batch); err == nil {
			s.sent.Add(s.batched)
		}
	} // else the reader answered the app's close: nothing more is sent
	s.wmu.Unlock()
	s.reportSample(err == nil)
	s.batch, s.batched = s.batch[:0], 0
	return err
}

// addItem adds the frame of one queued item (not a close) to the batch.
func (s *Socket) addItem(it *item) {
	var (
		b  []byte
		ok = true
		f  = it.flow
	)
	switch it.kind {
	case itemMedia:
		s.noteSample(it.at)
		s.addLocked(s.media(f, it.track, it.index, it.payload[:]), opText)
		return
	case itemStart:
		b = s.cfg.Dialect.AppendStart(s.wbuf[:hdrRoom], f.seq, &f.cfg.Info)
		f.seq++
	case itemStop:
		st := StopInfo{BytesSent: f.bytesSent, DurationMs: f.frames * uint64(FrameDuration/time.Millisecond)}
		if f.cfg.Tracks != 0 {
			st.DurationMs /= uint64(len(f.cfg.Tracks.Tracks()))
		}
		b = s.cfg.Dialect.AppendStop(s.wbuf[:hdrRoom], f.seq, &f.cfg.Info, &st)
		f.seq++
	case itemDTMF:
		b, ok = s.cfg.Dialect.AppendDTMF(s.wbuf[:hdrRoom], f.seq, &f.cfg.Info, it.digit)
		if ok {
			f.seq++
		}
	case itemMark:
		b, ok = s.cfg.Dialect.AppendMark(s.wbuf[:hdrRoom], f.seq, &f.cfg.Info, it.text)
		if ok {
			f.seq++
		}
	case itemText:
		b = append(s.wbuf[:hdrRoom], it.text...)
	}
	if ok {
		s.addLocked(b, opText)
	}
}

// media encodes one media message of flow f into the writer's buffer
// (b[hdrRoom:], see frameAt) and counts it.
func (s *Socket) media(f *Flow, t Track, index uint64, payload []byte) []byte {
	if f.cfg.Encoder != nil {
		s.enc = f.cfg.Encoder.Encode(s.enc[:0], payload)
		payload = s.enc
	}
	f.chunk[t]++
	s.m = Media{Track: t, Chunk: f.chunk[t], Timestamp: f.timestamp(index), Payload: payload}
	b := s.cfg.Dialect.AppendMedia(s.wbuf[:hdrRoom], f.seq, &f.cfg.Info, &s.m)
	s.m.Payload = nil
	f.seq++
	f.bytesSent += uint64(len(payload))
	f.frames++
	s.mediaSent.Add(1)
	return b
}

// addLocked frames b (a message body after hdrRoom bytes) and adds the frame
// to the batch.
func (s *Socket) addLocked(b []byte, op byte) {
	if cap(b) > cap(s.wbuf) {
		s.wbuf = b[:hdrRoom] // keep the grown buffer
	}
	s.batch = append(s.batch, frameAt(b, op, s.mask)...)
	s.batched++
}

// pingEvery returns the ping period for an idle limit.
func pingEvery(limit time.Duration) time.Duration {
	p := limit / 5
	if p < 10*time.Millisecond {
		p = 10 * time.Millisecond
	}
	return p
}

// fail ends the socket after a write error, unless the app had closed it.
func (s *Socket) fail(conn *websocket.Conn, err error) {
	select {
	case <-s.readerDone:
		// The app closed first: its close is what ended the socket.
	default:
		s.setErr(err)
		s.log.Warn("websocket ended", "url", s.cfg.URL, "err", err)
	}
	_ = conn.Close()
}

func (s *Socket) dial() (*websocket.Conn, error) {
	d := websocket.Dialer{
		HandshakeTimeout: s.cfg.DialTimeout,
		TLSClientConfig:  s.cfg.TLS,
		Subprotocols:     s.cfg.Subprotocols,
		// Reading goes through a small buffer (a message of any size is
		// still read whole); gorilla's write buffer is never used, as the
		// socket frames its own messages, so none is allocated.
		ReadBufferSize:  512,
		WriteBufferPool: unusedPool{},
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var nd net.Dialer
			c, err := nd.DialContext(ctx, network, addr)
			if tc, ok := c.(*net.TCPConn); ok {
				// A small send buffer makes an app that stops reading show
				// up as a blocked write within seconds, not minutes.
				_ = tc.SetWriteBuffer(sendBuffer)
				_ = tc.SetNoDelay(true)
			}
			return c, err
		},
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.DialTimeout)
	defer cancel()
	conn, resp, err := d.DialContext(ctx, s.cfg.URL, s.cfg.Header)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("%w: %s: HTTP %d: %w", ErrDial, s.cfg.URL, resp.StatusCode, err)
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrDial, s.cfg.URL, err)
	}
	return conn, nil
}

// unusedPool stands for gorilla/websocket's write buffer pool: with a pool
// set, it allocates a write buffer only when its own writer is used, which
// the socket never does.
type unusedPool struct{}

func (unusedPool) Get() any { return nil }
func (unusedPool) Put(any)  {}

// readLoop reads the app's messages until the connection ends.
func (s *Socket) readLoop(conn *websocket.Conn) {
	defer s.q.ring() // the writer notices the reader has ended
	defer close(s.readerDone)
	var m AppMessage
	var buf []byte
	for {
		kind, data, err := readMessage(conn, buf[:0])
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				s.mu.Lock()
				s.code, s.reason = ce.Code, ce.Text
				s.mu.Unlock()
			} else if !s.closing.Load() {
				s.setErr(fmt.Errorf("websocket read: %w", err))
			}
			s.closing.Store(true)
			s.q.closeNow()
			return
		}
		s.recv.Add(1)
		s.lastHeard.Store(time.Now().UnixNano())
		s.handle(kind, data, &m)
		// Keep the buffer for the next message, unless a burst grew it.
		if cap(data) <= keepReadBuffer {
			buf = data
		} else {
			buf = nil
		}
	}
}

// keepReadBuffer is the largest read buffer a socket keeps between messages.
const keepReadBuffer = 64 << 10

// readMessage reads the next data message into dst (grown as needed), so a
// steady flow of messages reuses one buffer. Nothing the handlers keep may
// point into it: decoded audio and strings are copies.
func readMessage(conn *websocket.Conn, dst []byte) (int, []byte, error) {
	kind, r, err := conn.NextReader()
	if err != nil {
		return 0, nil, err
	}
	if cap(dst) == 0 {
		dst = make([]byte, 0, 512)
	}
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return kind, dst, nil
		}
		if err != nil {
			return 0, nil, err
		}
	}
}

func (s *Socket) handle(kind int, data []byte, m *AppMessage) {
	if kind == websocket.BinaryMessage {
		if s.cfg.OnMessage != nil && s.cfg.OnMessage(data, true, nil, nil) {
			return
		}
		// A binary frame is raw µ-law audio.
		if s.cfg.Playout != nil {
			s.cfg.Playout.Write(data)
		}
		return
	}
	err := s.cfg.Dialect.Decode(data, m)
	if s.cfg.OnMessage != nil {
		var mp *AppMessage
		if err == nil {
			mp = m
		}
		if s.cfg.OnMessage(data, false, mp, err) {
			return
		}
	}
	if err != nil {
		s.bad.Add(1)
		s.warn("invalid message from app", "err", err)
		return
	}
	switch m.Kind {
	case MsgMedia:
		if s.cfg.Playout == nil {
			s.log.Debug("app audio on a unidirectional stream ignored")
			return
		}
		s.cfg.Playout.Write(m.Payload)
	case MsgClear:
		if s.cfg.Playout != nil {
			s.cfg.Playout.Clear()
		}
	case MsgMark:
		if _, ok := s.cfg.Dialect.AppendMark(nil, 0, &Info{}, ""); !ok || s.cfg.Playout == nil {
			s.log.Debug("mark from app ignored", "name", m.Name)
			return
		}
		s.cfg.Playout.Mark(m.Name)
	default:
		s.bad.Add(1)
		s.warn("unknown message from app", "event", m.Event)
	}
}

// warn logs at most one warning a second; the others are counted and the
// count is reported with the next one.
func (s *Socket) warn(msg string, args ...any) {
	now := time.Now().UnixNano()
	last := s.lastWarn.Load()
	if now-last < int64(time.Second) || !s.lastWarn.CompareAndSwap(last, now) {
		s.warnSkipped.Add(1)
		return
	}
	if n := s.warnSkipped.Swap(0); n > 0 {
		args = append(args, "suppressed", n)
	}
	s.log.Warn(msg, args...)
}

// finish runs once when the writer ends: waits for the reader, reports.
func (s *Socket) finish() {
	s.open.Store(false)
	s.closing.Store(true)
	s.q.closeNow()
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	if c != nil {
		<-s.readerDone
	}
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
