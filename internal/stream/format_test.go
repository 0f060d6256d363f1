package stream_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"testing"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/scenario/voxtest"
	"github.com/callstream/callstream/internal/stream"
	"github.com/callstream/callstream/internal/wsapp"
)

// b64Dialect is testDialect with the media payload in base64, so that any
// bytes survive the JSON.
type b64Dialect struct{ testDialect }

func (b64Dialect) AppendMedia(dst []byte, seq uint64, _ *stream.Info, m *stream.Media) []byte {
	return fmt.Appendf(dst, `{"event":"media","seq":%d,"track":%q,"chunk":%d,"ts":%d,"payload":%q}`,
		seq, m.Track.String(), m.Chunk, m.Timestamp, base64.StdEncoding.EncodeToString(m.Payload))
}

// mediaRec is one media message as the app got it.
type mediaRec struct {
	Track   string
	Chunk   uint64
	TS      uint64
	Payload []byte
}

// runFlow opens a socket to a real WebSocket server, adds a flow of cfg,
// lets push feed it, closes the socket and returns the media messages the
// server received, in order.
func runFlow(t *testing.T, cfg stream.FlowConfig, push func(f *stream.Flow)) []mediaRec {
	t.Helper()
	app := listen(t, wsapp.Options{})
	info := &stream.Info{CallSid: "c1"}
	s := stream.Open(stream.SocketConfig{URL: app.URL("/f"), Dialect: b64Dialect{}, Info: info, QueueFrames: 10000})
	cfg.Info = *info
	f := s.AddFlow(cfg)
	push(f)
	s.Close(1000, "")
	waitDone(t, s)
	conn, err := app.Accept(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	<-conn.Closed()
	var out []mediaRec
	for _, m := range conn.Messages() {
		var v struct {
			Event, Track, Payload string
			Chunk, TS             uint64
		}
		if err := json.Unmarshal(m.Data, &v); err != nil {
			t.Fatalf("bad message %q: %v", m.Data, err)
		}
		if v.Event != "media" {
			continue
		}
		p, err := base64.StdEncoding.DecodeString(v.Payload)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, mediaRec{Track: v.Track, Chunk: v.Chunk, TS: v.TS, Payload: p})
	}
	return out
}

// joined returns the payloads of track joined.
func joined(recs []mediaRec, track string) []byte {
	var b []byte
	for _, r := range recs {
		if r.Track == track {
			b = append(b, r.Payload...)
		}
	}
	return b
}

var inbound = stream.TrackSet(0).With(stream.TrackInbound)

// numberedFrames returns n frames of size bytes, each different.
func numberedFrames(n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = make([]byte, size)
		for j := range out[i] {
			out[i][j] = byte(i*31 + j*7)
		}
	}
	return out
}

// A frame in the wire's own encoding goes out byte for byte: PCMU frames
// to a µ-law stream, PCMA frames to an A-law one.
func TestFlowPassThroughBytes(t *testing.T) {
	for _, f := range []codec.Format{codec.PCMU, codec.PCMA} {
		t.Run(f.Name, func(t *testing.T) {
			frames := numberedFrames(50, 160)
			got := runFlow(t, stream.FlowConfig{Tracks: inbound, Wire: f}, func(fl *stream.Flow) {
				for i, p := range frames {
					fl.Push(stream.TrackInbound, uint64(i), codec.Frame{Format: f, Payload: p})
				}
			})
			if want := bytes.Join(frames, nil); !bytes.Equal(joined(got, "inbound"), want) {
				t.Fatalf("%d bytes out, want the %d pushed unchanged", len(joined(got, "inbound")), len(want))
			}
		})
	}
}

// A PCMA call streamed as L16 is decoded from A-law directly: every
// sample is the A-law byte's value (no µ-law in between).
func TestFlowPCMAToL16(t *testing.T) {
	frames := numberedFrames(20, 160)
	got := runFlow(t, stream.FlowConfig{Tracks: inbound, Wire: codec.L16(8000)}, func(fl *stream.Flow) {
		for i, p := range frames {
			fl.Push(stream.TrackInbound, uint64(i), codec.Frame{Format: codec.PCMA, Payload: p})
		}
	})
	want := codec.SamplesToPCM16LE(nil, codec.DecodeALaw(nil, bytes.Join(frames, nil)))
	if !bytes.Equal(joined(got, "inbound"), want) {
		t.Fatal("the L16 stream is not the A-law frames decoded")
	}
	for _, r := range got {
		if len(r.Payload) != 320 {
			t.Fatalf("payload of %d bytes, want 320", len(r.Payload))
		}
	}
}

