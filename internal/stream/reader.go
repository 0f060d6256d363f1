package stream

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/gorilla/websocket"

	"github.com/callstream/callstream/internal/limit"
	"github.com/callstream/callstream/internal/logsafe"
)

// errTooBig is readBounded's answer to a message over the bound.
var errTooBig = errors.New("message over the bound")

// readLoop reads the app's messages until the connection ends. Before each
// message it waits while the echoes the app's messages caused are still
// queued in number (see queue.waitEchoRoom): an app is read no faster than
// the gateway answers it.
func (s *Socket) readLoop(l *link) {
	defer s.q.ring() // the writer notices the reader has ended
	defer close(l.readerDone)
	var m AppMessage
	var buf []byte
	for {
		s.q.waitEchoRoom(&l.ended)
		kind, r, err := l.conn.NextReader()
		if err != nil {
			s.readFailed(l, err)
			return
		}
		data, err := readBounded(r, buf[:0], s.cfg.MaxMessage)
		if errors.Is(err, errTooBig) {
			s.messageTooBig(l, r)
			return
		}
		if err != nil {
			s.readFailed(l, err)
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

// readFailed records what ended the reader: a close frame from the app, or
// a read error (a connection that ended without a close frame is one).
func (s *Socket) readFailed(l *link, err error) {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		s.mu.Lock()
		s.code, s.reason = ce.Code, ce.Text
		s.mu.Unlock()
		if ce.Code != websocket.CloseAbnormalClosure {
			l.closeFrame = true
			l.closing.Store(true)
			return
		}
	}
	if !l.closing.Load() {
		l.readErr = fmt.Errorf("websocket read: %w", err)
	}
	l.closing.Store(true)
}

// keepReadBuffer is the largest read buffer a socket keeps between messages.
const keepReadBuffer = 64 << 10

// readBounded reads the rest of a message from r into dst (grown as
// needed), so a steady flow of messages reuses one buffer. With a positive
// bound it reads at most bound+1 bytes: a longer message returns errTooBig
// and the rest is left unread. Nothing the handlers keep may point into the
// buffer: decoded audio and strings are copies.
func readBounded(r io.Reader, dst []byte, bound int64) ([]byte, error) {
	if cap(dst) == 0 {
		dst = make([]byte, 0, 512)
	}
	for {
		if len(dst) == cap(dst) {
			if bound > 0 && int64(len(dst)) > bound {
				return dst, errTooBig
			}
			size := 2 * cap(dst)
			if bound > 0 && int64(size) > bound+1 {
				size = int(bound + 1)
			}
			next := make([]byte, len(dst), size)
			copy(next, dst)
			dst = next
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if bound > 0 && int64(len(dst)) > bound {
			return dst, errTooBig
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// messageTooBig ends the socket after the app sent a message over the
// bound: the rest of it is never held. The close frame (1009) goes through
// the writer like every frame; meanwhile the reader reads on for at most
// closeWait, keeping nothing, so the app's close reply can come in.
func (s *Socket) messageTooBig(l *link, r io.Reader) {
	s.tooBig.Store(true)
	s.setErr(fmt.Errorf("%w: over %d bytes", ErrMessageTooBig, s.cfg.MaxMessage))
	limit.Count(s.cfg.Refusals, limit.WSMessageTooBig)
	s.log.Warn("app message too big: websocket closed with 1009",
		"max_message_bytes", s.cfg.MaxMessage)
	s.mu.Lock()
	s.code, s.reason = websocket.CloseMessageTooBig, "message too big"
	s.mu.Unlock()
	l.closing.Store(true)
	s.BeginClose(websocket.CloseMessageTooBig, "message too big")
	_ = l.conn.SetReadDeadline(time.Now().Add(closeWait))
	_, _ = io.Copy(io.Discard, r)
	for {
		_, r, err := l.conn.NextReader()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure {
				l.closeFrame = true
			}
			return
		}
		_, _ = io.Copy(io.Discard, r)
	}
}

func (s *Socket) handle(kind int, data []byte, m *AppMessage) {
	if kind == websocket.BinaryMessage {
		if s.cfg.OnMessage != nil && s.cfg.OnMessage(data, true, nil, nil) {
			return
		}
		// A binary frame is raw audio in the stream's wire format.
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
		s.warnBad.Log("invalid message from app", "err", err)
		return
	}
	if s.foreign(m, data) {
		s.bad.Add(1) // ignored, and said so once
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
		if early := s.cfg.Playout.Mark(m.Name); early > 0 {
			s.marksEarly.Add(uint64(early))
			for range early {
				limit.Count(s.cfg.Refusals, limit.MarksPending)
			}
			s.warnMarks.Log("mark answered before its audio played: too many marks pending",
				"max_pending_marks", s.cfg.Playout.markLimit(), "answered_early_total", s.marksEarly.Load())
		}
	default:
		s.bad.Add(1)
		s.warnBad.Log("unknown message from app", "event", logsafe.Cut(m.Event, 64))
	}
}
