package codec

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error this package returns wraps one of them, so
// callers can use errors.Is whatever the detailed message says.
var (
	// ErrUnsupportedRate reports a sample rate (or rate pair) that cannot be
	// converted.
	ErrUnsupportedRate = errors.New("unsupported sample rate")
)

// detailError carries a specific message while matching a sentinel via
// errors.Is.
type detailError struct {
	msg  string
	kind error
}

func (e *detailError) Error() string { return e.msg }
func (e *detailError) Unwrap() error { return e.kind }

// errorf returns an error with the formatted message that wraps kind.
func errorf(kind error, format string, args ...any) error {
	return &detailError{msg: fmt.Sprintf(format, args...), kind: kind}
}
