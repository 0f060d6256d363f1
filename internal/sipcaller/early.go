package sipcaller

import (
	"net"
	"sync"
	"time"

	"github.com/pion/rtp"
)

// maxEarlyPackets bounds the packets kept before the answer: ten minutes
// of 20 ms frames.
const maxEarlyPackets = 30000

// earlyMedia receives the RTP a gateway sends after a 183 with SDP and
// before the final response, on the call's own RTP socket, so the audio of
// early media is heard and kept; the call's receiver takes over once the
// call is answered.
type earlyMedia struct {
	conn *net.UDPConn // borrowed: the call's RTP socket
	wg   sync.WaitGroup

	mu      sync.Mutex
	sdp     []byte // the 183's SDP body; nil until one came
	started bool
	stopped bool
	packets []Packet
}

// progress takes a provisional response: the first 183 with an SDP body
// starts receiving.
func (e *earlyMedia) progress(code int, body []byte) {
	if code != 183 || len(body) == 0 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started || e.stopped {
		return
	}
	e.started = true
	e.sdp = append([]byte(nil), body...)
	e.wg.Add(1)
	go e.receive()
}

// receive keeps every RTP packet until stop.
func (e *earlyMedia) receive() {
	defer e.wg.Done()
	buf := make([]byte, 1500)
	oob := make([]byte, oobSize)
	stampArrivals(e.conn)
	for {
		n, oobn, _, _, err := e.conn.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			return // stop's deadline, or the socket closed
		}
		p, ok := parsePacket(buf[:n], arrivalOf(oob[:oobn], time.Now()))
		if !ok {
			continue
		}
		p.Payload = append([]byte(nil), p.Payload...)
		e.mu.Lock()
		if len(e.packets) < maxEarlyPackets {
			e.packets = append(e.packets, p)
		}
		e.mu.Unlock()
	}
}

// stop ends receiving (the socket stays open for the call) and returns
// the 183's SDP and the packets received.
func (e *earlyMedia) stop() ([]byte, []Packet) {
	e.mu.Lock()
	e.stopped = true
	started := e.started
	e.mu.Unlock()
	if started {
		_ = e.conn.SetReadDeadline(time.Unix(1, 0))
		e.wg.Wait()
		_ = e.conn.SetReadDeadline(time.Time{})
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sdp, e.packets
}

// parsePacket reads one RTP datagram; its Payload aliases data.
func parsePacket(data []byte, arrival time.Time) (Packet, bool) {
	var h rtp.Header
	hdrLen, err := h.Unmarshal(data)
	if err != nil || h.Version != 2 {
		return Packet{}, false
	}
	end := len(data)
	if h.Padding && end > hdrLen {
		pad := int(data[end-1])
		if pad > end-hdrLen {
			return Packet{}, false
		}
		end -= pad
	}
	return Packet{
		Seq:         h.SequenceNumber,
		Timestamp:   h.Timestamp,
		SSRC:        h.SSRC,
		PayloadType: h.PayloadType,
		Marker:      h.Marker,
		Payload:     data[hdrLen:end],
		Arrival:     arrival,
	}, true
}

// takeEarly keeps the early media received before the answer: its
// packets come first in Received (unless Config.NoRecord).
func (c *Call) takeEarly(sdp []byte, packets []Packet) {
	c.recvMu.Lock()
	defer c.recvMu.Unlock()
	c.earlySDP, c.early = sdp, packets
	if !c.noRecord {
		c.packets = append(c.packets, packets...)
	}
}

// EarlySDP returns the SDP body of the 183 Session Progress that opened
// early media before the answer; nil when none came.
func (c *Call) EarlySDP() []byte {
	c.recvMu.Lock()
	defer c.recvMu.Unlock()
	return c.earlySDP
}

// EarlyPackets returns the RTP packets received after the 183 with SDP
// and before the 2xx, in arrival order (OnPacket never saw them).
func (c *Call) EarlyPackets() []Packet {
	c.recvMu.Lock()
	defer c.recvMu.Unlock()
	return append([]Packet(nil), c.early...)
}

// AnswerSDP returns the SDP body of the 2xx that answered the call.
func (c *Call) AnswerSDP() []byte { return c.dlg.InviteResponse.Body() }
