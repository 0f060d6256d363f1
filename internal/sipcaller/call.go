package sipcaller

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/rtpio"
	gwsip "github.com/callstream/callstream/internal/sip"
)

// Media timing: 20 ms frames; G.711 and G.722 frames are 160 bytes.
const (
	frameDuration = codec.FrameDuration
	frameBytes    = 160
	maxPayload    = 1400
	// dtmfFrameTicks is 20 ms at telephone-event's 8000 Hz clock.
	dtmfFrameTicks = 160
)

// Packet is one received RTP packet.
type Packet struct {
	Seq         uint16
	Timestamp   uint32
	SSRC        uint32
	PayloadType uint8
	Marker      bool
	Payload     []byte
	Arrival     time.Time
}

// Call is one answered call with its RTP socket. Its methods are safe for
// concurrent use, except that SendAudio, SendPCM, SendFrame, SendPlan and
// SendDTMF share one RTP sequence and timestamp clock.
type Call struct {
	client *Client
	id     string // dialog ID
	callID string
	log    *slog.Logger
	dlg    *sipgo.DialogClientSession // owned: closed by Close
	conn   *net.UDPConn               // RTP socket; owned

	format   codec.Format // the negotiated codec
	pt       uint8        // its payload type, sent and expected
	dtmfPT   uint8
	cnPT     uint8  // comfort noise payload type, 0 = none
	silence  []byte // one 20 ms frame of silence in format
	noRecord bool
	acked    time.Time // when the ACK left: Plan.StartDelay counts from it

	ended     chan struct{}
	endOnce   sync.Once
	closeOnce sync.Once
	closeErr  error
	recv      sync.WaitGroup // the RTP receive goroutine
	onPacket  atomic.Pointer[func(*Packet)]

	mu       sync.Mutex // guards remote, offer, messages
	remote   netip.AddrPort
	offer    *offerSDP
	messages []Message // MESSAGE and INFO the gateway sent, at most maxMessages
	msgSig   chan struct{}

	answerBody       []byte         // the late offer's answer, sent in the ACK; nil for an offer in the INVITE
	sessionExpires   time.Duration  // the session timer granted (0: none)
	refresher        string         // who refreshes it: "uac" (this caller) or "uas"
	refresh          bool           // refresh with UPDATE while the call lasts
	refreshes        atomic.Int64   // refreshes sent
	gatewayRefreshes atomic.Int64   // refreshes the gateway sent
	vanished         atomic.Bool    // Vanish: nothing is answered any more
	bg               sync.WaitGroup // the refresh goroutine

	sendMu  sync.Mutex // guards the RTP sender state below
	seq     uint16
	ts      uint32
	seq0    uint16 // the first sequence number and timestamp (SendFrameAt)
	ts0     uint32
	ssrc    uint32
	started bool
	sendBuf [12 + maxPayload]byte
	sent    int           // RTP packets written (Sent)
	enc     codec.Encoder // SendPCM's, made at its first frame

	recvMu   sync.Mutex
	earlySDP []byte   // the 183's SDP (nil: no early media)
	early    []Packet // packets of early media, received before the answer
	packets  []Packet
	arrived  chan struct{} // closed (and forgotten) when a packet is kept; nil while nobody waits
}

func newCall(c *Client, dlg *sipgo.DialogClientSession, conn *net.UDPConn, offer *offerSDP, cfg Config, log *slog.Logger) (*Call, error) {
	ans, err := parseSDP(dlg.InviteResponse.Body())
	if err != nil {
		return nil, fmt.Errorf("sipcaller: answer: %w", err)
	}
	var (
		chosen sdpCodec
		format codec.Format
	)
	if cfg.LateOffer {
		// The 2xx holds the gateway's offer: pick from it and answer in the ACK.
		if chosen, format, err = lateAnswer(cfg, ans, offer); err != nil {
			return nil, err
		}
	} else if chosen, format, err = pickCodec(ans.codecs, offer.codecs); err != nil {
		return nil, err
	}
	call := &Call{
		client:   c,
		id:       dlg.ID,
		callID:   dlg.InviteRequest.CallID().Value(),
		log:      log,
		dlg:      dlg,
		conn:     conn,
		format:   format,
		pt:       chosen.pt,
		silence:  codec.Silence(format, nil),
		noRecord: cfg.NoRecord,
		ended:    make(chan struct{}),
		msgSig:   make(chan struct{}, 1),
		remote:   ans.rtp,
		offer:    offer,
		seq:      uint16(rand.Uint32()),
		ts:       rand.Uint32(),
		ssrc:     rand.Uint32(),
	}
	call.seq0, call.ts0 = call.seq, call.ts
	if offer.dtmf != 0 && ans.dtmf != 0 {
		call.dtmfPT = ans.dtmf
	}
	if offer.cn != 0 && ans.cn != 0 {
		call.cnPT = ans.cn
	}
	if cfg.LateOffer {
		if call.answerBody, err = offer.marshal(gwsip.DirSendRecv); err != nil {
			return nil, err
		}
	}
	call.sessionExpires, call.refresher = grantedSession(dlg.InviteResponse)
	call.refresh = cfg.Refresh && call.refresher == "uac" && call.sessionExpires > 0
	return call, nil
}

