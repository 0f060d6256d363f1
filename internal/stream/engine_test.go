package stream_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/callstream/callstream/internal/codec"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/logtest"
	"github.com/callstream/callstream/internal/stream"
	"github.com/callstream/callstream/internal/wsapp"
)

// testDialect is a minimal dialect that writes every field the engine hands
// it, so the tests see exactly what the engine decided.
type testDialect struct{}

func (testDialect) Name() string          { return "test" }
func (testDialect) FirstSequence() uint64 { return 1 }
func (testDialect) AppendConnected(dst []byte, in *stream.Info) ([]byte, bool) {
	return append(dst, `{"event":"connected"}`...), true
}
func (testDialect) AppendStart(dst []byte, seq uint64, in *stream.Info) []byte {
	return fmt.Appendf(dst, `{"event":"start","seq":%d}`, seq)
}
func (testDialect) AppendMedia(dst []byte, seq uint64, in *stream.Info, m *stream.Media) []byte {
	return fmt.Appendf(dst, `{"event":"media","seq":%d,"track":%q,"chunk":%d,"ts":%d,"payload":%q}`,
		seq, m.Track.String(), m.Chunk, m.Timestamp, m.Payload)
}
func (testDialect) AppendStop(dst []byte, seq uint64, in *stream.Info, st *stream.StopInfo) []byte {
	return fmt.Appendf(dst, `{"event":"stop","seq":%d,"bytes":%d}`, seq, st.BytesSent)
}
func (testDialect) AppendDTMF(dst []byte, seq uint64, in *stream.Info, d byte) ([]byte, bool) {
	return fmt.Appendf(dst, `{"event":"dtmf","seq":%d,"digit":%q}`, seq, string(d)), true
}
func (testDialect) AppendMark(dst []byte, seq uint64, in *stream.Info, name string) ([]byte, bool) {
	return fmt.Appendf(dst, `{"event":"mark","seq":%d,"name":%q}`, seq, name), true
}
func (testDialect) Decode(msg []byte, m *stream.AppMessage) error {
	var v struct {
		Event   string `json:"event"`
		Payload string `json:"payload"`
		Name    string `json:"name"`
	}
	if err := json.Unmarshal(msg, &v); err != nil {
		return err
	}
	*m = stream.AppMessage{Event: v.Event}
	switch v.Event {
	case "media":
		m.Kind, m.Payload = stream.MsgMedia, []byte(v.Payload)
	case "clear":
		m.Kind = stream.MsgClear
	case "mark":
		m.Kind, m.Name = stream.MsgMark, v.Name
	}
	return nil
}

type rec struct {
	Event   string `json:"event"`
	Seq     int    `json:"seq"`
	Track   string `json:"track"`
	Chunk   int    `json:"chunk"`
	TS      uint64 `json:"ts"`
	Payload string `json:"payload"`
	Bytes   int    `json:"bytes"`
	Name    string `json:"name"`
	Digit   string `json:"digit"`
}

func decodeAll(t *testing.T, c *wsapp.Conn) []rec {
	t.Helper()
	var out []rec
	for _, m := range c.Messages() {
		var r rec
		if err := json.Unmarshal(m.Data, &r); err != nil {
			t.Fatalf("bad message %q: %v", m.Data, err)
		}
		out = append(out, r)
	}
	return out
}

func frame(b byte) []byte { return bytes.Repeat([]byte{b}, stream.FrameBytes) }

// ulaw is a µ-law frame as a call pushes it.
func ulaw(p []byte) codec.Frame { return codec.Frame{Format: codec.PCMU, Payload: p} }

