package stream_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/stream"
	"github.com/callstream/callstream/internal/wsapp"
)

// numbered returns frame i: its number, then padding, so every frame's
// payload is its own.
func numbered(i int) []byte {
	b := []byte(fmt.Sprintf("%08d", i))
	for len(b) < stream.FrameBytes {
		b = append(b, '.')
	}
	return b
}

// waitStats polls the socket's figures until cond holds (the socket's
// writer goroutine moves them; no event is there to wait on).
func waitStats(t *testing.T, s *stream.Socket, what string, cond func(stream.SocketStats) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond(s.Stats()) {
		if time.Now().After(deadline) {
			t.Fatalf("within 10 s: %s (stats %+v)", what, s.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// An app whose connection drops and that comes back on the same address
// gets connected and a new start on a new connection, sequence numbers
// going on, then every frame: the last ones of the old connection again
// (same chunk, same timestamp) and those queued meanwhile. Nothing is lost.
func TestReconnectAfterDropLosesNothing(t *testing.T) {
	app, err := wsapp.Listen(wsapp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	addr := app.Addr()
	var closeErr error
	var closeMu sync.Mutex
	info := &stream.Info{CallSid: "c1"}
	s := stream.Open(stream.SocketConfig{URL: app.URL("/r"), Dialect: testDialect{}, Info: info, Reconnect: 5 * time.Second,
		OnClose: func(_ int, _ string, err error) { closeMu.Lock(); closeErr = err; closeMu.Unlock() }})
	f := s.AddFlow(stream.FlowConfig{Info: *info, Tracks: stream.TrackSet(0).With(stream.TrackInbound)})
	c1, err := app.Accept(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	const total = 200
	i := 0
	for ; i < 50; i++ {
		f.Push(stream.TrackInbound, uint64(i), ulaw(numbered(i)))
	}
	if err := c1.WaitFor(ctxT(t), 2+50); err != nil {
		t.Fatal(err)
	}
	// The app goes away without a close frame (the listener first, so no
	// reconnect reaches the dying app); frames keep coming.
	app.Close()
	for ; i < 100; i++ {
		f.Push(stream.TrackInbound, uint64(i), ulaw(numbered(i)))
	}
	waitStats(t, s, "reconnect attempts failing while the app is away", func(st stream.SocketStats) bool { return st.ReconnectAttempts >= 2 })
	for ; i < 150; i++ {
		f.Push(stream.TrackInbound, uint64(i), ulaw(numbered(i)))
	}
	app2, err := wsapp.Listen(wsapp.Options{Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app2.Close() })
	c2, err := app2.Accept(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	// The app has upgraded the connection; the socket is back once it has
	// read the handshake's answer too.
	waitStats(t, s, "reconnected", func(st stream.SocketStats) bool { return st.Reconnects == 1 })
	for ; i < total; i++ {
		f.Push(stream.TrackInbound, uint64(i), ulaw(numbered(i)))
	}
	if err := s.Close(1000, ""); err != nil {
		t.Fatalf("Close: %v", err)
	}
	<-c2.Closed()

	old, now := decodeAll(t, c1), decodeAll(t, c2)
	if now[0].Event != "connected" || now[1].Event != "start" || now[len(now)-1].Event != "stop" {
		t.Fatalf("new connection: first %q %q, last %q", now[0].Event, now[1].Event, now[len(now)-1].Event)
	}
	// Messages written to the old connection after the app left are lost
	// to it, but were counted: the new connection goes on after them.
	if now[1].Seq <= old[len(old)-1].Seq {
		t.Fatalf("start on the new connection has seq %d, the old one ended at %d", now[1].Seq, old[len(old)-1].Seq)
	}
	for k := 2; k < len(now); k++ {
		if now[k].Seq != now[k-1].Seq+1 {
			t.Fatalf("new connection: seq %d after %d", now[k].Seq, now[k-1].Seq)
		}
	}
	byChunk := map[int]rec{}
	lastOld := 0
	for _, r := range old {
		if r.Event == "media" {
			byChunk[r.Chunk] = r
			lastOld = r.Chunk
		}
	}
	prev := 0
	for _, r := range now {
		if r.Event != "media" {
			continue
		}
		if prev == 0 && r.Chunk > lastOld+1 {
			t.Fatalf("new connection starts at chunk %d, the old one ended at %d: frames lost", r.Chunk, lastOld)
		}
		if prev != 0 && r.Chunk != prev+1 {
			t.Fatalf("new connection: chunk %d after %d", r.Chunk, prev)
		}
		if o, ok := byChunk[r.Chunk]; ok && (o.Payload != r.Payload || o.TS != r.TS) {
			t.Fatalf("chunk %d sent again with other audio or time", r.Chunk)
		}
		byChunk[r.Chunk] = r
		prev = r.Chunk
	}
	for k := 1; k <= total; k++ {
		r, ok := byChunk[k]
		if !ok || r.Payload != string(numbered(k-1)) || r.TS != uint64(20*(k-1)) {
			t.Fatalf("chunk %d: %v %+v, want frame %d", k, ok, r, k-1)
		}
	}
	st := s.Stats()
	if st.Reconnects != 1 || st.ReconnectFailed || st.MediaDropped != 0 || st.OutageMs <= 0 {
		t.Fatalf("stats %+v", st)
	}
	closeMu.Lock()
	defer closeMu.Unlock()
	if closeErr != nil || s.Err() != nil {
		t.Fatalf("a reconnected socket ended with %v", closeErr)
	}
}

// When the app does not come back in time the socket ends with
// ErrReconnectFailed, wrapping what dropped it.
func TestReconnectGivesUp(t *testing.T) {
	app, err := wsapp.Listen(wsapp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	info := &stream.Info{}
	closed := make(chan error, 1)
	s := stream.Open(stream.SocketConfig{URL: app.URL("/"), Dialect: testDialect{}, Info: info, Reconnect: 400 * time.Millisecond,
		OnClose: func(_ int, _ string, err error) { closed <- err }})
	s.AddFlow(stream.FlowConfig{Info: *info, Tracks: stream.TrackSet(0).With(stream.TrackInbound)})
	acceptMessages(t, app, 2)
	start := time.Now()
	app.Close() // the listener, then the connection, without a close frame
	waitDone(t, s)
	err = <-closed
	if !errors.Is(err, stream.ErrReconnectFailed) || !errors.Is(err, stream.ErrDial) {
		t.Fatalf("err %v, want ErrReconnectFailed wrapping the dial error", err)
	}
	if d := time.Since(start); d < 400*time.Millisecond {
		t.Fatalf("gave up after %s, before the 400 ms reconnect time", d)
	}
	if st := s.Stats(); !st.ReconnectFailed || st.ReconnectAttempts < 2 || st.Reconnects != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// A clean close frame from the app, or a socket without Reconnect, ends the
// socket: no reconnect.
func TestNoReconnectOnCloseFrameOrWhenOff(t *testing.T) {
	for _, tc := range []struct {
		name      string
		reconnect time.Duration
		abort     bool
	}{
		{"close frame", 5 * time.Second, false},
		{"reconnect off", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := listen(t, wsapp.Options{})
			info := &stream.Info{}
			s := stream.Open(stream.SocketConfig{URL: app.URL("/"), Dialect: testDialect{}, Info: info, Reconnect: tc.reconnect})
			s.AddFlow(stream.FlowConfig{Info: *info, Tracks: stream.TrackSet(0).With(stream.TrackInbound)})
			c := acceptMessages(t, app, 2)
			if tc.abort {
				c.Abort()
			} else {
				_ = c.Close(1000, "bye")
			}
			waitDone(t, s)
			if st := s.Stats(); st.ReconnectAttempts != 0 {
				t.Fatalf("%d reconnect attempts", st.ReconnectAttempts)
			}
			if n := len(app.Conns()); n != 1 {
				t.Fatalf("%d connections, want 1", n)
			}
			if tc.abort && s.Err() == nil {
				t.Fatal("a dropped connection ended without an error")
			}
			if !tc.abort && s.Err() != nil {
				t.Fatalf("a clean close ended with %v", s.Err())
			}
		})
	}
}

// Closing a socket while it waits to reconnect ends it at once.
func TestCloseWhileReconnecting(t *testing.T) {
	app, err := wsapp.Listen(wsapp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	info := &stream.Info{}
	s := stream.Open(stream.SocketConfig{URL: app.URL("/"), Dialect: testDialect{}, Info: info, Reconnect: time.Minute})
	s.AddFlow(stream.FlowConfig{Info: *info, Tracks: stream.TrackSet(0).With(stream.TrackInbound)})
	acceptMessages(t, app, 2)
	app.Close() // the listener, then the connection, without a close frame
	waitStats(t, s, "reconnecting", func(st stream.SocketStats) bool { return st.ReconnectAttempts >= 1 })
	start := time.Now()
	err = s.Close(1000, "")
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close took %s during a reconnect", d)
	}
	if err == nil {
		t.Fatal("a stream closed while its app was away ended without the drop as its error")
	}
}