// start launches the RTP receive goroutine.
func (c *Call) start() {
	c.recv.Add(1)
	go c.receive()
	if c.refresh {
		c.bg.Add(1)
		go c.refreshLoop()
	}
}

// CallID returns the SIP Call-ID.
func (c *Call) CallID() string { return c.callID }

// Codec returns the negotiated codec's SDP name: "PCMU", "PCMA", "G722"
// or "opus".
func (c *Call) Codec() string { return c.format.Name }

// LocalRTP returns the address of the call's RTP socket.
func (c *Call) LocalRTP() netip.AddrPort {
	a := c.conn.LocalAddr().(*net.UDPAddr).AddrPort()
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// RemoteRTP returns the gateway's RTP address from its latest answer.
func (c *Call) RemoteRTP() netip.AddrPort {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.remote
}

// Ended is closed when the gateway sends BYE, after Hangup, or on Close.
func (c *Call) Ended() <-chan struct{} { return c.ended }

func (c *Call) markEnded() {
	c.endOnce.Do(func() { close(c.ended) })
}

// OnPacket registers fn, called in the receive goroutine for every RTP
// packet. With Config.NoRecord the packet's Payload is only valid during
// the call. fn must not block.
func (c *Call) OnPacket(fn func(p *Packet)) {
	if fn == nil {
		c.onPacket.Store(nil)
		return
	}
	c.onPacket.Store(&fn)
}

// Received returns a copy of every RTP packet received so far, in arrival
// order (nothing with Config.NoRecord).
func (c *Call) Received() []Packet {
	c.recvMu.Lock()
	defer c.recvMu.Unlock()
	return append([]Packet(nil), c.packets...)
}

// WaitReceived waits until cond holds for the RTP packets received so far
// (in arrival order), checking it now and after every packet; what names
// the condition in the error when ctx ends first. cond must not change
// the packets. A call with Config.NoRecord keeps none: cond sees none.
func (c *Call) WaitReceived(ctx context.Context, what string, cond func(packets []Packet) bool) error {
	for {
		c.recvMu.Lock()
		ps := c.packets[:len(c.packets):len(c.packets)] // append-only: safe to read unlocked
		if c.arrived == nil {
			c.arrived = make(chan struct{})
		}
		arrived := c.arrived
		c.recvMu.Unlock()
		if cond(ps) {
			return nil
		}
		select {
		case <-arrived:
		case <-ctx.Done():
			return fmt.Errorf("sipcaller: no %s after %d packets: %w", what, len(ps), ctx.Err())
		}
	}
}

// WaitPackets waits until at least n RTP packets were received.
func (c *Call) WaitPackets(ctx context.Context, n int) error {
	return c.WaitReceived(ctx, fmt.Sprintf("%d packets", n), func(ps []Packet) bool { return len(ps) >= n })
}

// WaitHeard waits until the audio heard so far (Heard) contains audio.
func (c *Call) WaitHeard(ctx context.Context, audio []byte) error {
	return c.WaitReceived(ctx, fmt.Sprintf("%d bytes of audio", len(audio)), func(ps []Packet) bool {
		return bytes.Contains(Payloads(ps), audio)
	})
}

// Heard returns the payloads of every RTP packet received so far, joined
// in arrival order: the audio the caller heard (nothing with
// Config.NoRecord).
func (c *Call) Heard() []byte { return Payloads(c.Received()) }

// Payloads returns the payloads of packets joined in their order.
func Payloads(packets []Packet) []byte {
	n := 0
	for _, p := range packets {
		n += len(p.Payload)
	}
	out := make([]byte, 0, n)
	for _, p := range packets {
		out = append(out, p.Payload...)
	}
	return out
}

func (c *Call) receive() {
	defer c.recv.Done()
	buf := make([]byte, 1500)
	oob := make([]byte, oobSize)
	stampArrivals(c.conn)
	for {
		n, oobn, _, _, err := c.conn.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				c.log.Debug("rtp read stopped", "error", err)
			}
			return
		}
		p, ok := parsePacket(buf[:n], arrivalOf(oob[:oobn], time.Now()))
		if !ok {
			continue
		}
		if !c.noRecord {
			p.Payload = append([]byte(nil), p.Payload...)
			c.recvMu.Lock()
			c.packets = append(c.packets, p)
			if c.arrived != nil {
				close(c.arrived)
				c.arrived = nil
			}
			c.recvMu.Unlock()
		}
		if fn := c.onPacket.Load(); fn != nil {
			(*fn)(&p)
		}
	}
}

