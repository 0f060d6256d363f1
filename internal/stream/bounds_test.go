package stream_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/limit"
	"github.com/callstream/callstream/internal/limit/limittest"
	"github.com/callstream/callstream/internal/logtest"
	"github.com/callstream/callstream/internal/stream"
	"github.com/callstream/callstream/internal/wsapp"
)

// A message over the bound is never held whole: the socket closes with
// 1009 through its own writer (after the flow's stop), says so in a
// warning naming the URL and the bound, counts the refusal and ends with
// ErrMessageTooBig.
func TestMessageOverBoundClosesWith1009(t *testing.T) {
	const bound = 64 << 10
	const size = 32 << 20
	app := listen(t, wsapp.Options{})
	log, logs := logtest.JSON(slog.LevelDebug)
	var ref limittest.Counts
	info := &stream.Info{}
	closed := make(chan error, 1)
	s := stream.Open(stream.SocketConfig{URL: app.URL("/big"), Dialect: testDialect{}, Info: info,
		MaxMessage: bound, Refusals: &ref, Logger: log,
		OnClose: func(_ int, _ string, err error) { closed <- err }})
	f := s.AddFlow(stream.FlowConfig{Info: *info, Tracks: stream.TrackSet(0).With(stream.TrackInbound)})
	f.Push(stream.TrackInbound, 0, ulaw(frame('a')))
	conn := acceptMessages(t, app, 3)
	// A message of exactly the bound is fine.
	if err := conn.SendFrom(false, wsapp.Repeated('x', bound)); err != nil {
		t.Fatal(err)
	}
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	sent := make(chan error, 1)
	go func() { sent <- conn.SendFrom(false, wsapp.Repeated('y', size)) }()
	waitDone(t, s)
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	<-conn.Closed()
	<-sent
	if code, _ := conn.CloseStatus(); code != 1009 {
		t.Fatalf("the app saw close code %d, want 1009", code)
	}
	if err := <-closed; !errors.Is(err, stream.ErrMessageTooBig) {
		t.Fatalf("OnClose err %v, want ErrMessageTooBig", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > size/4 {
		t.Fatalf("%d bytes allocated while a %d-byte message was refused: it was buffered", grew, size)
	}
	got := decodeAll(t, conn)
	if last := got[len(got)-1]; last.Event != "stop" {
		t.Fatalf("last message %q, want stop before the close", last.Event)
	}
	st := s.Stats()
	if !st.TooBig || st.MessagesRecv != 1 || ref.Get(limit.WSMessageTooBig) != 1 {
		t.Fatalf("stats %+v, refusals %d", st, ref.Get(limit.WSMessageTooBig))
	}
	w := logs.Records("WARN", "app message too big: websocket closed with 1009")
	if len(w) != 1 || w[0]["max_message_bytes"] != float64(bound) {
		t.Fatalf("warning %v", w)
	}
}

// Twilio marks past the pending bound are answered at once, oldest first,
// every one of them exactly once and in order, and counted; the control
// queue never overflows however fast the app sends them.
func TestMarkFloodAnsweredInOrder(t *testing.T) {
	const marks, pending = 20000, 100
	app := listen(t, wsapp.Options{})
	var ref limittest.Counts
	log, logs := logtest.JSON(slog.LevelDebug)
	info := &stream.Info{}
	p := stream.NewPlayout(10 * time.Second)
	p.MaxMarks = pending
	s := stream.Open(stream.SocketConfig{URL: app.URL("/"), Dialect: testDialect{}, Info: info, Playout: p,
		ControlQueue: stream.DefaultControlQueue + pending, Refusals: &ref, Logger: log})
	f := s.AddFlow(stream.FlowConfig{Info: *info, Tracks: stream.TrackSet(0).With(stream.TrackInbound)})
	p.OnMark = func(n string) { s.PushMark(f, n) }
	conn, err := app.Accept(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SendText(`{"event":"media","payload":"` + strings.Repeat("z", 8000) + `"}`)
	for i := range marks {
		if err := conn.SendText(fmt.Sprintf(`{"event":"mark","name":"m%d"}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	countMarks := func() (names []string) {
		for _, r := range decodeAll(t, conn) {
			if r.Event == "mark" {
				names = append(names, r.Name)
			}
		}
		return names
	}
	if err := conn.WaitFor(ctxT(t), 2+marks-pending); err != nil {
		t.Fatal(err)
	}
	if p.PendingMarks() != pending {
		t.Fatalf("%d marks pending, want the bound %d", p.PendingMarks(), pending)
	}
	_ = conn.SendText(`{"event":"clear"}`)
	if err := conn.WaitFor(ctxT(t), 2+marks); err != nil {
		t.Fatal(err)
	}
	names := countMarks()
	for i, n := range names {
		if n != fmt.Sprintf("m%d", i) {
			t.Fatalf("mark %d came back as %q", i, n)
		}
	}
	st := s.Stats()
	if len(names) != marks || st.MarksEarly != marks-pending || st.ControlDropped != 0 ||
		ref.Get(limit.MarksPending) != marks-pending || ref.Get(limit.ControlQueueFull) != 0 {
		t.Fatalf("marks back %d; stats %+v; refusals %v", len(names), st, &ref)
	}
	if w := logs.Records("WARN", "mark answered before its audio played: too many marks pending"); len(w) == 0 || len(w) > 5 {
		t.Fatalf("%d warnings, want a few (rate-limited)", len(w))
	}
	s.Close(1000, "")
}

// Marks, dtmf and text over the control queue's bound are dropped, never
// silently: counted, and warned about once a second; start and stop still
// go in.
func TestControlQueueOverflowCounted(t *testing.T) {
	// An app that accepts the TCP connection and never answers the
	// handshake: nothing queued is written.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			_, _ = io.Copy(io.Discard, c)
		}
	}()
	var ref limittest.Counts
	log, logs := logtest.JSON(slog.LevelDebug)
	info := &stream.Info{}
	s := stream.Open(stream.SocketConfig{URL: "ws://" + ln.Addr().String() + "/", Dialect: testDialect{}, Info: info,
		ControlQueue: 8, Refusals: &ref, Logger: log})
	f := s.AddFlow(stream.FlowConfig{Info: *info, Tracks: stream.TrackSet(0).With(stream.TrackInbound)})
	for i := range 10 {
		s.PushMark(f, fmt.Sprint(i))
	}
	f.PushDTMF('5')
	if s.SendText("x") {
		t.Fatal("SendText over the bound reported queued")
	}
	st := s.Stats()
	if st.ControlDropped != 4 || ref.Get(limit.ControlQueueFull) != 4 {
		t.Fatalf("dropped %d, refusals %d, want 4", st.ControlDropped, ref.Get(limit.ControlQueueFull))
	}
	w := logs.Records("WARN", "message to app dropped: control queue full")
	if len(w) != 1 || w[0]["kind"] != "mark" || w[0]["control_queue"] != float64(8) {
		t.Fatalf("warnings %v", w)
	}
	s.StopFlow(f, false) // a stop still fits
	s.Abort()
	waitDone(t, s)
}

// Close returns once the socket has ended and its goroutines are gone,
// also when the app never answers the close: then within a few seconds.
func TestCloseWaitsForTheSocket(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pause bool
	}{{"app answers", false}, {"app reads nothing", true}} {
		t.Run(tc.name, func(t *testing.T) {
			app := listen(t, wsapp.Options{})
			info := &stream.Info{}
			ended := make(chan struct{})
			s := stream.Open(stream.SocketConfig{URL: app.URL("/"), Dialect: testDialect{}, Info: info,
				OnClose: func(int, string, error) { close(ended) }})
			s.AddFlow(stream.FlowConfig{Info: *info, Tracks: stream.TrackSet(0).With(stream.TrackInbound)})
			c := acceptMessages(t, app, 2)
			if tc.pause {
				c.PauseReading()
			}
			start := time.Now()
			if err := s.Close(1000, ""); err != nil {
				t.Fatalf("Close: %v", err)
			}
			select {
			case <-s.Done():
			default:
				t.Fatal("Close returned before the socket ended")
			}
			select {
			case <-ended:
			default:
				t.Fatal("Close returned before OnClose ran")
			}
			if d := time.Since(start); d > 4*time.Second {
				t.Fatalf("Close took %s", d)
			}
			c.ResumeReading()
		})
	}
}
