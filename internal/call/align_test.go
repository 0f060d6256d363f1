package call

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/sip"
	"github.com/callstream/callstream/internal/stream"
)

// A tap attached mid-call, while the caller talks and a source plays, gets
// from its start slot exactly one frame per slot on each of the three
// tracks, in slot order, for 500 slots: the same slot on every track for
// the same position (chunk = slot − start + 1 is the same on both
// tracks). The mixed track is L16 at the call's rate, the saturated sum of
// the inbound and outbound frames of its slot.
func TestTracksAlignedPerSlot(t *testing.T) {
	r := newRig(t, rigOptions{Config: Config{JitterDelay: 40 * time.Millisecond}})
	r.c.SetSource(&frameSource{})
	var arr []arrival
	for k := range 560 {
		arr = append(arr, arrival{r.next(numbered(k), 160), time.Duration(k+1)*frame + 3*time.Millisecond})
	}
	r.play(arr[:20], 20)
	tap := newTapRecorder(stream.TrackInbound, stream.TrackOutbound, stream.TrackMixed)
	r.c.AddTap(tap)
	if tap.starts != 1 || tap.start != 21 {
		t.Fatalf("attached %d times, start %d, want once at 21", tap.starts, tap.start)
	}
	r.play(arr[20:], 520)
	for tr := stream.TrackInbound; tr <= stream.TrackMixed; tr++ {
		order := tap.order[tr]
		if len(order) < 500 {
			t.Fatalf("%v: %d frames", tr, len(order))
		}
		for i, s := range order[:500] {
			if s != tap.start+uint64(i) {
				t.Fatalf("%v: frame %d is slot %d, want %d", tr, i+1, s, tap.start+uint64(i))
			}
		}
	}
	if tap.format[stream.TrackMixed] != codec.L16(8000) || tap.format[stream.TrackInbound] != codec.PCMU {
		t.Fatalf("formats %v", tap.format)
	}
	audio := 0
	for s := tap.start; s < tap.start+500; s++ {
		in, out, mix := tap.at(stream.TrackInbound, s), tap.at(stream.TrackOutbound, s), tap.at(stream.TrackMixed, s)
		if len(mix) != 320 {
			t.Fatalf("slot %d: mixed frame of %d bytes", s, len(mix))
		}
		if frameNumber(in) >= 0 {
			audio++
		}
		for i := range 160 {
			want := int16(min(max(int32(codec.ULawToPCM(in[i]))+int32(codec.ULawToPCM(out[i])), -32768), 32767))
			if got := int16(binary.LittleEndian.Uint16(mix[2*i:])); got != want {
				t.Fatalf("slot %d sample %d: mixed %d, want %d", s, i, got, want)
			}
		}
	}
	if audio < 490 {
		t.Errorf("only %d of 500 inbound slots carry the caller's audio", audio)
	}
}

// A G.722 call's mixed track is L16 at 16 kHz: 640 bytes per slot, both
// sides decoded (silence on both: near zero).
func TestMixedTrackOfAG722CallIsWideband(t *testing.T) {
	r := newRig(t, rigOptions{Codec: sip.Codec{Name: "G722", PayloadType: 9, ClockRate: 8000}})
	tap := newTapRecorder(stream.TrackMixed, stream.TrackInbound)
	r.c.AddTap(tap)
	for range 10 {
		r.tick()
	}
	if tap.format[stream.TrackMixed] != codec.L16(16000) || tap.format[stream.TrackInbound] != codec.G722 {
		t.Fatalf("formats %v", tap.format)
	}
	for s := tap.start; s < tap.start+10; s++ {
		mix := tap.at(stream.TrackMixed, s)
		if len(mix) != 640 {
			t.Fatalf("slot %d: %d bytes", s, len(mix))
		}
		if in := tap.at(stream.TrackInbound, s); !bytes.Equal(in, codec.Silence(codec.G722, nil)) {
			t.Fatalf("slot %d: inbound before any packet is not G.722 silence", s)
		}
		for i := 0; i < 640; i += 2 {
			if v := int16(binary.LittleEndian.Uint16(mix[i:])); v > 64 || v < -64 {
				t.Fatalf("slot %d: mixed silence has sample %d", s, v)
			}
		}
	}
}