// SendFrame sends payload (one frame in the call's codec) as one RTP packet
// now, advancing the timestamp by its duration: one tick per byte for G.711
// and G.722, 960 for an opus packet. The first packet of the call carries
// the marker bit.
func (c *Call) SendFrame(payload []byte) error {
	if len(payload) > maxPayload {
		return fmt.Errorf("sipcaller: frame of %d bytes exceeds %d", len(payload), maxPayload)
	}
	select {
	case <-c.ended:
		return ErrCallEnded
	default:
	}
	remote := c.RemoteRTP()
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	marker := !c.started
	c.started = true
	ts := c.ts
	c.ts += ticks(c.format, payload)
	return c.sendLocked(remote, c.pt, marker, ts, payload)
}

// SendFrameAt sends payload as the 20 ms frame number i of the call (from
// 0): sequence number and timestamp are those frame i has in a stream that
// started with the call's first frame, whatever was sent before. Tests use
// it to send frames out of order, twice, or not at all. It does not move
// the counters SendFrame uses.
func (c *Call) SendFrameAt(i int, payload []byte) error {
	if len(payload) > maxPayload {
		return fmt.Errorf("sipcaller: frame of %d bytes exceeds %d", len(payload), maxPayload)
	}
	remote := c.RemoteRTP()
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	seq := c.seq
	c.seq = c.seq0 + uint16(i)
	err := c.sendLocked(remote, c.pt, i == 0, c.ts0+uint32(i*c.format.FrameTicks()), payload)
	c.seq = seq
	c.started = true
	return err
}

// sendLocked writes one RTP packet with the call's next sequence number
// and SSRC; sendMu must be held.
func (c *Call) sendLocked(remote netip.AddrPort, pt uint8, marker bool, ts uint32, payload []byte) error {
	h := rtp.Header{
		Version:        2,
		PayloadType:    pt,
		SequenceNumber: c.seq,
		Timestamp:      ts,
		SSRC:           c.ssrc,
		Marker:         marker,
	}
	c.seq++
	return c.writeRTP(remote, &h, payload)
}

// writeRTP writes one RTP packet with header h; sendMu must be held.
func (c *Call) writeRTP(remote netip.AddrPort, h *rtp.Header, payload []byte) error {
	n, err := h.MarshalTo(c.sendBuf[:])
	if err != nil {
		return fmt.Errorf("sipcaller: rtp header: %w", err)
	}
	n += copy(c.sendBuf[n:], payload)
	if _, err := c.conn.WriteToUDPAddrPort(c.sendBuf[:n], remote); err != nil {
		return fmt.Errorf("sipcaller: rtp send: %w", err)
	}
	c.sent++
	return nil
}

// SendAudio sends payload, bytes in the call's codec (G.711 or G.722), as
// 20 ms frames of 160 bytes, padding a short last frame with the codec's
// silence. Frame i leaves at start + i*20 ms (absolute deadlines, so the
// pace does not drift). It returns when the last frame is sent, ctx is
// done, or the call ends. Opus packets are not cut from bytes: use SendPCM.
func (c *Call) SendAudio(ctx context.Context, payload []byte) error {
	if !byteStream(c.format) {
		return errNoFrameCut
	}
	var frame [frameBytes]byte
	return c.pace(ctx, (len(payload)+frameBytes-1)/frameBytes, func(i int) error {
		chunk := payload[i*frameBytes : min((i+1)*frameBytes, len(payload))]
		if len(chunk) < frameBytes {
			n := copy(frame[:], chunk)
			copy(frame[n:], c.silence[n:])
			chunk = frame[:]
		}
		return c.SendFrame(chunk)
	})
}

