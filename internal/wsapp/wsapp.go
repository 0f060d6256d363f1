// Package wsapp is a real WebSocket app server for the demo, the load
// generator and tests: it accepts the gateway's stream connections, records
// every message with its arrival time, and can talk back (echo audio, send
// messages, stop reading, close).
package wsapp

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Message is one message received from the gateway.
type Message struct {
	Binary bool
	Data   []byte
	At     time.Time
}

// Event is the generic shape of a stream message, enough to check every
// dialect's fields.
type Event struct {
	Event          string          `json:"event"`
	SequenceNumber json.RawMessage `json:"sequenceNumber"`
	StreamSid      string          `json:"streamSid"`
	Protocol       string          `json:"protocol"`
	Version        string          `json:"version"`
	Start          json.RawMessage `json:"start"`
	Media          *struct {
		Track     string          `json:"track"`
		Tag       string          `json:"tag"`
		Chunk     json.RawMessage `json:"chunk"`
		Timestamp json.RawMessage `json:"timestamp"`
		Payload   string          `json:"payload"`
	} `json:"media"`
	Stop json.RawMessage `json:"stop"`
	DTMF *struct {
		Track string `json:"track"`
		Digit string `json:"digit"`
	} `json:"dtmf"`
	Mark *struct {
		Name string `json:"name"`
	} `json:"mark"`
}

// Parse decodes a text message as an Event.
func (m Message) Parse() (Event, error) {
	var e Event
	if m.Binary {
		return e, errors.New("binary message")
	}
	err := json.Unmarshal(m.Data, &e)
	return e, err
}

// Payload returns the decoded media payload of a media event.
func (e Event) Payload() ([]byte, error) {
	if e.Media == nil {
		return nil, errors.New("not a media event")
	}
	return base64.StdEncoding.DecodeString(e.Media.Payload)
}

// Audio returns the payloads of the media messages on track (any track
// when empty) among msgs, joined in order, and how many messages they
// were, whatever the dialect; a media message whose payload does not
// decode is an error.
func Audio(msgs []Message, track string) ([]byte, int, error) {
	var audio []byte
	n := 0
	for i, m := range msgs {
		ev, err := m.Parse()
		if err != nil || ev.Event != "media" || (track != "" && ev.Media != nil && ev.Media.Track != track) {
			continue
		}
		p, err := ev.Payload()
		if err != nil {
			return audio, n, fmt.Errorf("message %d: media payload: %w", i, err)
		}
		audio = append(audio, p...)
		n++
	}
	return audio, n, nil
}

// Options configure a Server.
type Options struct {
	// Handler runs for every accepted connection in its own goroutine after
	// the connection is registered; when nil, connections are only recorded.
	Handler func(c *Conn)
	// Refuse makes the server answer every upgrade with this HTTP status.
	Refuse int
	// AdmitUpgrade, when set, runs before each upgrade: a non-zero status
	// refuses the upgrade with that status (e.g. a bad signature).
	AdmitUpgrade func(r *http.Request) int
	// Subprotocols accepted.
	Subprotocols []string
	// HTTP, when set, answers plain HTTP requests (not WebSocket upgrades),
	// so one server can be both the FlexML app and the WebSocket app.
	HTTP http.Handler
	// TLS, when set, makes the server listen over TLS (wss://).
	TLS *tls.Config
	// Addr is the address to listen on (default 127.0.0.1 with a free
	// port); a server restarted on the address of one closed is the same
	// app come back.
	Addr string
}

// Server is a WebSocket app listening on a loopback port.
type Server struct {
	scheme string // ws or wss
	opts   Options
	ln     net.Listener
	srv    *http.Server
	conns  chan *Conn
	mu     sync.Mutex
	all    []*Conn
	wg     sync.WaitGroup
	up     websocket.Upgrader
}

// Listen starts a server on opts.Addr, by default on 127.0.0.1 with a free port.
func Listen(opts Options) (*Server, error) {
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("wsapp listen: %w", err)
	}
	s := &Server{opts: opts, ln: ln, conns: make(chan *Conn, 1024), scheme: "ws"}
	serveLn := ln
	if opts.TLS != nil {
		serveLn, s.scheme = tls.NewListener(ln, opts.TLS), "wss"
	}
	s.up = websocket.Upgrader{Subprotocols: opts.Subprotocols, CheckOrigin: func(*http.Request) bool { return true }}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: 5 * time.Second}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.srv.Serve(serveLn)
	}()
	return s, nil
}

// URL returns ws://host:port + path (wss:// over TLS).
func (s *Server) URL(path string) string { return s.scheme + "://" + s.ln.Addr().String() + path }

