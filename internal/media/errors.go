package media

import (
	"errors"
	"fmt"

	"github.com/callstream/callstream/internal/codec"
)

// Sentinel errors. Every error this package returns wraps one of them, so
// callers can use errors.Is whatever the detailed message says.
var (
	// ErrNotWAV reports input that is not a RIFF/WAVE file.
	ErrNotWAV = errors.New("wav: not a RIFF/WAVE file")
	// ErrTruncated reports a WAV file that ends inside a header or chunk.
	ErrTruncated = errors.New("wav: truncated file")
	// ErrMalformed reports a WAV file whose structure is inconsistent.
	ErrMalformed = errors.New("wav: malformed file")
	// ErrUnsupportedFormat reports an audio format or encoding this package
	// cannot handle.
	ErrUnsupportedFormat = errors.New("unsupported audio format")
	// ErrUnsupportedRate reports a sample rate this package cannot handle:
	// the codec package's sentinel, so errors.Is matches either way.
	ErrUnsupportedRate = codec.ErrUnsupportedRate
	// ErrMalformedMP3 reports MPEG audio the decoder cannot decode.
	ErrMalformedMP3 = errors.New("mp3: malformed audio")
	// ErrNotMono reports audio with more than one channel where mono is needed.
	ErrNotMono = errors.New("audio is not mono")
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