// SendDTMF sends digit as RFC 4733 telephone-event packets: one every 20 ms
// with a growing duration for about d (at least one packet), the last one
// (end bit set) sent three times. All packets share the event's timestamp;
// the first carries the marker bit. It blocks for about d.
func (c *Call) SendDTMF(digit byte, d time.Duration) error {
	event, ok := rtpio.EventCode(digit)
	if !ok {
		return fmt.Errorf("%w: %q", ErrBadDigit, digit)
	}
	if c.dtmfPT == 0 {
		return ErrNoDTMF
	}
	packets := max(1, int((d+frameDuration-1)/frameDuration))
	remote := c.RemoteRTP()
	c.sendMu.Lock()
	ts := c.ts
	c.ts += uint32(packets * c.format.FrameTicks())
	c.started = true
	c.sendMu.Unlock()

	var payload [rtpio.EventSize]byte
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	start := time.Now()
	for k := 1; k <= packets; k++ {
		if wait := time.Until(start.Add(time.Duration(k-1) * frameDuration)); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-c.ended:
				return ErrCallEnded
			}
		}
		last := k == packets
		rtpio.PutEvent(payload[:], event, last, k*dtmfFrameTicks)
		sends := 1
		if last {
			sends = 3
		}
		for range sends {
			c.sendMu.Lock()
			err := c.sendLocked(remote, c.dtmfPT, k == 1, ts, payload[:])
			c.sendMu.Unlock()
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// Hangup sends BYE and waits for its response (bounded by ctx). It returns
// nil if the call has already ended.
func (c *Call) Hangup(ctx context.Context) error {
	select {
	case <-c.ended:
		return nil
	default:
	}
	err := c.dlg.Bye(ctx)
	c.markEnded()
	if err != nil {
		return fmt.Errorf("sipcaller: BYE: %w", err)
	}
	c.log.Info("hung up")
	return nil
}

// SendReinvite sends a re-INVITE offering the same media with a=<direction>
// (sendrecv, sendonly, recvonly or inactive), ACKs the 2xx and takes the
// gateway's new RTP address. A non-2xx answer returns *StatusError.
func (c *Call) SendReinvite(ctx context.Context, direction string) error {
	switch direction {
	case gwsip.DirSendRecv, gwsip.DirSendOnly, gwsip.DirRecvOnly, gwsip.DirInactive:
	default:
		return fmt.Errorf("sipcaller: re-INVITE direction %q invalid", direction)
	}
	select {
	case <-c.ended:
		return ErrCallEnded
	default:
	}
	c.mu.Lock()
	c.offer.version++
	body, err := c.offer.marshal(direction)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	target := c.dlg.InviteRequest.Recipient
	if cont := c.dlg.InviteResponse.Contact(); cont != nil {
		target = cont.Address
	}
	req := sip.NewRequest(sip.INVITE, target)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(body)
	res, err := c.dlg.Do(ctx, req)
	if err != nil {
		return fmt.Errorf("sipcaller: re-INVITE: %w", err)
	}
	if !res.IsSuccess() {
		return newStatusError(res)
	}
	if err := c.dlg.WriteRequest(sip.NewRequest(sip.ACK, target)); err != nil {
		return fmt.Errorf("sipcaller: re-INVITE ACK: %w", err)
	}
	if len(res.Body()) > 0 {
		ans, err := parseSDP(res.Body())
		if err != nil {
			return fmt.Errorf("sipcaller: re-INVITE answer: %w", err)
		}
		c.mu.Lock()
		c.remote = ans.rtp
		c.mu.Unlock()
	}
	return nil
}

// Close hangs up if the call is still up (best effort, 2 s), closes the RTP
// socket and waits for the receive goroutine. It is idempotent.
func (c *Call) Close() error {
	c.closeOnce.Do(func() {
		var errs []error
		select {
		case <-c.ended:
		default:
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			if err := c.Hangup(ctx); err != nil {
				c.log.Debug("hangup on close failed", "error", err)
			}
			cancel()
		}
		c.markEnded()
		if err := c.conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
		c.recv.Wait()
		c.bg.Wait()
		c.client.forget(c)
		errs = append(errs, c.dlg.Close())
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}
