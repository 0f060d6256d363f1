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
	// ErrUnknownFormat reports a Format this package has no codec for, or
	// whose clock, rate or channels are not its codec's.
	ErrUnknownFormat = errors.New("unknown audio format")
	// ErrUnavailable reports a codec this binary was built without (Opus
	// needs the opus build tag).
	ErrUnavailable = errors.New("codec not built into this binary")
	// ErrBadPayload reports a payload its decoder cannot read (a corrupt
	// Opus packet).
	ErrBadPayload = errors.New("undecodable payload")
	// ErrFrameSize reports PCM an encoder cannot cut into its frames (Opus
	// takes 2.5 to 60 ms at a time).
	ErrFrameSize = errors.New("unsupported frame size")
	// ErrRateMismatch reports stages chained at different sample rates.
	ErrRateMismatch = errors.New("sample rates do not match")
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
