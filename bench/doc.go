// Package bench is callstream's load generator: it places many SIP calls
// against a gateway (or the baseline relay in bench/baseline), sends real
// 20 ms µ-law RTP on a paced clock, runs the FlexML app and the WebSocket
// app the gateway streams to, and measures every frame end to end on one
// process clock: added latency, loss, duplicates and order on the way to
// the app; for bidirectional streams also the round trip back to the
// caller, the caller's inter-arrival gaps and playback underruns. It samples
// the system under test from /proc (CPU, RSS, threads, open files) and its
// goroutines, and reports a table, JSON and an SVG plot.
//
// Every frame carries its identity in its payload (see PutFrameID): PCMU
// passes through the gateway byte for byte, so the app side and the caller
// side can look up when each frame was sent.
package bench
