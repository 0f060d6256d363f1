package rtpio

import (
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestNewPortPoolInvalidRange(t *testing.T) {
	for name, r := range map[string][2]int{
		"zero min":      {0, 10},
		"reversed":      {20, 10},
		"beyond 65535":  {65000, 65536},
		"negative only": {-5, -1},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewPortPool(r[0], r[1]); !errors.Is(err, ErrInvalidRange) {
				t.Fatalf("NewPortPool(%d, %d) = %v, want ErrInvalidRange", r[0], r[1], err)
			}
		})
	}
}

func TestPortPoolExhaustAndRelease(t *testing.T) {
	lo, hi := freeRange(t, 3)
	pool, err := NewPortPool(lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Listen(netip.Addr{}); !errors.Is(err, ErrInvalidAddr) {
		t.Fatalf("Listen(zero Addr) = %v, want ErrInvalidAddr", err)
	}
	var conns []*Conn
	seen := map[uint16]bool{}
	for range 3 {
		c, err := pool.Listen(loopback)
		if err != nil {
			t.Fatal(err)
		}
		la := c.LocalAddr()
		if la.Addr() != loopback || int(la.Port()) < lo || int(la.Port()) > hi || seen[la.Port()] {
			t.Fatalf("LocalAddr %v: outside %d-%d or repeated", la, lo, hi)
		}
		seen[la.Port()] = true
		conns = append(conns, c)
	}
	if pool.InUse() != 3 {
		t.Fatalf("InUse = %d, want 3", pool.InUse())
	}
	if c, err := pool.Listen(loopback); !errors.Is(err, ErrNoPorts) {
		t.Fatalf("4th Listen = %v, %v; want ErrNoPorts", c, err)
	}

	freed := conns[1].LocalAddr()
	if err := conns[1].Close(); err != nil {
		t.Fatal(err)
	}
	if err := conns[1].Close(); err != nil { // second Close: no effect
		t.Fatal(err)
	}
	if pool.InUse() != 2 {
		t.Fatalf("InUse after Close twice = %d, want 2", pool.InUse())
	}
	c, err := pool.Listen(loopback)
	if err != nil {
		t.Fatalf("Listen after Close: %v", err)
	}
	if c.LocalAddr() != freed {
		t.Fatalf("got %v, want the freed %v", c.LocalAddr(), freed)
	}
	conns[1] = c
	for _, c := range conns {
		c.Close()
	}
	if pool.InUse() != 0 {
		t.Fatalf("InUse after closing all = %d", pool.InUse())
	}
}

func TestPortPoolRoundRobin(t *testing.T) {
	lo, hi := freeRange(t, 3)
	pool, _ := NewPortPool(lo, hi)
	var ports []int
	for range 4 {
		c, err := pool.Listen(loopback)
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, int(c.LocalAddr().Port()))
		c.Close()
	}
	if want := []int{lo, lo + 1, hi, lo}; !slices.Equal(ports, want) {
		t.Fatalf("ports %v, want %v (a freed port is not reused at once)", ports, want)
	}
}

func TestPortPoolSkipsBoundPort(t *testing.T) {
	lo, hi := freeRange(t, 3)
	other, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: lo + 1})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	pool, _ := NewPortPool(lo, hi)
	var got []int
	for range 2 {
		c, err := pool.Listen(loopback)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		got = append(got, int(c.LocalAddr().Port()))
	}
	if want := []int{lo, hi}; !slices.Equal(got, want) {
		t.Fatalf("ports %v, want %v", got, want)
	}
	_, err = pool.Listen(loopback)
	if !errors.Is(err, ErrNoPorts) || !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("Listen with the last port taken = %v, want ErrNoPorts wrapping EADDRINUSE", err)
	}
	if pool.InUse() != 2 {
		t.Fatalf("InUse = %d, want 2 (failed binds are given back)", pool.InUse())
	}
}

func TestPortPoolConcurrentListen(t *testing.T) {
	const n = 50
	lo, hi := freeRange(t, n)
	pool, _ := NewPortPool(lo, hi)
	conns := make([]*Conn, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { conns[i], errs[i] = pool.Listen(loopback) })
	}
	wg.Wait()
	seen := map[uint16]bool{}
	for i, c := range conns {
		if errs[i] != nil {
			t.Fatalf("Listen %d: %v", i, errs[i])
		}
		p := c.LocalAddr().Port()
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
	if pool.InUse() != n {
		t.Fatalf("InUse = %d, want %d", pool.InUse(), n)
	}
	if _, err := pool.Listen(loopback); !errors.Is(err, ErrNoPorts) {
		t.Fatalf("Listen on a full pool = %v", err)
	}
	for _, c := range conns {
		wg.Go(func() { c.Close() })
	}
	wg.Wait()
	if pool.InUse() != 0 {
		t.Fatalf("InUse after Close = %d", pool.InUse())
	}
}

func TestDualStackConn(t *testing.T) {
	probe, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv6unspecified})
	if err != nil {
		t.Skipf("no IPv6 here: %v", err)
	}
	probe.Close()
	lo, hi := freeRange(t, 4)
	pool, _ := NewPortPool(lo, hi)
	c, err := pool.Listen(netip.IPv6Unspecified())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// An IPv4 peer reaches the dual-stack socket, passes an IPv4 filter and gets answers.
	r := NewReceiver(c, ReceiverConfig{})
	rec := &recorder{}
	done := make(chan error, 1)
	go func() { done <- r.Run(rec) }()
	p := newPeer(t, netip.AddrPortFrom(loopback, c.LocalAddr().Port()))
	r.SetRemoteFilter(p.addr())
	p.audio(t, 1)
	rec.waitEvents(t, 1)
	if got := rec.summary(); got != "1" {
		t.Fatalf("events %q, stats %+v", got, r.Stats())
	}
	s := NewSender(c, p.addr(), 0)
	if err := s.WriteFrame(make([]byte, frameSamples)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2000)
	p.uc.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, from, err := p.uc.ReadFromUDPAddrPort(buf)
	if err != nil || n != headerSize+frameSamples || from.Port() != c.LocalAddr().Port() {
		t.Fatalf("answer: %d bytes from %v, %v", n, from, err)
	}
	c.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
