package rtpio

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// PortPool hands out UDP ports from an inclusive range; safe for concurrent use.
//
// Ports are tried round-robin: each Listen starts just after the port handed
// out last, so a port freed by a finished call is reused as late as possible
// and stray packets of the old call are unlikely to reach a new one. Every
// port of the range may be used (no even/odd RTCP pairing).
type PortPool struct {
	min, max int

	mu    sync.Mutex
	used  []bool // indexed by port-min; guarded by mu
	next  int    // offset of the next port to try; guarded by mu
	inUse int    // guarded by mu
}

// NewPortPool returns a pool of the ports min..max (both included).
// It returns ErrInvalidRange unless 1 <= min <= max <= 65535.
func NewPortPool(min, max int) (*PortPool, error) {
	if min < 1 || max > 65535 || min > max {
		return nil, fmt.Errorf("%w: %d-%d", ErrInvalidRange, min, max)
	}
	return &PortPool{min: min, max: max, used: make([]bool, max-min+1)}, nil
}

// Listen binds a UDP socket on ip and a free port of the range. A port that
// cannot be bound (for example one held by another process) is skipped and
// the next ports are tried round-robin. It returns ErrNoPorts when every port
// of the range is in use or failed to bind.
func (p *PortPool) Listen(ip netip.Addr) (*Conn, error) {
	if !ip.IsValid() {
		return nil, ErrInvalidAddr
	}
	ip = ip.Unmap()
	network := "udp4"
	switch {
	case ip.Is6() && ip.IsUnspecified():
		network = "udp" // dual stack
	case ip.Is6():
		network = "udp6"
	}
	var lastErr error
	for range len(p.used) {
		port, ok := p.reserve()
		if !ok {
			break
		}
		addr := net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, uint16(port)))
		uc, err := net.ListenUDP(network, addr)
		if err != nil {
			lastErr = err
			p.release(port)
			continue
		}
		local := uc.LocalAddr().(*net.UDPAddr).AddrPort()
		local = netip.AddrPortFrom(local.Addr().Unmap(), local.Port())
		return &Conn{uc: uc, local: local, pool: p, port: port}, nil
	}
	if lastErr != nil {
		return nil, fmt.Errorf("%w in %d-%d (last bind error: %w)", ErrNoPorts, p.min, p.max, lastErr)
	}
	return nil, fmt.Errorf("%w in %d-%d", ErrNoPorts, p.min, p.max)
}

// InUse returns how many ports are handed out and not yet closed.
func (p *PortPool) InUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inUse
}

// reserve marks the next unused port of the range as used and returns it.
func (p *PortPool) reserve() (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.used)
	for i := range n {
		off := (p.next + i) % n
		if !p.used[off] {
			p.used[off] = true
			p.inUse++
			p.next = (off + 1) % n
			return p.min + off, true
		}
	}
	return 0, false
}

// release returns a reserved port to the pool.
func (p *PortPool) release(port int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.used[port-p.min] = false
	p.inUse--
}

// Conn is one call's RTP socket; Close releases the port back to the pool
// (exactly once). A Receiver may read and a Sender write on the same Conn at
// the same time (symmetric RTP).
type Conn struct {
	uc    *net.UDPConn   // owned; closed by Close
	local netip.AddrPort // bound address, IPv4 unmapped
	pool  *PortPool      // borrowed; gets port back on Close
	port  int

	once sync.Once
}

// LocalAddr returns the address the socket is bound to.
func (c *Conn) LocalAddr() netip.AddrPort { return c.local }

// Close closes the socket, which ends a Receiver's Run, and gives the port
// back to the pool. Only the first call has an effect; later calls return nil.
func (c *Conn) Close() error {
	err := error(nil)
	c.once.Do(func() {
		if cerr := c.uc.Close(); cerr != nil {
			err = fmt.Errorf("rtpio: close port %d: %w", c.port, cerr)
		}
		c.pool.release(c.port)
	})
	return err
}
