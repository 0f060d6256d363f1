package stream

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/callstream/callstream/internal/logsafe"
)

// link is one connection of a socket: the first, or one opened again after
// a drop. Its reader goroutine reads the app's messages; the socket's writer
// writes through w.
type link struct {
	conn       *websocket.Conn
	w          *connWriter
	readerDone chan struct{} // closed when the reader has returned
	ended      atomic.Bool   // the writer is done with the connection
	closing    atomic.Bool   // a close frame went out or came in: read errors are expected
	// Set by the reader before readerDone is closed.
	closeFrame bool  // the app sent a close frame
	readErr    error // the read error that ended the reader, when not a close frame
}

// run is the socket's first goroutine: it connects (unless the config
// brings a connection) and hands over to serve.
func (s *Socket) run() {
	conn := s.cfg.Conn
	if conn == nil {
		var err error
		conn, err = s.dial(s.ctx, s.cfg.DialTimeout)
		if err != nil {
			s.setErr(err)
			s.finish()
			s.end()
			return
		}
		// The handshake grew this goroutine's stack; the writer runs for
		// the whole stream, so it goes on in a fresh goroutine with a
		// small one.
		go s.serve(conn, true)
		return
	}
	s.serve(conn, true)
}

// serve runs one connection until it ends. A connection that dropped is
// dialled again (see reconnect); the next connection is served by a fresh
// goroutine, for the same reason as in run.
func (s *Socket) serve(conn *websocket.Conn, first bool) {
	if drop := s.runLink(conn, first); drop != nil {
		if next := s.reconnect(drop); next != nil {
			go s.serve(next, false)
			return
		}
	}
	s.finish()
	s.end()
}

// runLink writes queued items on conn until a close item, a write error,
// the app closing or the connection breaking. It waits on one channel, the
// queue's doorbell: the reader ending, the socket being cancelled and the
// ping timer ring it too, so a frame costs one wake-up and no select. It
// returns the error that dropped the connection when a reconnect may
// follow, nil when the socket is done (what ended it is recorded).
func (s *Socket) runLink(conn *websocket.Conn, first bool) (drop error) {
	l := &link{conn: conn, readerDone: make(chan struct{})}
	w := newConnWriter(conn.NetConn(), s.cfg.Conn == nil, s.cfg.WriteTimeout)
	l.w = w
	s.mu.Lock()
	s.link = l
	s.mu.Unlock()
	s.mask = w.mask
	if s.wbuf == nil {
		s.wbuf = make([]byte, hdrRoom, 512)
	}
	s.batch, s.batched = s.batch[:0], 0
	defer func() {
		s.stopLink(l)
		s.mu.Lock()
		s.link = nil
		s.mu.Unlock()
		if drop != nil && !s.mayReconnect() {
			s.dropped(l, drop)
			drop = nil
		}
	}()
	s.open.Store(true)
	if first {
		s.connectMs.Store(time.Since(s.started).Milliseconds())
	}
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
		l.closing.Store(true)
		s.wmu.Lock()
		if !w.closed {
			_ = w.closeFrame(websocket.FormatCloseMessage(code, ""))
		}
		s.wmu.Unlock()
		return nil
	})
	go s.readLoop(l)
	if first && s.cfg.OnOpen != nil {
		s.cfg.OnOpen()
	}
	if s.cfg.Info != nil {
		if b, ok := s.cfg.Dialect.AppendConnected(s.wbuf[:hdrRoom], s.cfg.Info); ok {
			s.addLocked(b, opText)
		}
	}
	if !first {
		s.resume()
	}
	if err := s.flush(w); err != nil {
		return s.writeFailed(l, err)
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
				return s.writeFailed(l, err)
			}
			select {
			case <-l.readerDone:
				// The app closed or the connection broke.
				return s.readEnded(l)
			default:
			}
			if s.ctx.Err() != nil {
				return nil
			}
			if pingDue.Swap(false) {
				if silent := time.Since(time.Unix(0, s.lastHeard.Load())); silent > s.cfg.WriteTimeout {
					return s.writeFailed(l, fmt.Errorf("%w: nothing read for %s", ErrWriteTimeout, silent.Round(time.Millisecond)))
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
				return s.writeFailed(l, err)
			}
			l.closing.Store(true)
			s.wmu.Lock()
			if err := w.closeFrame(websocket.FormatCloseMessage(it.code, it.text)); err != nil {
				s.log.Debug("websocket close frame not sent", "err", err)
			}
			s.wmu.Unlock()
			// Wait for the app to answer the close, then release.
			t := time.NewTimer(closeWait)
			select {
			case <-l.readerDone:
			case <-t.C:
			case <-s.ctx.Done():
			}
			t.Stop()
			return nil
		}
		s.addItem(&it)
		if len(s.batch) >= maxBatch {
			if err := s.flush(w); err != nil {
				return s.writeFailed(l, err)
			}
		}
	}
}

