package baseline

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/sipcaller"
	"github.com/callstream/callstream/internal/wsapp"
)

// start runs a baseline relay in mode towards ws for the test's lifetime.
func start(t *testing.T, mode string, ws *wsapp.Server) *Server {
	t.Helper()
	return startWith(t, Config{Mode: mode}, ws)
}

// startWith runs a baseline relay with cfg towards ws for the test's
// lifetime.
func startWith(t *testing.T, cfg Config, ws *wsapp.Server) *Server {
	t.Helper()
	cfg.HTTPAddr, cfg.WSBase = "127.0.0.1:0", ws.URL("/ws")
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatal(err)
	}
	return s
}

func dial(t *testing.T, s *Server, to string) *sipcaller.Call {
	t.Helper()
	return dialWith(t, s, sipcaller.Config{To: to})
}

func dialWith(t *testing.T, s *Server, cfg sipcaller.Config) *sipcaller.Call {
	t.Helper()
	cli, err := sipcaller.NewClient(sipcaller.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cfg.Target, cfg.From = s.SIPAddr(), "caller"
	c, err := cli.Dial(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Each RTP payload reaches the app as one CarrierX media message, byte for
// byte, after connected and start; hanging up sends stop.
func TestForkRelaysEveryFrame(t *testing.T) {
	ws, err := wsapp.Listen(wsapp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	s := start(t, ModeFork, ws)
	call := dial(t, s, "bench7")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := ws.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if conn.Path != "/ws/bench7" {
		t.Errorf("stream path %q, want /ws/bench7", conn.Path)
	}
	var frames [][]byte
	for i := range 5 {
		f := bytes.Repeat([]byte{byte(i + 1)}, 160)
		frames = append(frames, f)
		if err := call.SendFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := conn.WaitFor(ctx, 2+5); err != nil {
		t.Fatal(err)
	}
	if s.ActiveCalls() != 1 {
		t.Errorf("active calls %d", s.ActiveCalls())
	}
	if err := call.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	<-conn.Closed()
	msgs := conn.Messages()
	if len(msgs) != 8 {
		t.Fatalf("%d messages, want connected, start, 5 media, stop", len(msgs))
	}
	if got := string(msgs[0].Data); got != `{"event":"connected","protocol":"Call","version":"0.2.0"}` {
		t.Errorf("connected: %s", got)
	}
	var startMsg struct {
		Event string
		Start struct {
			CallID string `json:"callId"`
			Tracks []string
		}
	}
	if err := json.Unmarshal(msgs[1].Data, &startMsg); err != nil || startMsg.Event != "start" ||
		startMsg.Start.CallID != call.CallID() || fmt.Sprint(startMsg.Start.Tracks) != "[inbound]" {
		t.Errorf("start: %s (%v)", msgs[1].Data, err)
	}
	for i, m := range msgs[2:7] {
		e, err := m.Parse()
		if err != nil {
			t.Fatal(err)
		}
		p, err := e.Payload()
		if err != nil || !bytes.Equal(p, frames[i]) || string(e.SequenceNumber) != fmt.Sprint(i+2) ||
			string(e.Media.Chunk) != fmt.Sprint(i+1) || string(e.Media.Timestamp) != fmt.Sprint(i*20) || e.Media.Track != "inbound" {
			t.Errorf("media %d: %s", i, m.Data)
		}
	}
	if e, _ := msgs[7].Parse(); e.Event != "stop" {
		t.Errorf("last: %s", msgs[7].Data)
	}
}

// In bidi mode the app's audio comes back to the caller as RTP, one frame
// per 20 ms however fast the app sends it.
func TestBidiPlaysAppAudioPaced(t *testing.T) {
	ws, err := wsapp.Listen(wsapp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	s := start(t, ModeBidi, ws)
	call := dial(t, s, "bench1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := ws.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// 10 frames at once, in chunks that do not align with frames.
	audio := make([]byte, 1600)
	for i := range audio {
		audio[i] = byte(i / 160)
	}
	for off := 0; off < len(audio); off += 400 {
		if err := conn.SendMedia(audio[off : off+400]); err != nil {
			t.Fatal(err)
		}
	}
	// The app's frames come between silence packets of the continuous stream.
	silent := func(p sipcaller.Packet) bool { return bytes.Equal(p.Payload, bytes.Repeat([]byte{0xFF}, 160)) }
	err = call.WaitReceived(ctx, "app audio and silence after it", func(ps []sipcaller.Packet) bool {
		audio := 0
		for _, p := range ps {
			if !silent(p) {
				audio++
			}
		}
		return audio == 10 && silent(ps[len(ps)-1])
	})
	if err != nil {
		t.Fatal(err)
	}
	all := call.Received()
	first := slices.IndexFunc(all, func(p sipcaller.Packet) bool { return !silent(p) })
	got := all[first : first+10]
	for i, p := range got {
		if !bytes.Equal(p.Payload, audio[i*160:(i+1)*160]) {
			t.Errorf("packet %d: payload differs", i)
		}
	}
	for i, p := range all {
		if i == 0 {
			if !p.Marker {
				t.Error("the first packet is not marked")
			}
			continue
		}
		if d := p.Timestamp - all[i-1].Timestamp; d != 160 || p.Seq != all[i-1].Seq+1 || p.Marker {
			t.Errorf("packet %d: timestamp step %d, seq %d after %d, marker %v", i, d, p.Seq, all[i-1].Seq, p.Marker)
		}
	}
	for i, p := range got[1:] {
		if gap := p.Arrival.Sub(got[i].Arrival); gap < 10*time.Millisecond || gap > 30*time.Millisecond {
			t.Errorf("packet %d arrived %s after the previous one, want about 20ms", i+1, gap)
		}
	}
}

// In fork mode the relay still sends the caller a packet every 20 ms, as
// the gateway does with continuous RTP: µ-law silence, consecutive
// sequence numbers, timestamps 160 apart; NoSilence sends nothing.
func TestForkSendsSilenceBack(t *testing.T) {
	ws, err := wsapp.Listen(wsapp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	s := start(t, ModeFork, ws)
	call := dial(t, s, "bench2")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := ws.Accept(ctx); err != nil {
		t.Fatal(err)
	}
	if err := call.WaitPackets(ctx, 25); err != nil {
		t.Fatal(err)
	}
	got := call.Received()[:25]
	for i, p := range got {
		if p.PayloadType != 0 || !bytes.Equal(p.Payload, bytes.Repeat([]byte{0xFF}, 160)) || p.Marker != (i == 0) ||
			(i > 0 && (p.Seq != got[i-1].Seq+1 || p.Timestamp != got[i-1].Timestamp+160 || p.SSRC != got[0].SSRC)) {
			t.Fatalf("packet %d: pt %d seq %d ts %d marker %v, %d bytes", i, p.PayloadType, p.Seq, p.Timestamp, p.Marker, len(p.Payload))
		}
	}
	st := sipcaller.Summarize(call.Format(), call.PayloadType(), 0, 0, got)
	if st.Silent != 25 || st.Gaps.P50 < 10*time.Millisecond || st.Gaps.P50 > 40*time.Millisecond {
		t.Errorf("stats %+v", st)
	}

	// A PCMA call hears A-law silence.
	alaw := dialWith(t, s, sipcaller.Config{To: "bench3", Codec: "PCMA", Only: true})
	if _, err := ws.Accept(ctx); err != nil {
		t.Fatal(err)
	}
	if err := alaw.WaitPackets(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if p := alaw.Received()[2]; p.PayloadType != 8 || !bytes.Equal(p.Payload, bytes.Repeat([]byte{0xD5}, 160)) {
		t.Errorf("A-law call heard pt %d % x", p.PayloadType, p.Payload[:4])
	}
}

func TestNoSilenceSendsNothing(t *testing.T) {
	ws, err := wsapp.Listen(wsapp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	s := startWith(t, Config{Mode: ModeFork, NoSilence: true}, ws)
	call := dial(t, s, "bench4")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := ws.Accept(ctx); err != nil {
		t.Fatal(err)
	}
	short, stop := context.WithTimeout(ctx, 300*time.Millisecond)
	defer stop()
	if err := call.WaitPackets(short, 1); err == nil {
		t.Fatalf("the caller got %d packets with NoSilence", len(call.Received()))
	}
}

func TestConfigErrors(t *testing.T) {
	if _, err := New(Config{WSBase: "ws://x", Mode: "sideways"}); err == nil {
		t.Error("unknown mode accepted")
	}
	if _, err := New(Config{}); err == nil {
		t.Error("missing WebSocket base accepted")
	}
	if _, err := New(Config{WSBase: "ws://x", SIPAddr: "localhost:0"}); err == nil {
		t.Error("host name accepted as SIP address")
	}
}
