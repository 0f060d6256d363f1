//go:build unix

package stream

import "syscall"

const rawWriteSupported = true

// rawWrite is one write() on a non-blocking descriptor.
func rawWrite(fd uintptr, b []byte) (int, error) {
	return syscall.Write(int(fd), b)
}
