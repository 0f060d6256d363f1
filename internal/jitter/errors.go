package jitter

import "errors"

// ErrInvalidConfig means New was given a Config it cannot build a Buffer
// from; the wrapping error names the field and the value.
var ErrInvalidConfig = errors.New("jitter: invalid config")