// Addr returns the listening address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if s.opts.HTTP != nil && !websocket.IsWebSocketUpgrade(r) {
		s.opts.HTTP.ServeHTTP(w, r)
		return
	}
	if s.opts.AdmitUpgrade != nil {
		if code := s.opts.AdmitUpgrade(r); code != 0 {
			http.Error(w, http.StatusText(code), code)
			return
		}
	}
	if s.opts.Refuse != 0 {
		http.Error(w, "refused", s.opts.Refuse)
		return
	}
	ws, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	c := &Conn{
		Path:    r.URL.Path,
		Header:  r.Header.Clone(),
		ws:      ws,
		arrived: make(chan struct{}),
		closed:  make(chan struct{}),
		read:    make(chan struct{}),
	}
	close(c.read)
	s.mu.Lock()
	s.all = append(s.all, c)
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		c.readLoop()
	}()
	select {
	case s.conns <- c:
	default:
	}
	if s.opts.Handler != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.opts.Handler(c)
		}()
	}
}

// Accept returns the next connection.
func (s *Server) Accept(ctx context.Context) (*Conn, error) {
	select {
	case c := <-s.conns:
		return c, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("wsapp: no connection: %w", ctx.Err())
	}
}

// Conns returns every connection accepted so far.
func (s *Server) Conns() []*Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Conn(nil), s.all...)
}

// Close closes the listener and every connection and waits for the
// server's goroutines.
func (s *Server) Close() error {
	err := s.srv.Close()
	for _, c := range s.Conns() {
		c.Abort()
	}
	s.wg.Wait()
	return err
}

// Conn is one accepted connection.
type Conn struct {
	Path   string
	Header http.Header
	ws     *websocket.Conn

	wmu sync.Mutex // one writer at a time

	mu        sync.Mutex
	msgs      []Message
	arrived   chan struct{} // closed and replaced when a message arrives
	closed    chan struct{}
	closeCode int
	closeText string
	err       error

	pauseMu sync.Mutex
	read    chan struct{} // closed while reading is allowed
	onMsg   atomic.Pointer[func(m Message)]
}

// OnMessage makes fn see each message as it arrives, in the read goroutine
// (e.g. set by Options.Handler). Safe to call at any time.
func (c *Conn) OnMessage(fn func(m Message)) { c.onMsg.Store(&fn) }

func (c *Conn) readLoop() {
	defer close(c.closed)
	for {
		c.pauseMu.Lock()
		gate := c.read
		c.pauseMu.Unlock()
		<-gate
		kind, data, err := c.ws.ReadMessage()
		if err != nil {
			c.mu.Lock()
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				c.closeCode, c.closeText = ce.Code, ce.Text
			} else {
				c.err = err
			}
			c.mu.Unlock()
			_ = c.ws.Close()
			return
		}
		m := Message{Binary: kind == websocket.BinaryMessage, Data: data, At: time.Now()}
		c.mu.Lock()
		c.msgs = append(c.msgs, m)
		c.mu.Unlock()
		if fn := c.onMsg.Load(); fn != nil {
			(*fn)(m)
		}
		c.mu.Lock() // waiters wake once OnMessage's fn has seen m
		close(c.arrived)
		c.arrived = make(chan struct{})
		c.mu.Unlock()
	}
}

// Messages returns a copy of what was received so far.
func (c *Conn) Messages() []Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Message(nil), c.msgs...)
}

// MediaCount returns how many media messages (any dialect's
// "event":"media") were received so far.
func (c *Conn) MediaCount() int {
	c.mu.Lock()
	msgs := c.msgs[:len(c.msgs):len(c.msgs)]
	c.mu.Unlock()
	return mediaIn(msgs)
}

// mediaIn counts the media messages among msgs.
func mediaIn(msgs []Message) int {
	n := 0
	for _, m := range msgs {
		if bytes.Contains(m.Data, []byte(`"event":"media"`)) {
			n++
		}
	}
	return n
}

