package bench

import (
	"bufio"
	"encoding/binary"
	"github.com/callstream/callstream/internal/codec"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/callstream/callstream/internal/rtpio"
	"github.com/callstream/callstream/internal/stream"
	"github.com/callstream/callstream/internal/stream/carrierx"
)

// rawApp accepts one WebSocket and counts the media messages it reads,
// parsing frames by hand from the socket so the app side allocates
// nothing: allocations measured belong to the gateway's path.
type rawApp struct {
	ln    net.Listener
	media atomic.Uint64
	done  chan struct{}
}

func newRawApp(tb testing.TB) *rawApp {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	a := &rawApp{ln: ln, done: make(chan struct{})}
	up := websocket.Upgrader{}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer close(a.done)
		a.read(ws.UnderlyingConn())
	})}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { _ = srv.Close() })
	return a
}

// read parses masked client frames: 2 header bytes, an extended length
// when needed, the mask, the payload.
func (a *rawApp) read(c net.Conn) {
	br := bufio.NewReaderSize(c, 64<<10)
	var hdr [14]byte
	payload := make([]byte, 64<<10)
	for {
		if _, err := io.ReadFull(br, hdr[:2]); err != nil {
			return
		}
		n := int(hdr[1] & 0x7f)
		switch n {
		case 126:
			if _, err := io.ReadFull(br, hdr[2:4]); err != nil {
				return
			}
			n = int(binary.BigEndian.Uint16(hdr[2:4]))
		case 127:
			return
		}
		if hdr[1]&0x80 != 0 {
			if _, err := io.ReadFull(br, hdr[4:8]); err != nil {
				return
			}
		}
		if n > len(payload) {
			return
		}
		if _, err := io.ReadFull(br, payload[:n]); err != nil {
			return
		}
		if hdr[0]&0x0f == 0x8 { // close
			return
		}
		// Media messages are the long ones; connected and start are shorter.
		if n > 200 {
			a.media.Add(1)
		}
	}
}

// flowHandler hands each received frame to a flow, as the call does.
type flowHandler struct {
	f   *stream.Flow
	idx uint64
}

func (h *flowHandler) HandleFrame(p []byte, _ uint8, lost bool) {
	if lost {
		return
	}
	h.f.Push(stream.TrackInbound, h.idx, codec.Frame{Format: codec.PCMU, Payload: p})
	h.idx++
}

func (h *flowHandler) HandleDTMF(byte) {}

// BenchmarkInboundPath measures the gateway's whole inbound path for one
// frame: an RTP packet over loopback UDP, the RTP receiver, Flow.Push, the
// socket writer's CarrierX encoding and the WebSocket write to the app.
// allocs/op counts every goroutine of the path (the app side allocates
// nothing).
func BenchmarkInboundPath(b *testing.B) {
	app := newRawApp(b)
	pool, err := rtpio.NewPortPool(31000, 31999)
	if err != nil {
		b.Fatal(err)
	}
	lo := netip.AddrFrom4([4]byte{127, 0, 0, 1})
	conn, err := pool.Listen(lo)
	if err != nil {
		b.Fatal(err)
	}
	info := stream.Info{CallSid: "CA-bench", Tracks: []stream.Track{stream.TrackInbound}, Encoding: "audio/x-mulaw", SampleRate: 8000}
	sock := stream.Open(stream.SocketConfig{URL: "ws://" + app.ln.Addr().String() + "/", Dialect: carrierx.New(), Info: &info})
	flow := sock.AddFlow(stream.FlowConfig{Info: info, Tracks: stream.TrackSet(0).With(stream.TrackInbound)})
	recv := rtpio.NewReceiver(conn, rtpio.ReceiverConfig{})
	h := &flowHandler{f: flow}
	ran := make(chan error, 1)
	go func() { ran <- recv.Run(h) }()

	caller, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(lo, 0)))
	if err != nil {
		b.Fatal(err)
	}
	defer caller.Close()
	pkt := make([]byte, 12+FrameBytes)
	pkt[0] = 0x80
	var seq uint16
	var sent uint64
	send := func() {
		for sent-app.media.Load() > 32 { // a few frames in flight, far below any queue
			time.Sleep(0)
		}
		binary.BigEndian.PutUint16(pkt[2:], seq)
		binary.BigEndian.PutUint32(pkt[4:], uint32(seq)*FrameBytes)
		PutFrameID(pkt[12:], 1, uint32(seq))
		seq++
		if _, err := caller.WriteToUDPAddrPort(pkt, conn.LocalAddr()); err != nil {
			b.Fatal(err)
		}
		sent++
	}
	for range 200 { // connect, warm up, grow buffers
		send()
	}
	b.ReportAllocs()
	for b.Loop() {
		send()
	}
	b.StopTimer()
	deadline := time.Now().Add(5 * time.Second)
	for app.media.Load() < sent && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := app.media.Load(); got != sent {
		b.Fatalf("app got %d of %d frames (socket dropped %d)", got, sent, sock.Stats().MediaDropped)
	}
	_ = conn.Close()
	<-ran
	sock.Close(1000, "")
	<-sock.Done()
}
