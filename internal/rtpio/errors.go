package rtpio

import "errors"

// Errors returned by this package.
var (
	// ErrNoPorts means every port of the pool's range is in use or could not be bound.
	ErrNoPorts = errors.New("rtpio: no free RTP port")
	// ErrInvalidRange means a port range is empty or outside 1..65535.
	ErrInvalidRange = errors.New("rtpio: invalid port range")
	// ErrInvalidAddr means Listen was given an invalid IP address.
	ErrInvalidAddr = errors.New("rtpio: invalid listen address")
	// ErrNoRemote means a Sender has no valid remote address to send to.
	ErrNoRemote = errors.New("rtpio: no remote address")
	// ErrPayloadTooLarge means a payload does not fit in one RTP datagram.
	ErrPayloadTooLarge = errors.New("rtpio: payload too large")
	// ErrRunning means Receiver.Run was called while another Run is active.
	ErrRunning = errors.New("rtpio: receiver already running")
)