// Mixed frames (L16 at the call's rate) go to a µ-law stream encoded once.
func TestFlowMixedL16ToULaw(t *testing.T) {
	pcm := voxtest.Tone(20*160, 8000, 440, 9000)
	got := runFlow(t, stream.FlowConfig{Tracks: stream.TrackSet(0).With(stream.TrackMixed)}, func(fl *stream.Flow) {
		for i := range 20 {
			p := codec.SamplesToPCM16LE(nil, pcm[i*160:(i+1)*160])
			fl.Push(stream.TrackMixed, uint64(i), codec.Frame{Format: codec.L16(8000), Payload: p})
		}
	})
	if want := codec.EncodeULaw(nil, pcm); !bytes.Equal(joined(got, "mixed"), want) {
		t.Fatal("the µ-law stream is not the mixed PCM encoded")
	}
}

// A G.722 call streamed as L16 at 16 kHz carries real wideband audio: a
// 6 kHz tone (above what 8 kHz audio can hold) comes through clean.
func TestFlowG722ToWideband(t *testing.T) {
	const frames = 50
	tone := voxtest.Tone(frames*320, 16000, 6000, 8000)
	enc, err := codec.NewEncoder(codec.G722)
	if err != nil {
		t.Fatal(err)
	}
	var g722 [][]byte
	for i := range frames {
		p, err := enc.Encode(nil, tone[i*320:(i+1)*320])
		if err != nil || len(p) != 160 {
			t.Fatalf("G.722 frame of %d bytes: %v", len(p), err)
		}
		g722 = append(g722, p)
	}
	got := runFlow(t, stream.FlowConfig{Tracks: inbound, Wire: codec.L16(16000), Timestamps: stream.TimestampSamples}, func(fl *stream.Flow) {
		fl.Attach(7)
		for i, p := range g722 {
			fl.Push(stream.TrackInbound, uint64(7+i), codec.Frame{Format: codec.G722, Payload: p})
		}
	})
	if len(got) != frames {
		t.Fatalf("%d media messages, want %d", len(got), frames)
	}
	for i, r := range got {
		if len(r.Payload) != 640 || r.Chunk != uint64(i+1) || r.TS != uint64(320*i) {
			t.Fatalf("message %d: %d bytes, chunk %d, timestamp %d; want 640, %d, %d", i, len(r.Payload), r.Chunk, r.TS, i+1, 320*i)
		}
	}
	s := codec.PCM16LEToSamples(nil, joined(got, "inbound"))[1600:] // past the codec's start
	p := voxtest.Power(s, 16000, 6000)
	if snr := 10 * log10(p/(voxtest.MeanPower(s)-p)); snr < 20 {
		t.Fatalf("6 kHz tone SNR %.1f dB, want > 20", snr)
	}
}

// The tracks of a flow count from the slot it was attached at: the same
// slot has the same chunk and timestamp on every track, whatever order
// the frames are pushed in; frames before it are left out.
func TestFlowAlignedTracks(t *testing.T) {
	both := stream.TrackSet(0).With(stream.TrackInbound).With(stream.TrackOutbound)
	const start, n = 1000, 40
	got := runFlow(t, stream.FlowConfig{Tracks: both}, func(fl *stream.Flow) {
		fl.Attach(start)
		fl.Push(stream.TrackOutbound, start-1, pcmu(frame(1))) // before the start: left out
		for i := uint64(0); i < n; i++ {
			slot := start + i
			fl.Push(stream.TrackOutbound, slot, pcmu(frame(byte(slot))))
			if i%3 == 2 {
				continue // an inbound frame lost in the call: a gap in its chunks
			}
			fl.Push(stream.TrackInbound, slot, pcmu(frame(byte(slot))))
		}
	})
	byChunk := map[string]map[uint64]mediaRec{"inbound": {}, "outbound": {}}
	for _, r := range got {
		byChunk[r.Track][r.Chunk] = r
	}
	if len(byChunk["outbound"]) != n || len(byChunk["inbound"]) != n-n/3 {
		t.Fatalf("%d outbound and %d inbound messages", len(byChunk["outbound"]), len(byChunk["inbound"]))
	}
	for chunk, out := range byChunk["outbound"] {
		slot := start + chunk - 1
		if out.TS != 20*(chunk-1) || out.Payload[0] != byte(slot) {
			t.Fatalf("outbound chunk %d: timestamp %d, frame of slot %d", chunk, out.TS, out.Payload[0])
		}
		if in, ok := byChunk["inbound"][chunk]; ok && (in.TS != out.TS || in.Payload[0] != out.Payload[0]) {
			t.Fatalf("chunk %d: inbound %+v, outbound %+v", chunk, in, out)
		}
	}
}

func log10(x float64) float64 { return math.Log10(x) }
