//go:build !linux

package rtpio

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"
)

// rxState is what Poll needs elsewhere than Linux: a read with a deadline
// already past, so that it takes only what waits. The arrival is the time
// of the read.
type rxState struct {
	uc  *net.UDPConn
	buf []byte
}

// init prepares Poll for uc.
func (s *rxState) init(uc *net.UDPConn, buf []byte) { s.uc, s.buf = uc, buf }

// recv reads one waiting datagram: its length, source and arrival. ok is
// false when nothing waits; err is set when the socket failed or closed.
func (s *rxState) recv() (n int, from netip.AddrPort, at time.Time, ok bool, err error) {
	if s.uc == nil {
		return 0, netip.AddrPort{}, time.Time{}, false, ErrNotPollable
	}
	_ = s.uc.SetReadDeadline(time.Now())
	n, from, rerr := s.uc.ReadFromUDPAddrPort(s.buf)
	if rerr != nil {
		if errors.Is(rerr, os.ErrDeadlineExceeded) {
			return 0, netip.AddrPort{}, time.Time{}, false, nil
		}
		return 0, netip.AddrPort{}, time.Time{}, false, fmt.Errorf("rtpio: read rtp: %w", rerr)
	}
	return n, from, time.Now(), true, nil
}
