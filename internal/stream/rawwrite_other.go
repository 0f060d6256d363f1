//go:build !unix

package stream

import "errors"

const rawWriteSupported = false

// rawWrite is not available here: every frame goes through the writer goroutine.
func rawWrite(uintptr, []byte) (int, error) {
	return 0, errors.New("non-blocking writes not supported")
}