func listen(t *testing.T, opts wsapp.Options) *wsapp.Server {
	t.Helper()
	s, err := wsapp.Listen(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// acceptMessages accepts the next connection to app and waits until the
// app has n messages from it (2: a stream's connected and start).
func acceptMessages(t *testing.T, app *wsapp.Server, n int) *wsapp.Conn {
	t.Helper()
	c, err := app.Accept(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitFor(ctxT(t), n); err != nil {
		t.Fatal(err)
	}
	return c
}

func waitDone(t *testing.T, s *stream.Socket) {
	t.Helper()
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("socket did not end within 5 s")
	}
}

func TestSocketLifecycleAndSequencing(t *testing.T) {
	app := listen(t, wsapp.Options{})
	info := &stream.Info{CallSid: "c1"}
	s := stream.Open(stream.SocketConfig{URL: app.URL("/s"), Dialect: testDialect{}, Info: info})
	both := stream.TrackSet(0).With(stream.TrackInbound).With(stream.TrackOutbound)
	f := s.AddFlow(stream.FlowConfig{Info: *info, Tracks: both})
	f.Attach(10)
	f.Push(stream.TrackInbound, 9, ulaw(frame('x'))) // before the start index: ignored
	for i := uint64(10); i < 13; i++ {
		f.Push(stream.TrackInbound, i, ulaw(frame('a')))
		f.Push(stream.TrackOutbound, i, ulaw(frame('b')))
		f.Push(stream.TrackMixed, i, ulaw(frame('m'))) // not subscribed
	}
	s.Close(1000, "")
	waitDone(t, s)
	conn, err := app.Accept(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	<-conn.Closed()
	got := decodeAll(t, conn)
	if len(got) != 1+1+6+1 {
		t.Fatalf("got %d messages, want 9: %+v", len(got), got)
	}
	if got[0].Event != "connected" || got[1].Event != "start" || got[1].Seq != 1 || got[8].Event != "stop" {
		t.Fatalf("order: %+v", got)
	}
	for i, r := range got[1:] {
		if r.Seq != i+1 {
			t.Fatalf("message %d seq %d, want %d", i+1, r.Seq, i+1)
		}
	}
	var in, out []rec
	for _, r := range got[2:8] {
		if r.Track == "inbound" {
			in = append(in, r)
		} else {
			out = append(out, r)
		}
	}
	for i := range in {
		if in[i].Chunk != i+1 || out[i].Chunk != i+1 || in[i].TS != uint64(20*i) || out[i].TS != in[i].TS {
			t.Fatalf("frame %d: in %+v out %+v", i, in[i], out[i])
		}
	}
	if got[8].Bytes != 6*160 {
		t.Fatalf("stop bytes %d", got[8].Bytes)
	}
	if code, _ := conn.CloseStatus(); code != 1000 {
		t.Fatalf("close code %d, want 1000", code)
	}
}

func TestMaxLengthStopsAtFrameCount(t *testing.T) {
	app := listen(t, wsapp.Options{})
	info := &stream.Info{}
	s := stream.Open(stream.SocketConfig{URL: app.URL("/"), Dialect: testDialect{}, Info: info})
	f := s.AddFlow(stream.FlowConfig{Info: *info, Tracks: stream.TrackSet(0).With(stream.TrackInbound), MaxLength: 100 * time.Millisecond})
	for i := uint64(0); i < 20; i++ {
		f.Push(stream.TrackInbound, i, ulaw(frame('a')))
	}
	waitDone(t, s)
	conn, _ := app.Accept(ctxT(t))
	<-conn.Closed()
	got := decodeAll(t, conn)
	media := 0
	for _, r := range got {
		if r.Event == "media" {
			media++
		}
	}
	if media != 5 || got[len(got)-1].Event != "stop" {
		t.Fatalf("media %d (want 5), last %q", media, got[len(got)-1].Event)
	}
	if code, _ := conn.CloseStatus(); code != 1000 {
		t.Fatalf("close code %d", code)
	}
}

func TestAbsoluteTimestamps(t *testing.T) {
	app := listen(t, wsapp.Options{})
	info := &stream.Info{}
	clock := time.UnixMilli(1766400000000)
	s := stream.Open(stream.SocketConfig{URL: app.URL("/"), Dialect: testDialect{}, Info: info})
	f := s.AddFlow(stream.FlowConfig{Info: *info, Tracks: stream.TrackSet(0).With(stream.TrackInbound), Clock: clock, Timestamps: stream.TimestampAbsolute})
	f.Push(stream.TrackInbound, 50, ulaw(frame('a')))
	f.Push(stream.TrackInbound, 51, ulaw(frame('a')))
	s.Close(1000, "")
	waitDone(t, s)
	conn, _ := app.Accept(ctxT(t))
	<-conn.Closed()
	got := decodeAll(t, conn)
	if got[2].TS != 1766400000000+1000 || got[3].TS != 1766400000000+1020 {
		t.Fatalf("timestamps %d %d", got[2].TS, got[3].TS)
	}
}

// A slow app never blocks Push: frames beyond the queue are dropped and counted.
func TestSlowAppDropsOldestNeverBlocks(t *testing.T) {
	app := listen(t, wsapp.Options{Handler: func(c *wsapp.Conn) { c.PauseReading() }})
	info := &stream.Info{}
	s := stream.Open(stream.SocketConfig{URL: app.URL("/"), Dialect: testDialect{}, Info: info, QueueFrames: 50, WriteTimeout: time.Second})
	f := s.AddFlow(stream.FlowConfig{Info: *info, Tracks: stream.TrackSet(0).With(stream.TrackInbound)})
	big := make([]byte, stream.FrameBytes)
	var worst time.Duration
	deadline := time.Now().Add(8 * time.Second)
	ended := false
	for i := uint64(0); time.Now().Before(deadline); i++ {
		t0 := time.Now()
		f.Push(stream.TrackInbound, i, ulaw(big))
		if d := time.Since(t0); d > worst {
			worst = d
		}
		if i%100 == 0 {
			select {
			case <-s.Done():
				ended = true
			default:
				time.Sleep(time.Millisecond)
			}
		}
		if ended {
			break
		}
	}
	if worst > 20*time.Millisecond {
		t.Fatalf("Push blocked for %s", worst)
	}
	// The app reads nothing: the write deadline ends the socket.
	if !ended {
		t.Fatal("socket to an app that reads nothing did not end")
	}
	st := s.Stats()
	if st.MediaDropped == 0 {
		t.Fatalf("no frames dropped: %+v", st)
	}
	if s.Err() == nil {
		t.Fatal("want an error for an app that stopped reading")
	}
}

func TestDialFailureEndsSocket(t *testing.T) {
	app := listen(t, wsapp.Options{Refuse: 403})
	info := &stream.Info{}
	var closed sync.WaitGroup
	closed.Add(1)
	var gotErr error
	s := stream.Open(stream.SocketConfig{URL: app.URL("/x"), Dialect: testDialect{}, Info: info,
		OnClose: func(code int, reason string, err error) { gotErr = err; closed.Done() }})
	f := s.AddFlow(stream.FlowConfig{Info: *info, Tracks: stream.TrackSet(0).With(stream.TrackInbound)})
	f.Push(stream.TrackInbound, 0, ulaw(frame('a')))
	waitDone(t, s)
	closed.Wait()
	if gotErr == nil || !bytes.Contains([]byte(gotErr.Error()), []byte("403")) {
		t.Fatalf("err = %v, want the HTTP 403 named", gotErr)
	}
}

func TestAppMessagesDrivePlayout(t *testing.T) {
	app := listen(t, wsapp.Options{})
	info := &stream.Info{}
	p := stream.NewPlayout(time.Second)
	var marks []string
	var mu sync.Mutex
	s := stream.Open(stream.SocketConfig{URL: app.URL("/"), Dialect: testDialect{}, Info: info, Playout: p})
	f := s.AddFlow(stream.FlowConfig{Info: *info, Tracks: stream.TrackSet(0).With(stream.TrackInbound)})
	p.OnMark = func(n string) {
		mu.Lock()
		marks = append(marks, n)
		mu.Unlock()
		s.PushMark(f, n)
	}
	conn, err := app.Accept(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SendText(`{"event":"media","payload":"` + string(bytes.Repeat([]byte{'z'}, 400)) + `"}`)
	_ = conn.SendText(`{"event":"mark","name":"m1"}`)
	_ = conn.SendBinary(bytes.Repeat([]byte{'y'}, 160))
	_ = conn.SendText(`not json`)
	deadline := time.Now().Add(2 * time.Second)
	for p.Buffered() < 560*time.Second/8000 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	dst := make([]byte, 160)
	if !p.ReadFrame(dst) || dst[0] != 'z' {
		t.Fatalf("first frame %q", dst[:4])
	}
	p.ReadFrame(dst)
	mu.Lock()
	if len(marks) != 0 {
		t.Fatalf("mark fired before its audio played: %v", marks)
	}
	mu.Unlock()
	// 80 bytes of z remain, then the binary frame's 160 y: frame 3 is 80 z + 80 y.
	p.ReadFrame(dst)
	if dst[0] != 'z' || dst[79] != 'z' || dst[80] != 'y' {
		t.Fatalf("frame 3 %q", dst)
	}
	mu.Lock()
	if len(marks) != 1 || marks[0] != "m1" {
		t.Fatalf("marks %v", marks)
	}
	mu.Unlock()
	s.Close(1000, "")
	waitDone(t, s)
	if s.Stats().BadMessages != 1 {
		t.Fatalf("bad messages %d, want 1", s.Stats().BadMessages)
	}
	<-conn.Closed()
	got := decodeAll(t, conn)
	if got[len(got)-2].Event != "mark" || got[len(got)-2].Name != "m1" {
		t.Fatalf("mark not sent back: %+v", got)
	}
}

func TestPlayoutClearAndBound(t *testing.T) {
	p := stream.NewPlayout(100 * time.Millisecond) // 800 bytes
	var marks []string
	p.OnMark = func(n string) { marks = append(marks, n) }
	if n := p.Write(make([]byte, 1000)); n != 800 || p.Dropped() != 200 {
		t.Fatalf("accepted %d dropped %d", n, p.Dropped())
	}
	p.Mark("a")
	p.Mark("b")
	p.Clear()
	if p.Buffered() != 0 || len(marks) != 2 {
		t.Fatalf("after clear: buffered %v marks %v", p.Buffered(), marks)
	}
	dst := make([]byte, 160)
	if p.ReadFrame(dst) {
		t.Fatal("audio after clear")
	}
	// A partial frame is held one tick, then played padded.
	p.Write([]byte{1, 2, 3})
	if p.ReadFrame(dst) {
		t.Fatal("partial frame played at once")
	}
	if !p.ReadFrame(dst) || dst[0] != 1 || dst[3] != 0xFF {
		t.Fatalf("partial frame not played padded: %v", dst[:5])
	}
}

func TestQueueNoAllocs(t *testing.T) {
	app := listen(t, wsapp.Options{})
	info := &stream.Info{}
	s := stream.Open(stream.SocketConfig{URL: app.URL("/"), Dialect: testDialect{}, Info: info, QueueFrames: 100000})
	defer func() { s.Abort(); waitDone(t, s) }()
	f := s.AddFlow(stream.FlowConfig{Info: *info, Tracks: stream.TrackSet(0).With(stream.TrackInbound)})
	p := frame('a')
	i := uint64(0)
	allocs := testing.AllocsPerRun(1000, func() {
		f.Push(stream.TrackInbound, i, ulaw(p))
		i++
	})
	if allocs != 0 {
		t.Fatalf("Push allocates %.1f times per frame", allocs)
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	app, _ := wsapp.Listen(wsapp.Options{})
	for i := 0; i < 20; i++ {
		info := &stream.Info{CallSid: strconv.Itoa(i)}
		s := stream.Open(stream.SocketConfig{URL: app.URL("/"), Dialect: testDialect{}, Info: info})
		f := s.AddFlow(stream.FlowConfig{Info: *info, Tracks: stream.TrackSet(0).With(stream.TrackInbound)})
		f.Push(stream.TrackInbound, 0, ulaw(frame('a')))
		s.Close(1000, "")
		waitDone(t, s)
	}
	app.Close()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Fatalf("goroutines: %d before, %d after", before, n)
	}
}

// Warnings about an app's bad messages are rate-limited: at most one a
// second, the next one counting those suppressed meanwhile; every bad
// message is counted and the stream goes on.
func TestBadMessageWarningsRateLimited(t *testing.T) {
	app := listen(t, wsapp.Options{})
	log, logs := logtest.JSON(slog.LevelInfo)
	info := &stream.Info{}
	p := stream.NewPlayout(time.Second)
	s := stream.Open(stream.SocketConfig{URL: app.URL("/"), Dialect: testDialect{}, Info: info, Playout: p, Logger: log})
	conn, err := app.Accept(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	warnings := func() []map[string]any { return logs.Records("WARN", "") }
	for range 20 {
		_ = conn.SendText(`not json`)
	}
	_ = conn.SendText(`{"event":"nosuch"}`)
	deadline := time.Now().Add(2 * time.Second)
	for s.Stats().BadMessages < 21 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if w := warnings(); len(w) != 1 || w[0]["msg"] != "invalid message from app" {
		t.Fatalf("warnings in the first second: %v", w)
	}
	time.Sleep(1100 * time.Millisecond) // past the warnings' one-second window
	_ = conn.SendText(`{"event":"nosuch"}`)
	logs.Wait(t, 2*time.Second, "a second warning", func() bool { return len(warnings()) >= 2 })
	w := warnings()
	if len(w) != 2 || w[1]["msg"] != "unknown message from app" || w[1]["event"] != "nosuch" || w[1]["suppressed"] != float64(20) {
		t.Fatalf("the warning after a second: %v", w)
	}
	// The stream went on: audio still plays.
	_ = conn.SendText(`{"event":"media","payload":"` + string(bytes.Repeat([]byte{'q'}, 160)) + `"}`)
	dst := make([]byte, 160)
	deadline = time.Now().Add(2 * time.Second)
	for !p.ReadFrame(dst) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if dst[0] != 'q' || s.Stats().BadMessages != 22 {
		t.Fatalf("after bad messages: frame %q, bad %d", dst[:4], s.Stats().BadMessages)
	}
	s.Close(1000, "")
	waitDone(t, s)
}
