//go:build linux

package rtpio

import (
	"errors"
	"net"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/callstream/callstream/internal/jitter"
)

// pollRig is a jitter-mode Receiver on a real socket and a peer that sends
// it RTP; it records the arrival time of every packet the buffer was given.
type pollRig struct {
	r     *Receiver
	conn  *Conn
	peer  *net.UDPConn
	audio *packetSource
	at    []time.Time
	seq   uint16
}

func newPollRig(t *testing.T) *pollRig {
	t.Helper()
	jb, err := jitter.New(jitter.Config{SamplesPerFrame: 160, MaxPayload: 160, Divisible: true, Silence: make([]byte, 160)})
	if err != nil {
		t.Fatal(err)
	}
	p := &pollRig{conn: newConn(t), audio: newPacketSource(t, 0, make([]byte, 160)), at: make([]time.Time, 0, 64)}
	p.r = NewReceiver(p.conn, ReceiverConfig{Jitter: jb, Arrival: func(at time.Time) time.Duration {
		p.at = append(p.at, at)
		return 0
	}})
	p.peer, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.peer.Close() })
	return p
}

// send sends the next audio packet.
func (p *pollRig) send(t testing.TB) {
	if _, err := p.peer.WriteToUDPAddrPort(p.audio.at(p.seq, uint32(p.seq)*160), p.conn.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	p.seq++
}

// waitQueued waits until the socket holds a datagram (the kernel stamped
// it when it queued it).
func (p *pollRig) waitQueued(t *testing.T) {
	t.Helper()
	raw, err := p.conn.uc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		queued := 0
		_ = raw.Control(func(fd uintptr) { queued, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ) })
		if queued > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the datagram sent never reached the socket")
		}
		runtime.Gosched()
	}
}

// Poll takes only what waits, at most max at a time, and gives each
// packet the time the kernel received it: a packet queued before a moment
// arrived before it, however much later it was read.
//
// The kernel turns its receive stamping on for all sockets a moment after
// the first asks for it (until then it stamps at the read), so the check
// is tried again, up to 100 times, until the stamping is on; reading times
// that are the read's never pass it.
func TestPollTakesWhatWaitsWithKernelArrival(t *testing.T) {
	p := newPollRig(t)
	h := &nopHandler{}
	if n, err := p.r.Poll(h, 8); n != 0 || err != nil {
		t.Fatalf("nothing sent: Poll = %d, %v", n, err)
	}
	stamped := false
	for try := 0; try < 100 && !stamped; try++ {
		p.at = p.at[:0]
		p.send(t)
		p.waitQueued(t)
		between := time.Now()
		p.send(t)
		p.send(t)
		// Loopback delivers during the send: the three wait in the socket.
		if n, err := p.r.Poll(h, 2); n != 2 || err != nil {
			t.Fatalf("Poll(2) = %d, %v; want 2 of the 3 waiting", n, err)
		}
		read := time.Now()
		if n, err := p.r.Poll(h, 8); n != 1 || err != nil {
			t.Fatalf("Poll(8) = %d, %v; want the 1 left", n, err)
		}
		if len(p.at) != 3 {
			t.Fatalf("%d packets reached the jitter buffer, want 3", len(p.at))
		}
		if p.at[1].After(read) {
			t.Fatalf("the second packet arrived at %v, after it was read (%v)", p.at[1], read)
		}
		if got := p.r.LastPacket(); !got.Equal(p.at[2]) {
			t.Fatalf("LastPacket %v, want the last arrival %v", got, p.at[2])
		}
		stamped = p.at[0].Before(between)
	}
	if !stamped {
		t.Fatal("in 100 tries the first packet never arrived before the second was sent: its time is the read's, not the kernel's")
	}
	if st := p.r.Stats(); st.Invalid != 0 || st.Packets != uint64(p.seq) {
		t.Fatalf("stats %+v after %d packets", st, p.seq)
	}
	p.conn.Close()
	if _, err := p.r.Poll(h, 8); err == nil || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Poll after Close: %v, want net.ErrClosed", err)
	}
	p.r.Finish()
}

// Poll allocates nothing per packet, and nothing when the socket is empty.
func TestPollDoesNotAllocate(t *testing.T) {
	p := newPollRig(t)
	h := &nopHandler{}
	allocs := testing.AllocsPerRun(200, func() {
		p.at = p.at[:0]
		p.send(t)
		if n, _ := p.r.Poll(h, 4); n != 1 {
			t.Fatalf("polled %d", n)
		}
		if n, _ := p.r.Poll(h, 4); n != 0 {
			t.Fatalf("polled %d from an empty socket", n)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per send and two polls, want 0", allocs)
	}
}
