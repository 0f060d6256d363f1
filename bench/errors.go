package bench

import "errors"

// Errors of a benchmark run.
var (
	// ErrConfig means the configuration is invalid.
	ErrConfig = errors.New("bench: invalid configuration")
	// ErrSetup means calls could not be set up (dial or stream failures).
	ErrSetup = errors.New("bench: call setup failed")
	// ErrTargetExited means the system under test exited during the run.
	ErrTargetExited = errors.New("bench: system under test exited")
	// ErrNotReady means the system under test did not become ready in time.
	ErrNotReady = errors.New("bench: system under test not ready")
)