// Events parses every text message received so far.
func (c *Conn) Events() ([]Event, error) {
	var out []Event
	for i, m := range c.Messages() {
		if m.Binary {
			continue
		}
		e, err := m.Parse()
		if err != nil {
			return out, fmt.Errorf("message %d %q: %w", i, m.Data, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// WaitFor waits until at least n messages arrived.
func (c *Conn) WaitFor(ctx context.Context, n int) error {
	got, err := c.wait(ctx, func(msgs []Message) bool { return len(msgs) >= n })
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("wsapp: %d messages, waiting for %d: %w", got, n, err)
	default:
		return fmt.Errorf("wsapp: connection closed after %d messages, waiting for %d", got, n)
	}
}

// WaitMedia waits until at least n media messages (any dialect's
// "event":"media") arrived.
func (c *Conn) WaitMedia(ctx context.Context, n int) error {
	return c.WaitUntil(ctx, fmt.Sprintf("%d media messages", n), func(msgs []Message) bool { return mediaIn(msgs) >= n })
}

// WaitAudio waits until the audio of the media messages on track (any
// track when empty) received so far contains audio.
func (c *Conn) WaitAudio(ctx context.Context, track string, audio []byte) error {
	return c.WaitUntil(ctx, fmt.Sprintf("%d bytes of audio", len(audio)), func(msgs []Message) bool {
		got, _, err := Audio(msgs, track)
		return err == nil && bytes.Contains(got, audio)
	})
}

// WaitUntil waits until cond holds for the messages received so far,
// checking it now and after every message; what names the condition in
// the error when the connection closes or ctx ends first. cond must not
// change msgs.
func (c *Conn) WaitUntil(ctx context.Context, what string, cond func(msgs []Message) bool) error {
	got, err := c.wait(ctx, cond)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("wsapp: no %s after %d messages: %w", what, got, err)
	default:
		return fmt.Errorf("wsapp: connection closed after %d messages without %s", got, what)
	}
}

// wait waits until cond holds, the connection has closed (errClosed) or
// ctx ends; it returns how many messages had arrived.
func (c *Conn) wait(ctx context.Context, cond func(msgs []Message) bool) (int, error) {
	for {
		c.mu.Lock()
		msgs := c.msgs[:len(c.msgs):len(c.msgs)] // append-only: safe to read unlocked
		arrived := c.arrived
		c.mu.Unlock()
		if cond(msgs) {
			return len(msgs), nil
		}
		select {
		case <-arrived:
		case <-c.closed:
			c.mu.Lock()
			msgs = c.msgs[:len(c.msgs):len(c.msgs)]
			c.mu.Unlock()
			if cond(msgs) {
				return len(msgs), nil
			}
			return len(msgs), errClosed
		case <-ctx.Done():
			return len(msgs), ctx.Err()
		}
	}
}

// errClosed is wait's error when the connection closed first.
var errClosed = errors.New("connection closed")

// Closed is closed when the connection has ended.
func (c *Conn) Closed() <-chan struct{} { return c.closed }

// CloseStatus returns the close code and text the gateway sent (0 if none).
func (c *Conn) CloseStatus() (int, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeCode, c.closeText
}

// SendText sends a text message.
func (c *Conn) SendText(s string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.ws.WriteMessage(websocket.TextMessage, []byte(s))
}

// SendBinary sends a binary message.
func (c *Conn) SendBinary(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.ws.WriteMessage(websocket.BinaryMessage, b)
}

// Repeated returns a reader of n bytes b, made as they are read: the body
// of a message too big to hold, for SendFrom.
func Repeated(b byte, n int64) io.Reader { return io.LimitReader(repeat(b), n) }

// repeat is an endless reader of one byte.
type repeat byte

// Read fills p with the byte.
func (r repeat) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(r)
	}
	return len(p), nil
}

// SendFrom sends one message whose body is read from r, in pieces: a
// message of any size costs the app no more memory than a copy buffer.
func (c *Conn) SendFrom(binary bool, r io.Reader) error {
	kind := websocket.TextMessage
	if binary {
		kind = websocket.BinaryMessage
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	w, err := c.ws.NextWriter(kind)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, r); err != nil {
		_ = w.Close()
		return err
	}
	return w.Close()
}

// SendJSON sends v as a JSON text message.
func (c *Conn) SendJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.SendText(string(b))
}

// SendMedia sends µ-law audio as a media message {"event":"media","media":{"payload":...}}.
func (c *Conn) SendMedia(ulaw []byte) error {
	return c.SendJSON(map[string]any{"event": "media", "media": map[string]string{"payload": base64.StdEncoding.EncodeToString(ulaw)}})
}

// PauseReading stops reading from the socket (the gateway's writes then back
// up in TCP buffers); ResumeReading starts again.
func (c *Conn) PauseReading() {
	c.pauseMu.Lock()
	c.read = make(chan struct{})
	c.pauseMu.Unlock()
}

// ResumeReading undoes PauseReading.
func (c *Conn) ResumeReading() {
	c.pauseMu.Lock()
	select {
	case <-c.read:
	default:
		close(c.read)
	}
	c.pauseMu.Unlock()
}

// Close sends a close frame with code and reason and waits (up to 2 s) for
// the gateway's answer.
func (c *Conn) Close(code int, reason string) error {
	c.wmu.Lock()
	err := c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	c.wmu.Unlock()
	select {
	case <-c.closed:
	case <-time.After(2 * time.Second):
		_ = c.ws.Close()
	}
	return err
}

// Abort drops the TCP connection without a close frame.
func (c *Conn) Abort() {
	c.ResumeReading()
	_ = c.ws.Close()
}
