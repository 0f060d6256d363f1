package bench

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	// 1..10000 µs, uniformly: quantile q is q*10 ms.
	for i := 1; i <= 10000; i++ {
		h.Add(time.Duration(i) * time.Microsecond)
	}
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999} {
		want := time.Duration(q * float64(10*time.Millisecond))
		got := h.Quantile(q)
		if diff := (got - want).Abs(); float64(diff) > 0.008*float64(want)+float64(time.Microsecond) {
			t.Errorf("q%.3f = %s, want %s (±0.8%%)", q, got, want)
		}
	}
	if h.Max() != 10*time.Millisecond || h.Count() != 10000 {
		t.Errorf("max %s count %d", h.Max(), h.Count())
	}
	if m := h.Mean(); (m - 5000500*time.Nanosecond).Abs() > time.Microsecond {
		t.Errorf("mean %s", m)
	}
	var e Histogram
	if e.Quantile(0.5) != 0 || e.Summary().N != 0 {
		t.Error("empty histogram not zero")
	}
	// Every bucket's range contains the values mapped to it.
	for u := uint64(0); u < 1<<24; u = u*5/4 + 1 {
		lo, w := bucketRange(bucketOf(u))
		if u < lo || u >= lo+w || w > max(1, lo/128) {
			t.Fatalf("%d µs in bucket [%d, +%d)", u, lo, w)
		}
	}
}

func TestFrameID(t *testing.T) {
	var f [FrameBytes]byte
	PutFrameID(f[:], 513, 0xDEADBEEF)
	call, seq, ok, intact := FrameID(f[:])
	if call != 513 || seq != 0xDEADBEEF || !ok || !intact {
		t.Fatalf("got %d %x %v %v", call, seq, ok, intact)
	}
	f[100] ^= 1
	if _, _, ok, intact := FrameID(f[:]); !ok || intact {
		t.Error("altered frame not detected")
	}
	silence := make([]byte, FrameBytes)
	for i := range silence {
		silence[i] = 0xFF
	}
	if _, _, ok, _ := FrameID(silence); ok {
		t.Error("silence taken for a frame")
	}
}

// udpSender sends frames from a plain UDP socket, as a caller would, and
// counts them.
type udpSender struct {
	conn *net.UDPConn
	sent atomic.Int64
}

func (u *udpSender) SendFrame(p []byte) error {
	pkt := make([]byte, 12+len(p))
	pkt[0] = 0x80
	copy(pkt[12:], p)
	_, err := u.conn.Write(pkt)
	if err == nil {
		u.sent.Add(1)
	}
	return err
}

// delayRelay stands in for a gateway: it forwards each RTP payload to the
// app's WebSocket as a CarrierX media message exactly delay after it
// arrived, and can drop, repeat or swap frames by index.
type delayRelay struct {
	udp   *net.UDPConn
	ws    *websocket.Conn
	delay time.Duration
	drop  map[int]bool
	dup   map[int]bool
	swap  map[int]bool // frame i goes after frame i+1
	done  chan struct{}

	handled  atomic.Int64  // frames read and forwarded (or dropped, held)
	progress chan struct{} // rung after each frame handled
}

