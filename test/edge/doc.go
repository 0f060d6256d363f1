// Package edge holds integration tests that attack a real `callstream serve`
// process the way hostile or careless peers do — oversized WebSocket
// messages, connection and INVITE floods, unauthenticated requests, stray
// RTP, private URLs, vanished callers — and check the documented outcome:
// the affected call or request handled as documented, every other call
// intact, and goroutines, file descriptors and RTP ports back to their
// baseline.
package edge
