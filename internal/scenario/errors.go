package scenario

import "errors"

// Errors of the scenario runtime: the errors the package makes wrap one of
// them.
var (
	// ErrScript is a scenario that does not compile or throws.
	ErrScript = errors.New("scenario script error")
	// ErrCallbackTimeout is a callback that ran longer than the limit.
	ErrCallbackTimeout = errors.New("scenario callback ran too long")
	// ErrTooManyTimers is a setTimeout or setInterval beyond the limit.
	ErrTooManyTimers = errors.New("too many timers")
	// ErrNotSupported is an API callstream does not run yet.
	ErrNotSupported = errors.New("not supported yet")
	// ErrEncoding is an unknown WebSocketAudioEncoding or a sample rate that
	// does not match it.
	ErrEncoding = errors.New("bad audio encoding")
	// ErrOpus is an OPUS stream in a build without OPUS, or an Opus codec failure.
	ErrOpus = errors.New("opus")
	// ErrClosed is the runtime or session no longer accepting work.
	ErrClosed = errors.New("scenario runtime closed")
	// ErrPlayback is audio that could not be fetched, decoded or synthesized.
	ErrPlayback = errors.New("playback failed")
	// ErrNotOpen is a send on a WebSocket that is not open.
	ErrNotOpen = errors.New("websocket is not open")
	// ErrTooManySessions is a session refused because Bounds.Sessions
	// sessions run already.
	ErrTooManySessions = errors.New("too many scenario sessions")
	// ErrHeapLimit is a callback that grew the heap, or asked for one
	// allocation, past Bounds.ScenarioHeap; its session ends.
	ErrHeapLimit = errors.New("scenario heap limit")
)
