package call

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/sip"
	"github.com/callstream/callstream/internal/stream"
)

// rig is an answered call whose media clock the test turns by hand: the
// caller is a real UDP socket sending and receiving RTP, the call's
// receiver and sender are the real ones, and every packet's arrival time
// (for the jitter buffer) is the one the test gives. Slot n is due at
// n × 20 ms.
type rig struct {
	t    *testing.T
	c    *Call
	peer *net.UDPConn // the caller's RTP socket
	at   atomic.Int64 // arrival of the next packet, ns after slot 0
	// The caller's RTP stream.
	seq  uint16
	ts   uint32
	ssrc uint32
	pt   uint8
	sent uint64 // packets sent, to wait until the call took each
}

// rigOptions describe a rig's call.
type rigOptions struct {
	Codec  sip.Codec // default PCMU/8000 on 0
	CNType int       // comfort noise payload type the caller takes (13); 0: none
	Config Config    // JitterDelay, QuietRTP
}

// stoppedClock is a media clock that never ticks: the test calls runTick.
func stoppedClock() *Clock {
	k := &Clock{start: time.Now(), done: make(chan struct{})}
	k.initLanes()
	return k
}

// fakeDialog is the SIP side of a rig's call.
type fakeDialog struct {
	remote netip.AddrPort
	done   chan struct{}
	once   sync.Once
	mu     sync.Mutex
	cause  sip.EndCause
}

func (d *fakeDialog) Done() <-chan struct{}               { return d.done }
func (d *fakeDialog) OnEnd(func())                        {}
func (d *fakeDialog) RemoteRTP() netip.AddrPort           { return d.remote }
func (d *fakeDialog) OnRemoteChange(func(netip.AddrPort)) {}
func (d *fakeDialog) Hangup(context.Context) error        { d.end(sip.EndLocalBye); return nil }

func (d *fakeDialog) EndCause() sip.EndCause {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cause
}

// end ends the dialog with cause (the first one counts).
func (d *fakeDialog) end(cause sip.EndCause) {
	d.once.Do(func() {
		d.mu.Lock()
		d.cause = cause
		d.mu.Unlock()
		close(d.done)
	})
}

// newRig answers a call of opts on loopback; t.Cleanup closes it.
func newRig(t *testing.T, opts rigOptions) *rig {
	t.Helper()
	if opts.Codec.Name == "" {
		opts.Codec = sip.Codec{Name: "PCMU", PayloadType: 0, ClockRate: 8000}
	}
	peer, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = peer.Close() })
	cfg := opts.Config
	cfg.Sid, cfg.Ports, cfg.RTPIP, cfg.Clock = "rig", ports(t), loopback, stoppedClock()
	cfg.Logger = slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(context.Background())
	c := newCall(cfg, ctx, cancel)
	r := &rig{t: t, c: c, peer: peer, ssrc: 0x1234, seq: 100, ts: 8000, pt: opts.Codec.PayloadType}
	c.arrival = func() time.Duration { return time.Duration(r.at.Load()) }
	conn, err := cfg.Ports.Listen(loopback)
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.dlg = &fakeDialog{remote: peer.LocalAddr().(*net.UDPAddr).AddrPort(), done: make(chan struct{})}
	c.conn = conn
	cn := opts.CNType
	if cn == 0 {
		cn = -1
	}
	err = c.startMediaLocked(opts.Codec, 101, 8000, cn)
	c.answered = err == nil
	c.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return r
}

// tick runs the media clock's next tick (and its second look when the
// frame was late) and returns the slot it played.
func (r *rig) tick() uint64 {
	r.t.Helper()
	c := r.c
	c.tickMu.Lock()
	m := c.base + c.lastTick + 1
	c.tickMu.Unlock()
	if c.runTick(m) {
		c.finishTick(m)
	}
	return m - c.base
}

// tickTo ticks until slot n has been played.
func (r *rig) tickTo(n uint64) {
	r.t.Helper()
	for r.slot() < n {
		r.tick()
	}
}

// slot is the last slot played.
func (r *rig) slot() uint64 {
	r.c.tickMu.Lock()
	defer r.c.tickMu.Unlock()
	return r.c.lastTick
}

// packet is one RTP packet the rig's caller sends.
type packet struct {
	seq     uint16
	ts      uint32
	ssrc    uint32
	pt      uint8
	marker  bool
	payload []byte
}

// next is the caller's next packet of payload in its stream (sequence and
// timestamp move on by one 20 ms frame of ticks).
func (r *rig) next(payload []byte, ticks uint32) packet {
	p := packet{seq: r.seq, ts: r.ts, ssrc: r.ssrc, pt: r.pt, payload: payload}
	r.seq++
	r.ts += ticks
	return p
}

