//go:build linux

package rtpio

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
	"unsafe"
)

// rxState is what Poll needs to read without blocking and without
// allocating: one recvmsg(2) with MSG_DONTWAIT into buffers made once,
// asking for the kernel's receive timestamp (SO_TIMESTAMPNS), so that a
// packet read some milliseconds after it came still has the time it came.
type rxState struct {
	raw   syscall.RawConn
	hdr   syscall.Msghdr
	iov   syscall.Iovec
	name  syscall.RawSockaddrInet6 // room for either family
	oob   [64]byte                 // one SCM_TIMESTAMPNS (32 bytes on 64-bit)
	read  func(fd uintptr) bool    // made once: calls recvmsg on fd
	n     int
	errno syscall.Errno
}

// init prepares Poll for uc and asks the kernel to timestamp arrivals. A
// socket that cannot be prepared leaves Poll reporting the error.
func (s *rxState) init(uc *net.UDPConn, buf []byte) {
	if uc == nil {
		return
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return
	}
	s.raw = raw
	_ = raw.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	})
	s.iov.Base = &buf[0]
	s.iov.SetLen(len(buf))
	s.read = func(fd uintptr) bool {
		s.hdr = syscall.Msghdr{Name: (*byte)(unsafe.Pointer(&s.name)), Namelen: syscall.SizeofSockaddrInet6, Iov: &s.iov, Iovlen: 1,
			Control: &s.oob[0]}
		s.hdr.SetControllen(len(s.oob))
		n, _, e := syscall.Syscall(syscall.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&s.hdr)), syscall.MSG_DONTWAIT)
		s.n, s.errno = int(n), e
		return true // never wait: Poll takes what is there
	}
}

// recv reads one waiting datagram: its length, source and arrival. ok is
// false when nothing waits; err is set when the socket failed or closed.
func (s *rxState) recv() (n int, from netip.AddrPort, at time.Time, ok bool, err error) {
	if s.raw == nil {
		return 0, netip.AddrPort{}, time.Time{}, false, ErrNotPollable
	}
	if rerr := s.raw.Read(s.read); rerr != nil {
		return 0, netip.AddrPort{}, time.Time{}, false, fmt.Errorf("rtpio: read rtp: %w", rerr)
	}
	switch s.errno {
	case 0:
	case syscall.EAGAIN, syscall.EINTR:
		return 0, netip.AddrPort{}, time.Time{}, false, nil
	default:
		// An error queued on the socket (an ICMP report): nothing to read.
		return 0, netip.AddrPort{}, time.Time{}, false, nil
	}
	at = s.stamp()
	return s.n, s.source(), at, true, nil
}

// source decodes the datagram's source address.
func (s *rxState) source() netip.AddrPort {
	switch s.name.Family {
	case syscall.AF_INET:
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&s.name))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&sa.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), port)
	case syscall.AF_INET6:
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&s.name.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom16(s.name.Addr), port)
	}
	return netip.AddrPort{}
}

// stamp returns the kernel's receive time from the control message, or
// now when there is none.
func (s *rxState) stamp() time.Time {
	l := int(s.hdr.Controllen)
	if l >= syscall.SizeofCmsghdr+16 && l <= len(s.oob) {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&s.oob[0]))
		if h.Level == syscall.SOL_SOCKET && h.Type == syscall.SCM_TIMESTAMPNS {
			d := s.oob[syscall.SizeofCmsghdr:]
			return time.Unix(int64(binary.NativeEndian.Uint64(d[0:8])), int64(binary.NativeEndian.Uint64(d[8:16])))
		}
	}
	return time.Now()
}
