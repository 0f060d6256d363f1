package fetch

import (
	"errors"
	"fmt"
	"io"
)

// ErrTooLarge is wrapped by the error of a response body over its bound.
var ErrTooLarge = errors.New("fetch: response too large")

// LimitReader returns a reader of r that fails with an error wrapping
// ErrTooLarge once more than limit bytes would be read (where
// io.LimitReader ends quietly).
func LimitReader(r io.Reader, limit int64) io.Reader {
	return &limitedReader{r: r, left: limit, limit: limit}
}

type limitedReader struct {
	r     io.Reader
	left  int64
	limit int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, l.limit)
	}
	// Read one byte past the bound, to tell "exactly limit" from "more".
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n + int(l.left), fmt.Errorf("%w: more than %d bytes", ErrTooLarge, l.limit)
	}
	return n, err
}

// ReadAll reads r whole, failing with an error wrapping ErrTooLarge when
// it holds more than limit bytes.
func ReadAll(r io.Reader, limit int64) ([]byte, error) {
	return io.ReadAll(LimitReader(r, limit))
}
