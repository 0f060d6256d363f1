package stream

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"github.com/callstream/callstream/internal/codec"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/wsapp"
)

// maskRef is RFC 6455 §5.3 as written: octet i XOR key octet i mod 4.
func maskRef(p []byte, key [4]byte) {
	for i := range p {
		p[i] ^= key[i%4]
	}
}

func TestMaskBodyMatchesRFC(t *testing.T) {
	for _, n := range []int{0, 1, 3, 4, 7, 8, 9, 15, 16, 17, 300, 1021} {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(i*7 + 3)
		}
		want := bytes.Clone(p)
		k := rand.Uint32()
		var key [4]byte
		binary.LittleEndian.PutUint32(key[:], k)
		maskRef(want, key)
		maskBody(p, k)
		if !bytes.Equal(p, want) {
			t.Fatalf("len %d: mask differs", n)
		}
	}
}

func TestFrameHeaders(t *testing.T) {
	for _, tc := range []struct {
		n    int
		head []byte // header without the masking key
	}{
		{0, []byte{0x81, 0x00}},
		{125, []byte{0x81, 125}},
		{126, []byte{0x81, 126, 0, 126}},
		{65535, []byte{0x81, 126, 0xFF, 0xFF}},
		{65536, []byte{0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0}},
	} {
		body := bytes.Repeat([]byte{'a'}, tc.n)
		b := append(make([]byte, hdrRoom), body...)
		f := frameAt(b, opText, false)
		if !bytes.Equal(f[:len(tc.head)], tc.head) || !bytes.Equal(f[len(tc.head):], body) {
			t.Fatalf("len %d: header % x", tc.n, f[:min(len(f), 10)])
		}
		b = append(make([]byte, hdrRoom), body...)
		f = frameAt(b, opText, true)
		h := bytes.Clone(tc.head)
		h[1] |= 0x80
		if !bytes.Equal(f[:len(h)], h) || len(f) != len(h)+4+tc.n {
			t.Fatalf("len %d masked: header % x, %d bytes", tc.n, f[:min(len(f), 14)], len(f))
		}
		var key [4]byte
		copy(key[:], f[len(h):])
		got := bytes.Clone(f[len(h)+4:])
		maskRef(got, key)
		if !bytes.Equal(got, body) {
			t.Fatalf("len %d masked: body does not unmask", tc.n)
		}
	}
}

// An app reads every length of text frame the socket writes (client frames,
// masked), byte for byte.
func TestTextFramesOfEveryLength(t *testing.T) {
	app, err := wsapp.Listen(wsapp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	s := Open(SocketConfig{URL: app.URL("/"), Dialect: nopDialect{}})
	lens := []int{0, 1, 125, 126, 127, 1000, 65535, 65536, 200000}
	for _, n := range lens {
		s.SendText(strings.Repeat(string(rune('a'+n%26)), n))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := app.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.WaitFor(ctx, len(lens)); err != nil {
		t.Fatal(err)
	}
	for i, m := range c.Messages() {
		if want := strings.Repeat(string(rune('a'+lens[i]%26)), lens[i]); string(m.Data) != want {
			t.Fatalf("message %d: %d bytes, want %d", i, len(m.Data), lens[i])
		}
	}
	s.Close(1000, "")
	<-s.Done()
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
}

// Frames queued while the app's socket buffer is full (the writer blocked,
// then writing what it finds queued in batches) reach the app whole and in
// order once it reads again.
func TestMediaIntactAcrossFullSocketBuffer(t *testing.T) {
	app, err := wsapp.Listen(wsapp.Options{Handler: func(c *wsapp.Conn) { c.PauseReading() }})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	info := &Info{}
	s := Open(SocketConfig{URL: app.URL("/"), Dialect: nopDialect{}, QueueFrames: 20000, WriteTimeout: 5 * time.Second})
	f := s.AddFlow(FlowConfig{Info: *info, Tracks: TrackSet(0).With(TrackInbound)})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := app.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for !s.IsOpen() {
		time.Sleep(time.Millisecond)
	}
	const n = 6000 // about 1.7 MB: far more than the socket buffers hold
	p := make([]byte, FrameBytes)
	for i := range uint64(n) {
		binary.BigEndian.PutUint64(p, i)
		f.Push(TrackInbound, i, ulaw(p))
	}
	c.ResumeReading()
	if err := c.WaitFor(ctx, n+1); err != nil {
		t.Fatalf("%v (stats %+v)", err, s.Stats())
	}
	msgs := c.Messages()
	if string(msgs[0].Data) != "start" {
		t.Fatalf("first message %q", msgs[0].Data)
	}
	for i, m := range msgs[1:] {
		var v struct {
			Payload []byte `json:"p"`
		}
		if err := json.Unmarshal(m.Data, &v); err != nil || len(v.Payload) != FrameBytes {
			t.Fatalf("message %d: %q: %v", i+1, m.Data[:min(len(m.Data), 40)], err)
		}
		if got := binary.BigEndian.Uint64(v.Payload); got != uint64(i) {
			t.Fatalf("message %d carries frame %d", i+1, got)
		}
	}
	if st := s.Stats(); st.MediaDropped != 0 {
		t.Fatalf("dropped %d", st.MediaDropped)
	}
	s.Close(1000, "")
	<-s.Done()
}

// nopDialect writes the bare minimum: "start", {"p":payload}, "stop".
type nopDialect struct{}

func (nopDialect) Name() string                                       { return "nop" }
func (nopDialect) FirstSequence() uint64                              { return 0 }
func (nopDialect) AppendConnected(dst []byte, _ *Info) ([]byte, bool) { return dst, false }
func (nopDialect) AppendStart(dst []byte, _ uint64, _ *Info) []byte   { return append(dst, "start"...) }
func (nopDialect) AppendMedia(dst []byte, _ uint64, _ *Info, m *Media) []byte {
	b, _ := json.Marshal(struct {
		P []byte `json:"p"`
	}{m.Payload})
	return append(dst, b...)
}
func (nopDialect) AppendStop(dst []byte, _ uint64, _ *Info, _ *StopInfo) []byte {
	return append(dst, "stop"...)
}
func (nopDialect) AppendDTMF(dst []byte, _ uint64, _ *Info, _ byte) ([]byte, bool) { return dst, false }
func (nopDialect) AppendMark(dst []byte, _ uint64, _ *Info, _ string) ([]byte, bool) {
	return dst, false
}
func (nopDialect) Decode([]byte, *AppMessage) error { return nil }

// ulaw is a µ-law frame as a call pushes it.
func ulaw(p []byte) codec.Frame { return codec.Frame{Format: codec.PCMU, Payload: p} }
