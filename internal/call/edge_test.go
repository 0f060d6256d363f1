package call

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/jitter"
)

// fakeOpus stands in for the Opus decoder (cgo, not in every build): a
// payload {v, slots} decodes to slots × 20 ms at 16 kHz of the value v, and
// a concealed frame is the value -1.
type fakeOpus struct{ concealed int }

func (d *fakeOpus) Decode(dst []int16, p []byte) ([]int16, error) {
	for range 320 * int(p[1]) {
		dst = append(dst, int16(p[0]))
	}
	return dst, nil
}

func (d *fakeOpus) Conceal(dst []int16, n int) []int16 {
	d.concealed++
	for range n {
		dst = append(dst, -1)
	}
	return dst
}
func (d *fakeOpus) Rate() int { return 16000 }
func (d *fakeOpus) Reset()    {}

// An Opus call's frames inside are L16 at 16 kHz: a slot's packet is
// decoded, a 40 ms packet also fills the next slot (Covered), a lost slot
// is the decoder's concealment, and slots before the first packet are
// plain silence.
func TestOpusEdgeDecodesAndConceals(t *testing.T) {
	jb, err := jitter.New(jitter.Config{SamplesPerFrame: 960, MaxPayload: 1275, Delay: 40 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	dec := &fakeOpus{}
	f := codec.L16(16000)
	e := &rtpEdge{wire: codec.Opus, format: f, jb: jb, dec: dec, silence: make([]byte, 640), pcm: make([]int16, 0, 4*320)}
	put := func(seq uint16, slot int, v, slots byte, at time.Duration) {
		jb.Put(jitter.Packet{Seq: seq, TS: uint32(slot * 960), SSRC: 1, Payload: []byte{v, slots}, Units: uint32(slots) * 960}, at)
	}
	put(0, 0, 10, 1, 25*time.Millisecond)
	put(1, 1, 11, 2, 45*time.Millisecond) // 40 ms: slots 1 and 2
	put(3, 4, 14, 1, 105*time.Millisecond)
	// slot 3 never comes
	dst := make([]byte, 640)
	value := func() int16 { return int16(binary.LittleEndian.Uint16(dst)) }
	var got []int16
	var audio []bool
	for n := uint64(1); n <= 8; n++ {
		a := e.pop(n, dst)
		got, audio = append(got, value()), append(audio, a)
	}
	// The anchor packet lands at the first slot due 20 ms after it (40 ms
	// delay): find it, then check what follows.
	first := -1
	for i, v := range got {
		if v == 10 {
			first = i
			break
		}
	}
	if first < 0 {
		t.Fatalf("frame 10 never popped: %v", got)
	}
	for i := range first {
		if got[i] != 0 || audio[i] {
			t.Fatalf("slot before the first packet: %d (audio %v), want silence", got[i], audio[i])
		}
	}
	want := []int16{10, 11, 11, -1, 14}
	for i, w := range want {
		if got[first+i] != w {
			t.Fatalf("slots from the first packet: %v, want %v", got[first:], want)
		}
	}
	if audio[first+3] || !audio[first+4] {
		t.Fatalf("audio flags %v", audio[first:])
	}
	if dec.concealed == 0 {
		t.Fatal("the lost slot was not concealed by the decoder")
	}
}