// startRelay starts a relay of call to app, and returns it with the sender
// of the call's frames to it.
func startRelay(t *testing.T, app *App, call int, delay time.Duration) (*delayRelay, *udpSender) {
	t.Helper()
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ws, _, err := websocket.DefaultDialer.Dial(app.WSBase()+"/"+callUser(call), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"event":"start","sequenceNumber":1,"start":{}}`)); err != nil {
		t.Fatal(err)
	}
	caller, err := net.DialUDP("udp", nil, udp.LocalAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	r := &delayRelay{udp: udp, ws: ws, delay: delay, drop: map[int]bool{}, dup: map[int]bool{}, swap: map[int]bool{},
		done: make(chan struct{}), progress: make(chan struct{}, 1)}
	t.Cleanup(func() {
		udp.Close()
		<-r.done
		ws.Close()
		caller.Close()
	})
	return r, &udpSender{conn: caller}
}

func (r *delayRelay) run() {
	defer close(r.done)
	buf := make([]byte, 1500)
	var held []byte
	for i := 0; ; i++ {
		n, err := r.udp.Read(buf)
		if err != nil {
			return
		}
		due := time.Now().Add(r.delay)
		msg := []byte(`{"event":"media","sequenceNumber":` + strconv.Itoa(i+2) +
			`,"media":{"track":"inbound","chunk":` + strconv.Itoa(i+1) + `,"timestamp":0,"payload":"` + base64.StdEncoding.EncodeToString(buf[12:n]) + `"}}`)
		time.Sleep(time.Until(due))
		switch {
		case r.drop[i]:
		case r.swap[i]:
			held = msg
		default:
			_ = r.ws.WriteMessage(websocket.TextMessage, msg)
			if r.dup[i] {
				_ = r.ws.WriteMessage(websocket.TextMessage, msg)
			}
			if held != nil {
				_ = r.ws.WriteMessage(websocket.TextMessage, held)
				held = nil
			}
		}
		r.handled.Add(1)
		select {
		case r.progress <- struct{}{}:
		default:
		}
	}
}

// waitHandled waits up to 5 s until the relay has handled n frames.
func (r *delayRelay) waitHandled(t *testing.T, n int64) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for r.handled.Load() < n {
		select {
		case <-r.progress:
		case <-timeout:
			t.Fatalf("the relay handled %d frames, want %d", r.handled.Load(), n)
		}
	}
}

// flush closes the relay's WebSocket and waits for the app's answer to
// the close: the app handles its messages in order, so it has handled
// every frame before.
func (r *delayRelay) flush(t *testing.T) {
	t.Helper()
	_ = r.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	_ = r.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := r.ws.ReadMessage()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the app did not answer the relay's close")
		}
		if err != nil {
			return
		}
	}
}

// measureRelay paces one call through r (from sender) for one window of
// d, opened once the relay has handled 5 frames; it returns the window
// once the app has handled every frame sent.
func measureRelay(t *testing.T, tr *tracker, c *benchCall, r *delayRelay, sender *udpSender, d time.Duration) *window {
	t.Helper()
	go r.run()
	select {
	case <-c.up:
	case <-time.After(5 * time.Second):
		t.Fatal("stream start not seen")
	}
	c.sender = sender
	s := newSenders(tr)
	s.add(c)
	r.waitHandled(t, 5)
	tr.open.Store(0)
	time.Sleep(d) // the measuring window
	tr.open.Store(-1)
	s.Close()
	r.waitHandled(t, sender.sent.Load())
	r.flush(t)
	return tr.windows[0]
}

// A relay that adds a known delay is measured within 1 ms of it.
func TestInjectedDelayIsMeasured(t *testing.T) {
	const delay = 15 * time.Millisecond
	tr := newTracker(ModeFork, 1, 1)
	app, err := newApp("127.0.0.1:0", ModeFork, tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	c := newBenchCall(0)
	tr.calls[0].Store(c)
	r, sender := startRelay(t, app, 0, delay)
	w := measureRelay(t, tr, c, r, sender, time.Second)

	if w.sent.Load() < 45 || w.recv.Load() != w.sent.Load() {
		t.Fatalf("sent %d received %d", w.sent.Load(), w.recv.Load())
	}
	// The median and the quartiles (robust to a stall of the machine) lie
	// within 1 ms above the delay; nothing is measured below it.
	lo := w.lat.Quantile(0.01)
	t.Logf("injected %s: p1 %s p25 %s p50 %s p75 %s p99 %s", delay, lo, w.lat.Quantile(0.25), w.lat.Quantile(0.5),
		w.lat.Quantile(0.75), w.lat.Quantile(0.99))
	for _, q := range []float64{0.25, 0.5, 0.75} {
		if got := w.lat.Quantile(q); got < delay || got > delay+time.Millisecond {
			t.Errorf("p%.0f = %s, want within 1 ms above %s", 100*q, got, delay)
		}
	}
	if lo < delay-200*time.Microsecond {
		t.Errorf("p1 %s below the injected delay %s", lo, delay)
	}
	// The relay numbers its messages on arrival, a chunk per 20 ms: its
	// slot grid is its arrivals, so the injected delay is the frames'
	// hold and processing is what the generator's and the relay's timing
	// add on top of the fastest frame (generous bounds).
	hold, proc := w.hold.Quantile(0.5), w.proc.Quantile(0.5)
	t.Logf("hold p50 %s, processing p50 %s p99 %s", hold, proc, w.proc.Quantile(0.99))
	if w.hold.Count() != w.lat.Count() || w.proc.Count() != w.lat.Count() {
		t.Errorf("hold %d and processing %d of %d frames", w.hold.Count(), w.proc.Count(), w.lat.Count())
	}
	if hold < delay-5*time.Millisecond || hold > delay+time.Millisecond || proc > 5*time.Millisecond {
		t.Errorf("hold p50 %s, processing p50 %s: want the %s in the hold", hold, proc, delay)
	}
}

// A target that holds each frame to a slot of its 20 ms clock two slots
// after the one it arrived in (a jitter buffer) and writes it at the slot:
// the hold is measured as 20 to 40 ms and processing near zero.
func TestJitterHoldIsSeparated(t *testing.T) {
	tr := newTracker(ModeFork, 1, 1)
	c := newBenchCall(0)
	tr.calls[0].Store(c)
	tr.open.Store(0)
	const ms = int64(time.Millisecond)
	grid := int64(time.Second) - 13*ms // the target's clock, out of phase with the sender
	var f [FrameBytes]byte
	for seq := uint32(0); seq < 50; seq++ {
		sent := int64(time.Second) + int64(seq)*20*ms + int64(seq%3)*ms // the sender's jitter
		tr.recordSend(c, seq, sent, 0, false)
		arrived := sent + ms/2
		k := (arrived-grid)/(20*ms) + 1 + 2 // the slot after the arrival's, plus two
		at := grid + k*20*ms + ms/10        // written at its slot
		PutFrameID(f[:], 0, seq)
		tr.media(0, true, uint64(k+1), f[:], at)
	}
	w := tr.windows[0]
	if w.recv.Load() != 50 || w.hold.Count() != 50 {
		t.Fatalf("received %d, hold measured %d", w.recv.Load(), w.hold.Count())
	}
	if lo, hi := w.hold.Quantile(0), w.hold.Max(); lo < 39*time.Millisecond || hi > 61*time.Millisecond {
		t.Errorf("hold %s to %s, want within 40 to 60 ms", lo, hi)
	}
	if p := w.proc.Max(); p > time.Millisecond/5 {
		t.Errorf("processing up to %s, want the 0.1 ms of the write", p)
	}
	if lat := w.lat.Quantile(0.5); lat < 40*time.Millisecond {
		t.Errorf("added latency p50 %s includes the hold", lat)
	}
}

// Frames dropped, repeated or swapped by the relay are counted as such.
func TestLossDuplicatesAndOrderAreCounted(t *testing.T) {
	tr := newTracker(ModeFork, 1, 1)
	app, err := newApp("127.0.0.1:0", ModeFork, tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	c := newBenchCall(0)
	tr.calls[0].Store(c)
	r, sender := startRelay(t, app, 0, 0)
	// Frames are counted from the first one the relay sees; the window
	// opens 100 ms (5 frames) later and lasts 30 frames.
	r.drop[10], r.drop[11] = true, true
	r.dup[15] = true
	r.swap[20] = true
	w := measureRelay(t, tr, c, r, sender, 600*time.Millisecond)
	if got := w.sent.Load() - w.recv.Load(); got != 2 {
		t.Errorf("lost %d, want 2 (sent %d)", got, w.sent.Load())
	}
	if w.dup.Load() != 1 || w.reordered.Load() != 1 || w.corrupt.Load() != 0 {
		t.Errorf("dup %d reordered %d corrupt %d, want 1 1 0", w.dup.Load(), w.reordered.Load(), w.corrupt.Load())
	}
}

// Underruns: a tick without audio at the caller is blamed on the target
// when the app had sent the audio due at it in time; otherwise on late
// audio, or on the generator when it sent the frame late.
// With continuous RTP (silent), the target fills the empty ticks with
// silence packets instead of sending nothing: the same underruns.
func TestUnderrunAttribution(t *testing.T) {
	for _, silent := range []bool{false, true} {
		t.Run(fmt.Sprintf("continuous=%v", silent), func(t *testing.T) { underrunAttribution(t, silent) })
	}
}

func underrunAttribution(t *testing.T, continuous bool) {
	tr := newTracker(ModeBidi, 1, 1)
	c := newBenchCall(0)
	tr.calls[0].Store(c)
	tr.open.Store(0)
	var f [FrameBytes]byte
	ts := rand.Uint32()
	tick := int64(time.Second) // the target's tick of this frame, on its grid
	const ms = int64(time.Millisecond)
	for seq := uint32(0); seq < 12; seq++ {
		ticks := uint32(1)
		var late int64        // how late this packet arrives after its tick
		echoBefore := 10 * ms // when the echo left the app, before the first empty tick
		switch seq {
		case 2: // one empty tick; the echo left the app just after it
			ticks, echoBefore = 2, -ms/2
		case 4: // two empty ticks; the echo had left 5 ms before the first
			ticks, echoBefore = 3, 5*ms
		case 5: // one empty tick; the echo had left 3 ms before it
			ticks, echoBefore = 2, 3*ms
		case 7: // two empty ticks; the generator sent the frame late
			ticks, echoBefore = 3, 5*ms
		case 9: // one empty tick; the echo left 1 ms before it, and this
			// packet arrives 3 ms late: still not the target's fault
			ticks, echoBefore, late = 2, ms, 3*ms
		}
		if continuous {
			// µ-law silence on each empty tick, on time.
			silence := bytes.Repeat([]byte{0xFF}, FrameBytes)
			for k := int64(1); k < int64(ticks); k++ {
				tr.rtpArrived(c, ts+uint32(k)*FrameBytes, silence, tick+k*int64(frameDuration)+ms/10)
			}
		}
		if seq > 0 {
			ts += ticks * FrameBytes
		}
		tick += int64(ticks) * int64(frameDuration)
		at := tick + late + ms/10
		firstEmpty := tick - int64(ticks-1)*int64(frameDuration)
		if ticks == 1 {
			firstEmpty = tick
		}
		sentAt := at - 10*ms
		tr.recordSend(c, seq, sentAt, 0, seq == 7)
		PutFrameID(f[:], 0, seq)
		tr.echoed(0, f[:], firstEmpty-echoBefore)
		tr.rtpArrived(c, ts, f[:], at)
	}
	w := tr.windows[0]
	if w.underGW.Load() != 3 || w.underLate.Load() != 2 || w.underGen.Load() != 2 || w.echo.Load() != 12 {
		t.Errorf("underruns target %d late %d generator %d, echoed %d; want 3 2 2, 12",
			w.underGW.Load(), w.underLate.Load(), w.underGen.Load(), w.echo.Load())
	}
	if g := w.gaps.Max(); continuous && g != 23*time.Millisecond || !continuous && g != 60*time.Millisecond {
		t.Errorf("largest gap %s, want 60ms (23 ms with silence packets)", g)
	}
	if rt := w.rtt.Quantile(0.5); rt < 9900*time.Microsecond || rt > 10100*time.Microsecond {
		t.Errorf("round trip %s, want 10ms", rt)
	}
}