// readEnded classifies the end of the reader: a close frame from the app
// or the gateway closing ends the socket; anything else is a drop.
func (s *Socket) readEnded(l *link) error {
	if l.closeFrame {
		return nil
	}
	return l.readErr // nil when the reader ended after the gateway's close frame
}

// writeFailed classifies a write error: after the app's close frame it is
// expected; otherwise it is a drop.
func (s *Socket) writeFailed(l *link, err error) error {
	s.stopLink(l) // the reader ends too: it tells whether a close frame came
	if l.closeFrame {
		return nil
	}
	return err
}

// stopLink closes the connection and waits for its reader.
func (s *Socket) stopLink(l *link) {
	s.open.Store(false)
	l.ended.Store(true)
	s.q.kick()
	_ = l.conn.Close()
	<-l.readerDone
}

// mayReconnect reports whether a drop is dialled again.
func (s *Socket) mayReconnect() bool {
	return s.cfg.Reconnect > 0 && !s.ending.Load() && s.ctx.Err() == nil
}

// dropped records a drop that ends the socket.
func (s *Socket) dropped(l *link, err error) {
	s.setErr(err)
	s.log.Warn("websocket ended", "err", err)
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
			s.replay.stamp(w.wroteAt)
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
		payload, ok := s.convert(f, it.track, it.format, it.payload[:it.n])
		if !ok {
			return
		}
		chunk := f.chunk(it.slot)
		s.replay.add(f, it.track, it.slot, chunk, payload)
		s.addLocked(s.media(f, it.track, it.slot, chunk, payload, false), opText)
		return
	case itemStart:
		b = s.cfg.Dialect.AppendStart(s.wbuf[:hdrRoom], f.seq, &f.cfg.Info)
		f.seq++
		f.startSent = true
	case itemStop:
		st := StopInfo{BytesSent: f.bytesSent, DurationMs: f.frames * uint64(FrameDuration/time.Millisecond)}
		if f.cfg.Tracks != 0 {
			st.DurationMs /= uint64(len(f.cfg.Tracks.Tracks()))
		}
		b = s.cfg.Dialect.AppendStop(s.wbuf[:hdrRoom], f.seq, &f.cfg.Info, &st)
		f.seq++
		f.stopSent = true
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

// media encodes one media message of flow f, its payload already in the
// flow's wire format, into the writer's buffer (b[hdrRoom:], see frameAt)
// and counts it. A replayed frame was counted in the flow's figures when
// first sent.
func (s *Socket) media(f *Flow, t Track, slot, chunk uint64, payload []byte, replayed bool) []byte {
	s.m = Media{Track: t, Chunk: chunk, Timestamp: f.timestamp(slot), Payload: payload}
	b := s.cfg.Dialect.AppendMedia(s.wbuf[:hdrRoom], f.seq, &f.cfg.Info, &s.m)
	s.m.Payload = nil
	f.seq++
	if !replayed {
		f.bytesSent += uint64(len(payload))
		f.frames++
	}
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

// dial opens a connection to the app within timeout (ctx cancels it).
func (s *Socket) dial(ctx context.Context, timeout time.Duration) (*websocket.Conn, error) {
	// gorilla stops watching ctx once the TCP connection is up; closing
	// the connection is what ends a handshake the app never answers when
	// the socket is aborted meanwhile.
	var (
		rawMu sync.Mutex
		raw   net.Conn
	)
	stop := context.AfterFunc(ctx, func() {
		rawMu.Lock()
		defer rawMu.Unlock()
		if raw != nil {
			_ = raw.Close()
		}
	})
	defer stop()
	d := websocket.Dialer{
		HandshakeTimeout: timeout,
		TLSClientConfig:  s.cfg.TLS,
		Subprotocols:     s.cfg.Subprotocols,
		// Reading goes through a small buffer; gorilla's write buffer is
		// never used, as the socket frames its own messages, so none is
		// allocated.
		ReadBufferSize:  512,
		WriteBufferPool: unusedPool{},
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dial := s.cfg.NetDialContext
			if dial == nil {
				var nd net.Dialer
				dial = nd.DialContext
			}
			c, err := dial(ctx, network, addr)
			if c != nil {
				rawMu.Lock()
				raw = c
				rawMu.Unlock()
			}
			if tc, ok := c.(*net.TCPConn); ok {
				// A small send buffer makes an app that stops reading show
				// up as a blocked write within seconds, not minutes.
				_ = tc.SetWriteBuffer(sendBuffer)
				_ = tc.SetNoDelay(true)
			}
			return c, err
		},
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, resp, err := d.DialContext(ctx, s.cfg.URL, s.cfg.Header)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("%w: %s: HTTP %d: %w", ErrDial, logsafe.URL(s.cfg.URL), resp.StatusCode, err)
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrDial, logsafe.URL(s.cfg.URL), err)
	}
	return conn, nil
}

// unusedPool stands for gorilla/websocket's write buffer pool: with a pool
// set, it allocates a write buffer only when its own writer is used, which
// the socket never does.
type unusedPool struct{}

func (unusedPool) Get() any { return nil }
func (unusedPool) Put(any)  {}
