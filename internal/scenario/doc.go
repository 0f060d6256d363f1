// Package scenario runs VoxEngine-style JavaScript call scenarios: for
// every inbound call (or POST /scenarios) a session evaluates the script in
// its own goja runtime and dispatches AppEvents.Started and
// AppEvents.CallAlerting; the script answers, plays audio and streams the
// call to WebSocket servers with the Voximplant WebSocket module
// (new WebSocket, call.sendMediaTo(ws), ws.sendMediaTo(call),
// clearMediaBuffer, incoming sockets on the session's access URL).
//
// Each session has one event loop goroutine: callbacks never run at the
// same time, and everything from the outside (SIP, media, sockets, timers,
// HTTP) is posted to the loop. As on Voximplant, an exception a callback
// does not catch is logged with its place and stack and the session goes
// on; a throw while the script loads, a callback interrupted by a limit
// (one second, the heap) or a runtime bug ends that session only (its calls
// hung up, its sockets closed). Members of the VoxEngine API callstream
// does not run exist all the same (api.go lists them) and throw, when
// called, an error that names them.
//
// Audio a remote server sends with start/media/stop messages is converted
// once into the format of the unit it plays into (a call's own format, so
// ALAW reaches a PCMA caller unchanged; µ-law for recorders and sockets),
// buffered up to ten seconds per unit and played one 20 ms
// frame per tick by the unit's clock (a call's media clock, or the
// session's clock for sockets and recorders), so the remote may send any
// chunk size faster than real time.
package scenario
