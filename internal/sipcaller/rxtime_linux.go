package sipcaller

import (
	"encoding/binary"
	"net"
	"syscall"
	"time"
)

// Kernel receive timestamps: a packet's arrival is the time the kernel
// took it (SO_TIMESTAMPNS), not when this process got round to reading it,
// so timing measured at the caller is the sender's and the network's, not
// this process's scheduling.

// oobSize is room for one SCM_TIMESTAMPNS control message.
var oobSize = syscall.CmsgSpace(16)

// stampArrivals asks the kernel to timestamp the packets conn receives.
func stampArrivals(conn *net.UDPConn) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	})
}

// arrivalOf returns the kernel's timestamp in the control messages oob,
// or now when there is none.
func arrivalOf(oob []byte, now time.Time) time.Time {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return now
	}
	for _, m := range msgs {
		if m.Header.Level == syscall.SOL_SOCKET && m.Header.Type == syscall.SCM_TIMESTAMPNS && len(m.Data) >= 16 {
			sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
			nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
			return time.Unix(sec, nsec)
		}
	}
	return now
}
