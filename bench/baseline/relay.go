package baseline

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/sip"
)

const (
	frameBytes = 160
	// playFrames bounds the app audio held for playback (3 s).
	playFrames = 150
)

// relay is one call: its UDP socket and its WebSocket.
type relay struct {
	s      *Server
	callID string
	udp    *net.UDPConn
	ws     *websocket.Conn
	pt     uint8
	remote atomic.Pointer[netip.AddrPort]

	wmu   sync.Mutex // WebSocket writes and the message counters
	seq   uint64
	chunk [2]uint64 // per track: inbound, outbound
	out   []byte

	pmu   sync.Mutex // the playback ring (bidi)
	ring  [playFrames][frameBytes]byte
	head  int
	n     int
	part  [frameBytes]byte // a frame being filled from smaller chunks
	partN int

	silence [frameBytes]byte // one 20 ms frame of silence in the call's codec

	// Pacer goroutine only.
	rtpSeq  uint16
	rtpTS   uint32
	ssrc    uint32
	sent    bool // a packet went to the caller: the first one is marked
	promptN int
	pkt     [12 + frameBytes]byte
	frame   [frameBytes]byte
}

func newRelay(s *Server, callID string, udp *net.UDPConn, ws *websocket.Conn, c sip.Codec) *relay {
	r := &relay{
		s: s, callID: callID, udp: udp, ws: ws, pt: c.PayloadType,
		out:    make([]byte, 0, 512),
		rtpSeq: uint16(rand.Uint32()), rtpTS: rand.Uint32(), ssrc: rand.Uint32(),
	}
	// G.711 and G.722 silence fill a 160-byte frame; µ-law's for the rest.
	sil := []byte(nil)
	if k, ok := codec.Lookup(c.Name, c.ClockRate, 0); ok {
		sil = codec.Silence(k.Format, nil)
	}
	if len(sil) != frameBytes {
		sil = codec.Silence(codec.PCMU, nil)
	}
	copy(r.silence[:], sil)
	return r
}

// open sends the connected and start messages.
func (r *relay) open() error {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	b := append(r.out[:0], `{"event":"connected","protocol":"Call","version":"0.2.0"}`...)
	if err := r.ws.WriteMessage(websocket.TextMessage, b); err != nil {
		return err
	}
	tracks := `"inbound"`
	if r.s.cfg.Mode == ModeBothTracks {
		tracks = `"inbound","outbound"`
	}
	r.seq = 1
	b = append(r.out[:0], `{"event":"start","sequenceNumber":1,"start":{"callId":`...)
	b = strconv.AppendQuote(b, r.callID)
	b = append(b, `,"tracks":[`...)
	b = append(b, tracks...)
	b = append(b, `],"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000},"customParameters":{}}}`...)
	r.seq++
	return r.ws.WriteMessage(websocket.TextMessage, b)
}

// close sends the stop message and a close frame.
func (r *relay) close() {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	b := append(r.out[:0], `{"event":"stop","sequenceNumber":`...)
	b = strconv.AppendUint(b, r.seq, 10)
	b = append(b, `,"stop":{"callId":`...)
	b = strconv.AppendQuote(b, r.callID)
	b = append(b, `}}`...)
	_ = r.ws.WriteMessage(websocket.TextMessage, b)
	_ = r.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	_ = r.ws.SetReadDeadline(time.Now().Add(time.Second))
}

// sendMedia writes one media message of track (0 inbound, 1 outbound).
func (r *relay) sendMedia(track int, payload []byte) error {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.chunk[track]++
	b := append(r.out[:0], `{"event":"media","sequenceNumber":`...)
	b = strconv.AppendUint(b, r.seq, 10)
	if track == 0 {
		b = append(b, `,"media":{"track":"inbound","chunk":`...)
	} else {
		b = append(b, `,"media":{"track":"outbound","chunk":`...)
	}
	b = strconv.AppendUint(b, r.chunk[track], 10)
	b = append(b, `,"timestamp":`...)
	b = strconv.AppendUint(b, (r.chunk[track]-1)*20, 10)
	b = append(b, `,"payload":"`...)
	b = base64.StdEncoding.AppendEncode(b, payload)
	b = append(b, `"}}`...)
	r.out = b[:0]
	r.seq++
	return r.ws.WriteMessage(websocket.TextMessage, b)
}

