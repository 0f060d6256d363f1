package connlimit

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/limit"
	"github.com/callstream/callstream/internal/limit/limittest"
)

func listen(t *testing.T, cfg Config) (*Listener, chan net.Conn) {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Wrap(raw, cfg)
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	t.Cleanup(func() { l.Close() })
	return l, accepted
}

func dial(t *testing.T, l net.Listener) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Connections over Max are closed at once and counted; closing one makes
// room again.
func TestMaxConnections(t *testing.T) {
	var cnt limittest.Counts
	l, accepted := listen(t, Config{Max: 2, Counter: &cnt, Full: limit.SIPConnsFull})
	a, b := dial(t, l), dial(t, l)
	_, _ = a, b
	ca, cb := <-accepted, <-accepted
	over := dial(t, l)
	_ = over.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := over.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("third connection: read %v, want it closed", err)
	}
	if cnt.Get(limit.SIPConnsFull) != 1 || l.Open() != 2 {
		t.Fatalf("refused %d open %d", cnt.Get(limit.SIPConnsFull), l.Open())
	}
	ca.Close()
	ca.Close() // twice counts once
	if l.Open() != 1 {
		t.Fatalf("open %d after a close", l.Open())
	}
	dial(t, l)
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("no room after a connection closed")
	}
	cb.Close()
}

// An idle connection is closed after Idle unless its remote is pinned.
func TestIdleAndPin(t *testing.T) {
	var cnt limittest.Counts
	l, accepted := listen(t, Config{Idle: 100 * time.Millisecond, Counter: &cnt, IdleClosed: limit.SIPConnIdle})
	idle := dial(t, l)
	srvIdle := <-accepted
	pinnedCli := dial(t, l)
	srvPinned := <-accepted
	unpin := l.Pin(pinnedCli.LocalAddr().String())

	errs := make(chan error, 2)
	go func() { _, err := srvIdle.Read(make([]byte, 1)); errs <- err }()
	if err := <-errs; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("idle read: %v, want net.ErrClosed", err)
	}
	_ = idle
	got := make(chan error, 1)
	go func() {
		b := make([]byte, 1)
		_, err := srvPinned.Read(b)
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("pinned connection read returned %v while idle", err)
	case <-time.After(400 * time.Millisecond):
	}
	if _, err := pinnedCli.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatalf("pinned read: %v", err)
	}
	unpin()
	unpin()
	go func() { _, err := srvPinned.Read(make([]byte, 1)); got <- err }()
	if err := <-got; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("after unpin: %v, want closed", err)
	}
	if cnt.Get(limit.SIPConnIdle) != 2 {
		t.Fatalf("idle refusals %d, want 2", cnt.Get(limit.SIPConnIdle))
	}
}

// fakeListener fails Accept with EMFILE a few times.
type fakeListener struct {
	net.Listener
	fails int
}

func (f *fakeListener) Accept() (net.Conn, error) {
	if f.fails > 0 {
		f.fails--
		return nil, &net.OpError{Op: "accept", Err: syscall.EMFILE}
	}
	return f.Listener.Accept()
}

// Accept retries transient errors instead of returning them.
func TestAcceptBacksOff(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var cnt limittest.Counts
	l := Wrap(&fakeListener{Listener: raw, fails: 3}, Config{Counter: &cnt, AcceptError: limit.SIPAcceptError})
	defer l.Close()
	dial(t, l)
	c, err := l.Accept()
	if err != nil {
		t.Fatalf("Accept returned %v", err)
	}
	c.Close()
	if cnt.Get(limit.SIPAcceptError) != 3 {
		t.Fatalf("accept errors counted %d, want 3", cnt.Get(limit.SIPAcceptError))
	}
	l.Close()
	if _, err := l.Accept(); err == nil {
		t.Fatal("Accept after Close succeeded")
	}
}

func TestFileLimit(t *testing.T) {
	if FileLimit() <= 0 {
		t.Fatal("no open-file limit read")
	}
}
