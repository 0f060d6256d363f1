package stream

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"time"
)

// The socket writes its WebSocket frames itself rather than through
// gorilla/websocket's writer: each frame is built in the writer's own buffer
// (no allocation per message), and the frames the writer finds queued are
// written together with one write(). gorilla/websocket still does the
// handshake and all reading.

// WebSocket opcodes (RFC 6455 §5.2).
const (
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	opPing   = 0x9
	opPong   = 0xA
)

// hdrRoom is the room kept before a message's body for the longest frame
// header: 2 bytes, 8 of extended length, 4 of masking key.
const hdrRoom = 14

// frameAt turns b[hdrRoom:] into a complete frame of opcode op: it writes the
// header just before the body and masks the body in place when the socket is
// the client. It returns the frame (a subslice of b).
func frameAt(b []byte, op byte, mask bool) []byte {
	body := b[hdrRoom:]
	n := len(body)
	var h [hdrRoom]byte
	h[0] = 0x80 | op // FIN
	hl := 2
	switch {
	case n < 126:
		h[1] = byte(n)
	case n <= 0xFFFF:
		h[1] = 126
		binary.BigEndian.PutUint16(h[2:], uint16(n))
		hl = 4
	default:
		h[1] = 127
		binary.BigEndian.PutUint64(h[2:], uint64(n))
		hl = 10
	}
	if mask {
		h[1] |= 0x80
		key := rand.Uint32()
		binary.LittleEndian.PutUint32(h[hl:], key)
		hl += 4
		maskBody(body, key)
	}
	start := hdrRoom - hl
	copy(b[start:hdrRoom], h[:hl])
	return b[start:]
}

// maskBody XORs p with the 4-byte masking key k (its bytes in wire order,
// read little-endian), eight bytes at a time.
func maskBody(p []byte, k uint32) {
	k8 := uint64(k) | uint64(k)<<32
	i := 0
	for ; i+8 <= len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], binary.LittleEndian.Uint64(p[i:])^k8)
	}
	for j := 0; i < len(p); i, j = i+1, j+1 {
		p[i] ^= byte(k >> (8 * (j & 3)))
	}
}

// connWriter is the write side of one connection: the socket's writer
// goroutine, and the reader for its pong and close replies, write through it
// holding the socket's wmu.
type connWriter struct {
	nc       net.Conn
	mask     bool // the socket is the client: frames are masked
	timeout  time.Duration
	deadline time.Time // the write deadline last set
	wroteAt  int64     // unix nanos of the last write
	err      error     // the write that failed
	closed   bool      // a close frame went out (or a write failed): nothing more is written
}

func newConnWriter(nc net.Conn, mask bool, timeout time.Duration) *connWriter {
	return &connWriter{nc: nc, mask: mask, timeout: timeout}
}

// write writes frames (one or more whole frames), blocking until they are
// written or the write deadline passes.
func (w *connWriter) write(frame []byte) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return net.ErrClosed
	}
	now := time.Now()
	w.wroteAt = now.UnixNano()
	if now.Sub(w.deadline) > -w.timeout+time.Second {
		// Refresh the deadline at most every second: an app that reads
		// nothing for the timeout makes the write fail.
		w.deadline = now.Add(w.timeout)
		_ = w.nc.SetWriteDeadline(w.deadline)
	}
	if _, err := w.nc.Write(frame); err != nil {
		return w.fail(err)
	}
	return nil
}

func (w *connWriter) fail(err error) error {
	w.closed = true
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		w.err = fmt.Errorf("%w for %s: %w", ErrWriteTimeout, w.timeout, err)
	} else {
		w.err = fmt.Errorf("websocket write: %w", err)
	}
	return w.err
}

// control writes a control frame (ping, pong, close) with payload p (at most
// 125 bytes), blocking.
func (w *connWriter) control(op byte, p []byte) error {
	var b [hdrRoom + 125]byte
	n := copy(b[hdrRoom:], p)
	return w.write(frameAt(b[:hdrRoom+n], op, w.mask))
}

// closeFrame writes a close frame with a short deadline; nothing is written
// after it.
func (w *connWriter) closeFrame(msg []byte) error {
	_ = w.nc.SetWriteDeadline(time.Now().Add(time.Second))
	var b [hdrRoom + 125]byte
	n := copy(b[hdrRoom:], msg)
	frame := frameAt(b[:hdrRoom+n], opClose, w.mask)
	err := error(nil)
	if w.err == nil && !w.closed {
		_, err = w.nc.Write(frame)
	}
	w.closed = true
	return err
}