// nopTap takes every track and keeps nothing.
type nopTap struct{}

func (nopTap) Wants(stream.Track) bool                { return true }
func (nopTap) Attach(uint64)                          {}
func (nopTap) Push(stream.Track, uint64, codec.Frame) {}

// A tick (jitter buffer pop, the source's frame, the RTP packet, three
// tracks pushed with the mix) allocates nothing, for G.711 and G.722.
func TestTickDoesNotAllocate(t *testing.T) {
	for _, sc := range []sip.Codec{{Name: "PCMU", PayloadType: 0, ClockRate: 8000}, {Name: "G722", PayloadType: 9, ClockRate: 8000}} {
		r := newRig(t, rigOptions{Codec: sc})
		r.c.AddTap(nopTap{})
		r.c.SetSource(&frameSource{})
		r.tick()
		if n := testing.AllocsPerRun(200, func() { r.tick() }); n != 0 {
			t.Errorf("%s: %v allocations per tick", sc.Name, n)
		}
	}
}

// A relay from a PCMA call to a PCMU call converts each frame once on the
// way in; between calls of one codec it keeps the bytes.
func TestRelayConvertsBetweenCodecs(t *testing.T) {
	alaw := make([]byte, 160)
	for i := range alaw {
		alaw[i] = byte(i * 5)
	}
	r := NewRelay()
	r.UseFormat(codec.PCMU)
	for range relayPrime {
		r.Push(stream.TrackInbound, 0, codec.Frame{Format: codec.PCMA, Payload: alaw})
	}
	dst := make([]byte, 160)
	if !r.ReadFrame(dst) {
		t.Fatal("nothing played")
	}
	for i, b := range alaw {
		if dst[i] != codec.ALawToULaw(b) {
			t.Fatalf("byte %d: %#x, want %#x", i, dst[i], codec.ALawToULaw(b))
		}
	}
	r.UseFormat(codec.PCMA)
	for range relayPrime {
		r.Push(stream.TrackInbound, 0, codec.Frame{Format: codec.PCMA, Payload: alaw})
	}
	if !r.ReadFrame(dst) || !bytes.Equal(dst, alaw) {
		t.Fatalf("PCMA to PCMA changed the bytes")
	}
	r.Push(stream.TrackInbound, 0, codec.Frame{Format: codec.PCMU, Payload: alaw}) // builds the chain once
	if n := testing.AllocsPerRun(50, func() {
		r.Push(stream.TrackInbound, 0, codec.Frame{Format: codec.PCMU, Payload: alaw})
		r.ReadFrame(dst)
	}); n != 0 {
		t.Errorf("%v allocations per converted frame", n)
	}
}

// Call.Player converts µ-law once into the call's codec: on a G.722 call
// the player hands out 160-byte G.722 frames, padded with G.722 silence.
func TestPlayerInTheCallsFormat(t *testing.T) {
	r := newRig(t, rigOptions{Codec: sip.Codec{Name: "G722", PayloadType: 9, ClockRate: 8000}})
	p, err := r.c.Player(bytes.Repeat([]byte{0x80}, 400), codec.PCMU, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.data) != 3*160 {
		t.Fatalf("%d bytes of G.722 for 2.5 frames of µ-law", len(p.data))
	}
	dst := make([]byte, 160)
	for i := range 3 {
		if !p.ReadFrame(dst) {
			t.Fatalf("frame %d missing", i)
		}
	}
	if p.ReadFrame(dst) {
		t.Fatal("a frame after the end")
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("not done after the last frame")
	}
}