// send delivers p at arrival (after slot 0) and waits until the call's
// receiver has taken it.
func (r *rig) send(p packet, arrival time.Duration) {
	r.t.Helper()
	r.at.Store(int64(arrival))
	b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: p.pt, SequenceNumber: p.seq, Timestamp: p.ts,
		SSRC: p.ssrc, Marker: p.marker}, Payload: p.payload}).Marshal()
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.peer.WriteToUDPAddrPort(b, r.c.conn.LocalAddr()); err != nil {
		r.t.Fatal(err)
	}
	r.sent++
	deadline := time.Now().Add(5 * time.Second)
	for r.c.recv.Stats().Packets < r.sent {
		if time.Now().After(deadline) {
			r.t.Fatalf("the call took %d packets, sent %d", r.c.recv.Stats().Packets, r.sent)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// recvRTP reads the next packet the call sent the caller (waiting up to 5 s).
func (r *rig) recvRTP() *rtp.Packet {
	r.t.Helper()
	buf := make([]byte, 1600)
	_ = r.peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := r.peer.Read(buf)
	if err != nil {
		r.t.Fatalf("no RTP from the call: %v", err)
	}
	var p rtp.Packet
	if err := p.Unmarshal(buf[:n]); err != nil {
		r.t.Fatal(err)
	}
	return &p
}

// tryRTP returns the packet the call sent the caller, or nil when none is
// there: the call sends from its tick, before tick returns, so on loopback
// a packet sent is in the socket's buffer at once; the wait only covers the
// kernel's hand-over.
func (r *rig) tryRTP() *rtp.Packet {
	r.t.Helper()
	buf := make([]byte, 1600)
	_ = r.peer.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	n, err := r.peer.Read(buf)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil
	}
	if err != nil {
		r.t.Fatal(err)
	}
	var p rtp.Packet
	if err := p.Unmarshal(buf[:n]); err != nil {
		r.t.Fatal(err)
	}
	return &p
}

// noRTP reports whether nothing the call sent is waiting at the caller:
// the call sends from its tick, before tick returns, so a packet sent is
// already in the socket's buffer on loopback; the short wait only covers
// the kernel's hand-over.
func (r *rig) noRTP() bool {
	_ = r.peer.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	buf := make([]byte, 1600)
	_, err := r.peer.Read(buf)
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// tapRecorder is a Tap keeping every frame it gets, by track and slot.
type tapRecorder struct {
	mu     sync.Mutex
	tracks stream.TrackSet
	start  uint64
	starts int
	frames [3]map[uint64][]byte
	format [3]codec.Format
	order  [3][]uint64 // slots in push order
}

func newTapRecorder(tracks ...stream.Track) *tapRecorder {
	r := &tapRecorder{}
	for _, t := range tracks {
		r.tracks = r.tracks.With(t)
	}
	for i := range r.frames {
		r.frames[i] = map[uint64][]byte{}
	}
	return r
}

func (r *tapRecorder) Wants(t stream.Track) bool { return r.tracks.Has(t) }
func (r *tapRecorder) Attach(start uint64) {
	r.mu.Lock()
	r.start, r.starts = start, r.starts+1
	r.mu.Unlock()
}
func (r *tapRecorder) Push(t stream.Track, slot uint64, fr codec.Frame) {
	if !r.tracks.Has(t) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.frames[t][slot]; dup {
		panic("a slot pushed twice")
	}
	r.frames[t][slot] = bytes.Clone(fr.Payload)
	r.format[t] = fr.Format
	r.order[t] = append(r.order[t], slot)
}

// at returns the frame of track t at slot (nil: none pushed).
func (r *tapRecorder) at(t stream.Track, slot uint64) []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.frames[t][slot]
}

// numbered is frame k of a test stream: 160 bytes of a value that tells it
// (never 0xFF, µ-law silence, nor 0xD5, A-law silence).
func numbered(k int) []byte {
	v := byte(k%200 + 1)
	if v == 0xD5 {
		v = 0xD6
	}
	return bytes.Repeat([]byte{v}, 160)
}

// frameNumber returns k for a frame of numbered(k) (modulo 200), or -1.
// playedSlots maps each numbered frame on the tap's inbound track, from its
// first slot through last, to the slot it played in; a frame played twice
// fails the test.
func playedSlots(t *testing.T, tap *tapRecorder, last uint64) map[int]uint64 {
	t.Helper()
	slots := map[int]uint64{}
	for s := tap.start; s <= last; s++ {
		if k := frameNumber(tap.at(stream.TrackInbound, s)); k >= 0 {
			if _, dup := slots[k]; dup {
				t.Fatalf("frame %d played twice", k)
			}
			slots[k] = s
		}
	}
	return slots
}

func frameNumber(f []byte) int {
	if len(f) == 0 || !bytes.Equal(f, bytes.Repeat(f[:1], len(f))) || f[0] == 0xFF || f[0] == 0xD5 {
		return -1
	}
	return int(f[0]) - 1
}
