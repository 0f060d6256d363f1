package rtpio

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"sync/atomic"

	"github.com/pion/rtp"
)

const (
	// frameSamples is the length of one 20 ms frame: samples at 8 kHz, which
	// for G.711 is also its size in bytes.
	frameSamples = 160
	// maxPacket is the largest RTP datagram sent or accepted.
	maxPacket = 1500
	// headerSize is the size of the RTP header a Sender writes (no CSRC, no extension).
	headerSize = 12
)

// Sender writes the RTP packets of one outgoing stream; single goroutine use
// (SetRemote and SSRC excepted). SSRC, initial sequence number and initial
// timestamp are random (RFC 3550).
type Sender struct {
	conn   *Conn                          // borrowed; not closed by the Sender
	remote atomic.Pointer[netip.AddrPort] // nil until a valid remote is set
	ssrc   uint32

	// Owned by the writing goroutine.
	hdr   rtp.Header
	pt    uint8                             // the audio payload type
	ticks uint32                            // timestamp units of one 20 ms frame
	mark  bool                              // the next packet carries the marker bit
	buf   [headerSize + 2*frameSamples]byte // a 20 ms G.711 packet, with room to spare
	big   []byte                            // for a larger payload, allocated when first needed
}

// NewSender returns a Sender writing packets of payloadType from c to remote.
// remote may be the zero AddrPort and set later with SetRemote.
func NewSender(c *Conn, remote netip.AddrPort, payloadType uint8) *Sender {
	s := &Sender{
		conn:  c,
		ssrc:  rand.Uint32(),
		mark:  true,
		pt:    payloadType & 0x7f,
		ticks: frameSamples,
		hdr: rtp.Header{
			Version:        2,
			PayloadType:    payloadType & 0x7f,
			SequenceNumber: uint16(rand.Uint32()),
			Timestamp:      rand.Uint32(),
		},
	}
	s.hdr.SSRC = s.ssrc
	s.SetRemote(remote)
	return s
}

// SetRemote changes where packets go; the zero AddrPort stops sending (WriteFrame
// then returns ErrNoRemote). Safe to call from any goroutine.
func (s *Sender) SetRemote(remote netip.AddrPort) {
	if !remote.IsValid() {
		s.remote.Store(nil)
		return
	}
	r := netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	s.remote.Store(&r)
}

// SetFrameTicks makes one 20 ms frame advance the timestamp by ticks (the
// codec's clock rate / 50: 160 for G.711 and G.722, 960 for Opus); the
// default is 160. Call it before the first packet.
func (s *Sender) SetFrameTicks(ticks int) {
	if ticks > 0 {
		s.ticks = uint32(ticks)
	}
}

// WriteFrame sends payload as one 20 ms frame: the packet after it gets the
// sequence number plus 1 and the timestamp plus one frame's ticks (160 by
// default, see SetFrameTicks). The marker bit is set on
// the first packet and on the first one after MarkTalkspurt. It does not
// allocate.
//
// Without a remote it sends nothing, advances the timestamp as Skip(1) does
// and returns ErrNoRemote. If the socket write fails the frame still counts as
// sent (the peer sees it as lost).
func (s *Sender) WriteFrame(payload []byte) error {
	return s.write(s.pt, payload)
}

// WriteComfortNoise sends an RFC 3389 comfort noise packet of payload type
// pt with payload (the noise level, and optionally spectral parameters)
// in the place of one 20 ms frame: the timestamp moves on by one frame as
// for audio. The next audio packet carries the marker bit (a talkspurt
// starts). It does not allocate.
func (s *Sender) WriteComfortNoise(pt uint8, payload []byte) error {
	err := s.write(pt&0x7f, payload)
	s.mark = true
	return err
}

// WriteEvent sends an RFC 4733 telephone-event packet of payload type pt
// in the place of one 20 ms frame: it carries the timestamp start (where
// its event began, see Timestamp) and the marker bit when marker is set
// (the event's first packet); the timestamp of the frames that follow moves
// on by one frame as for audio. It does not allocate.
func (s *Sender) WriteEvent(pt uint8, start uint32, marker bool, payload []byte) error {
	next := s.hdr.Timestamp + s.ticks
	s.hdr.Timestamp = start
	err := s.send(pt&0x7f, marker, payload)
	s.hdr.Timestamp = next
	return err
}

// Timestamp returns the RTP timestamp the next frame gets.
func (s *Sender) Timestamp() uint32 { return s.hdr.Timestamp }

// write sends payload with payload type pt as one 20 ms frame.
func (s *Sender) write(pt uint8, payload []byte) error {
	err := s.send(pt, s.mark && pt == s.pt, payload)
	switch {
	case errors.Is(err, ErrPayloadTooLarge):
		return err
	case errors.Is(err, ErrNoRemote):
		// The frame counts as not sent: the marker waits for the next.
	default:
		s.mark = false
	}
	s.hdr.Timestamp += s.ticks
	return err
}

// send sends one packet with the header's timestamp, marker and payload
// type pt, and moves the sequence number on; without a remote it sends
// nothing and returns ErrNoRemote.
func (s *Sender) send(pt uint8, marker bool, payload []byte) error {
	if len(payload) > maxPacket-headerSize {
		return fmt.Errorf("%w: %d bytes", ErrPayloadTooLarge, len(payload))
	}
	remote := s.remote.Load()
	if remote == nil {
		return ErrNoRemote
	}
	s.hdr.Marker = marker
	s.hdr.PayloadType = pt
	buf := s.buf[:]
	if headerSize+len(payload) > len(buf) {
		if s.big == nil {
			s.big = make([]byte, maxPacket)
		}
		buf = s.big
	}
	n, err := s.hdr.MarshalTo(buf)
	if err != nil {
		return fmt.Errorf("rtpio: marshal header: %w", err)
	}
	n += copy(buf[n:], payload)
	s.hdr.SequenceNumber++
	if _, err := s.conn.uc.WriteToUDPAddrPort(buf[:n], *remote); err != nil {
		return fmt.Errorf("rtpio: send rtp: %w", err)
	}
	return nil
}

// Skip advances the timestamp by frames 20 ms frames that are not sent (for
// example silence that is suppressed); the sequence number is unchanged.
// Call MarkTalkspurt as well when sending resumes after a silence.
func (s *Sender) Skip(frames int) {
	s.hdr.Timestamp += uint32(frames) * s.ticks
}

// MarkTalkspurt sets the marker bit on the next packet sent.
func (s *Sender) MarkTalkspurt() { s.mark = true }

// SSRC returns the stream's synchronisation source identifier.
func (s *Sender) SSRC() uint32 { return s.ssrc }