// readRTP relays the caller's audio until the socket closes.
func (r *relay) readRTP() {
	var buf [1500]byte
	for {
		n, err := r.udp.Read(buf[:])
		if err != nil {
			return
		}
		payload, ok := rtpPayload(buf[:n])
		if !ok {
			continue
		}
		if err := r.sendMedia(0, payload); err != nil {
			return
		}
	}
}

// rtpPayload returns the payload of an RTP packet.
func rtpPayload(p []byte) ([]byte, bool) {
	if len(p) < 12 || p[0]>>6 != 2 {
		return nil, false
	}
	h := 12 + 4*int(p[0]&0x0f)
	if p[0]&0x10 != 0 { // header extension
		if len(p) < h+4 {
			return nil, false
		}
		h += 4 + 4*int(binary.BigEndian.Uint16(p[h+2:]))
	}
	end := len(p)
	if p[0]&0x20 != 0 && end > h { // padding
		end -= int(p[end-1])
	}
	if h > end {
		return nil, false
	}
	return p[h:end], true
}

var keyPayload = []byte(`"payload":"`)

// readWS reads the app's messages until the connection ends; in bidi mode
// media payloads are queued for playback.
func (r *relay) readWS() {
	buf := make([]byte, 8192)
	var pcm [4096]byte
	for {
		kind, rd, err := r.ws.NextReader()
		if err != nil {
			return
		}
		n, err := io.ReadFull(rd, buf)
		if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			_, _ = io.Copy(io.Discard, rd)
			continue
		}
		if r.s.cfg.Mode != ModeBidi {
			continue
		}
		msg := buf[:n]
		if kind == websocket.BinaryMessage {
			r.queue(msg)
			continue
		}
		i := bytes.Index(msg, keyPayload)
		if i < 0 {
			continue
		}
		v := msg[i+len(keyPayload):]
		j := bytes.IndexByte(v, '"')
		if j < 0 {
			continue
		}
		m, err := base64.StdEncoding.Decode(pcm[:], v[:j])
		if err != nil {
			continue
		}
		r.queue(pcm[:m])
	}
}

// queue adds app audio to the playback ring; audio beyond 3 s is dropped.
func (r *relay) queue(b []byte) {
	r.pmu.Lock()
	defer r.pmu.Unlock()
	for len(b) > 0 {
		c := copy(r.part[r.partN:], b)
		r.partN += c
		b = b[c:]
		if r.partN < frameBytes {
			return
		}
		r.partN = 0
		if r.n == playFrames {
			continue
		}
		r.ring[(r.head+r.n)%playFrames] = r.part
		r.n++
	}
}

// next fills r.frame with what plays now and reports whether there is any.
func (r *relay) next() bool {
	if r.s.cfg.Mode == ModeBothTracks {
		p := r.s.cfg.Prompt
		for i := range r.frame {
			r.frame[i] = p[r.promptN]
			r.promptN = (r.promptN + 1) % len(p)
		}
		return true
	}
	r.pmu.Lock()
	defer r.pmu.Unlock()
	if r.n == 0 {
		return false
	}
	r.frame = r.ring[r.head]
	r.head = (r.head + 1) % playFrames
	r.n--
	return true
}

// tick plays one 20 ms frame: the next one if there is one, else silence
// (continuous RTP, as the gateway sends), or nothing with
// Config.NoSilence (the tick then advances the RTP timestamp only).
func (r *relay) tick() {
	defer func() { r.rtpTS += frameBytes }()
	if !r.next() {
		if r.s.cfg.NoSilence {
			return
		}
		r.frame = r.silence
	}
	remote := r.remote.Load()
	if remote == nil {
		return
	}
	p := r.pkt[:]
	p[0], p[1] = 0x80, r.pt&0x7f
	if !r.sent {
		p[1] |= 0x80 // marker: the first packet of the stream
		r.sent = true
	}
	binary.BigEndian.PutUint16(p[2:], r.rtpSeq)
	binary.BigEndian.PutUint32(p[4:], r.rtpTS)
	binary.BigEndian.PutUint32(p[8:], r.ssrc)
	copy(p[12:], r.frame[:])
	r.rtpSeq++
	_, _ = r.udp.WriteToUDPAddrPort(p, *remote)
	if r.s.cfg.Mode == ModeBothTracks {
		_ = r.sendMedia(1, r.frame[:])
	}
}
