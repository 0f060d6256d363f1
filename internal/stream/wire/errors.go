package wire

import "errors"

// Errors reported by the reader. They are wrapped with details.
var (
	// ErrSyntax reports text that is not valid JSON.
	ErrSyntax = errors.New("invalid JSON")
	// ErrType reports a JSON value of another type than the one asked for.
	ErrType = errors.New("wrong JSON type")
	// ErrNotUint reports a value that is neither an unsigned integer
	// number nor a string holding one.
	ErrNotUint = errors.New("not an unsigned integer")
	// ErrRange reports a number too large for its field.
	ErrRange = errors.New("out of range")
	// ErrMissing reports a required member that is absent; the member's
	// name follows it in the message.
	ErrMissing = errors.New("missing field")
)
