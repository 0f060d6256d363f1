package call

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/sip"
	"github.com/callstream/callstream/internal/stream"
)

// scriptSource plays the frames it holds, one per tick, then nothing.
type scriptSource struct {
	mu     sync.Mutex
	frames [][]byte
}

func (s *scriptSource) ReadFrame(dst []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.frames) == 0 {
		return false
	}
	copy(dst, s.frames[0])
	s.frames = s.frames[1:]
	return true
}

// While nothing plays every tick sends the caller one packet of µ-law
// silence; what plays goes out in the same stream: sequence numbers +1 and
// timestamps +160 on every packet, one packet per tick.
func TestContinuousRTPSendsSilenceEveryTick(t *testing.T) {
	r := newRig(t, rigOptions{})
	src := &scriptSource{frames: [][]byte{numbered(1), numbered(2), numbered(3)}}
	var got [][]byte
	var prevSeq uint16
	var prevTS uint32
	for i := range 30 {
		if i == 10 {
			r.c.SetSource(src)
		}
		r.tick()
		p := r.recvRTP()
		if p.PayloadType != 0 {
			t.Fatalf("packet %d: payload type %d", i, p.PayloadType)
		}
		if i > 0 && (p.SequenceNumber != prevSeq+1 || p.Timestamp != prevTS+160) {
			t.Fatalf("packet %d: seq %d ts %d after seq %d ts %d", i, p.SequenceNumber, p.Timestamp, prevSeq, prevTS)
		}
		if p.Marker != (i == 0) {
			t.Fatalf("packet %d: marker %v", i, p.Marker)
		}
		prevSeq, prevTS = p.SequenceNumber, p.Timestamp
		got = append(got, p.Payload)
	}
	for i, p := range got {
		want := bytes.Repeat([]byte{0xFF}, 160)
		if i >= 10 && i < 13 {
			want = numbered(i - 9)
		}
		if !bytes.Equal(p, want) {
			t.Fatalf("packet %d carries % x…", i, p[:4])
		}
	}
	if !r.noRTP() {
		t.Fatal("more packets than ticks")
	}
	if st := r.c.Stats(); st.FramesOut != 3 || st.SilenceOut != 27 {
		t.Errorf("frames out %d (want 3), silence out %d (want 27)", st.FramesOut, st.SilenceOut)
	}
}

// A G.722 call sends encoded G.722 silence, its timestamps stepping by 160
// (the 8000 clock of RFC 3551), and plays G.722 bytes as they are.
func TestContinuousRTPG722(t *testing.T) {
	r := newRig(t, rigOptions{Codec: sip.Codec{Name: "G722", PayloadType: 9, ClockRate: 8000}})
	if f := r.c.Format(); f != codec.G722 {
		t.Fatalf("call format %v", f)
	}
	silence := codec.Silence(codec.G722, nil)
	r.c.SetSource(&scriptSource{frames: [][]byte{numbered(7)}})
	r.tick()
	p := r.recvRTP()
	if !bytes.Equal(p.Payload, numbered(7)) || p.PayloadType != 9 {
		t.Fatalf("played packet: pt %d % x…", p.PayloadType, p.Payload[:4])
	}
	ts := p.Timestamp
	for i := 1; i <= 5; i++ {
		r.tick()
		p := r.recvRTP()
		if !bytes.Equal(p.Payload, silence) || p.Timestamp != ts+uint32(160*i) {
			t.Fatalf("quiet packet %d: ts %d (want %d), payload % x…", i, p.Timestamp, ts+uint32(160*i), p.Payload[:4])
		}
	}
}

// A caller that offered CN gets one comfort noise packet (its payload the
// noise level) when silence starts and one every 200 ms after, timestamps
// running on; the first audio packet after it carries the marker bit.
func TestContinuousRTPComfortNoise(t *testing.T) {
	r := newRig(t, rigOptions{CNType: 13})
	src := &scriptSource{frames: [][]byte{numbered(1)}}
	r.c.SetSource(src)
	r.tick()
	a := r.recvRTP()
	if a.PayloadType != 0 || !a.Marker || !bytes.Equal(a.Payload, numbered(1)) {
		t.Fatalf("first audio packet: pt %d marker %v", a.PayloadType, a.Marker)
	}
	seq, ts := a.SequenceNumber, a.Timestamp
	var cnAt []int // ticks after the audio that sent CN
	for i := 1; i <= 25; i++ {
		r.tick()
		p := r.tryRTP()
		if p == nil {
			continue
		}
		if p.PayloadType != 13 || !bytes.Equal(p.Payload, []byte{cnLevel}) || p.Marker {
			t.Fatalf("tick %d: pt %d marker %v payload % x, want comfort noise", i, p.PayloadType, p.Marker, p.Payload)
		}
		if p.SequenceNumber != seq+uint16(len(cnAt))+1 || p.Timestamp != ts+uint32(160*i) {
			t.Fatalf("tick %d: CN seq %d ts %d after audio seq %d ts %d", i, p.SequenceNumber, p.Timestamp, seq, ts)
		}
		cnAt = append(cnAt, i)
	}
	if want := []int{1, 11, 21}; !equalInts(cnAt, want) {
		t.Fatalf("comfort noise at ticks %v, want %v", cnAt, want)
	}
	src.mu.Lock()
	src.frames = [][]byte{numbered(2)}
	src.mu.Unlock()
	r.tick()
	b := r.recvRTP()
	if b.PayloadType != 0 || !b.Marker || b.Timestamp != ts+160*26 || b.SequenceNumber != seq+4 {
		t.Fatalf("audio after comfort noise: pt %d marker %v ts %d (want %d) seq %d (want %d)", b.PayloadType, b.Marker, b.Timestamp, ts+160*26, b.SequenceNumber, seq+4)
	}
	if st := r.c.Stats(); st.ComfortNoise != 3 || st.SilenceOut != 0 {
		t.Errorf("comfort noise %d (want 3), silence %d (want 0)", st.ComfortNoise, st.SilenceOut)
	}
}

// With QuietRTP (--rtp-silence=false) nothing is sent while nothing plays;
// the first audio packet after a pause carries the marker bit and a
// timestamp that counts the pause.
func TestQuietRTPSendsNothingWhileNothingPlays(t *testing.T) {
	r := newRig(t, rigOptions{Config: Config{QuietRTP: true}})
	for range 10 {
		r.tick()
	}
	if !r.noRTP() {
		t.Fatal("a packet while nothing played")
	}
	src := &scriptSource{frames: [][]byte{numbered(1), numbered(2)}}
	r.c.SetSource(src)
	r.tick()
	r.tick()
	a, b := r.recvRTP(), r.recvRTP()
	if !a.Marker || b.Marker || b.Timestamp != a.Timestamp+160 || b.SequenceNumber != a.SequenceNumber+1 {
		t.Fatalf("talkspurt: marker %v %v, ts %d %d", a.Marker, b.Marker, a.Timestamp, b.Timestamp)
	}
	for range 5 {
		r.tick()
	}
	if !r.noRTP() {
		t.Fatal("a packet after the source ran dry")
	}
	src.mu.Lock()
	src.frames = [][]byte{numbered(3)}
	src.mu.Unlock()
	r.tick()
	c := r.recvRTP()
	if !c.Marker || c.SequenceNumber != b.SequenceNumber+1 || c.Timestamp != b.Timestamp+6*160 {
		t.Fatalf("after a 100 ms pause: marker %v seq %d ts %d, want seq %d ts %d", c.Marker, c.SequenceNumber, c.Timestamp, b.SequenceNumber+1, b.Timestamp+6*160)
	}
	if st := r.c.Stats(); st.SilenceOut != 0 || st.ComfortNoise != 0 || st.FramesOut != 3 {
		t.Errorf("stats %+v", st)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A PCMA call keeps A-law bytes end to end, on the static payload type 8
// and on a dynamic one: the inbound tap gets the caller's bytes as sent,
// the caller gets the source's bytes as played, and the outbound tap the
// same, all tagged PCMA.
func TestPCMAPassesThroughBothWays(t *testing.T) {
	for _, pt := range []uint8{8, 96} {
		r := newRig(t, rigOptions{Codec: sip.Codec{Name: "PCMA", PayloadType: pt, ClockRate: 8000}, Config: Config{JitterDelay: 40 * time.Millisecond}})
		if f := r.c.Format(); f != codec.PCMA {
			t.Fatalf("pt %d: call format %v", pt, f)
		}
		tap := newTapRecorder(stream.TrackInbound, stream.TrackOutbound)
		r.c.AddTap(tap)
		alaw := func(k int) []byte {
			b := make([]byte, 160)
			for i := range b {
				b[i] = byte(k*31 + i*7)
			}
			return b
		}
		var out [][]byte
		for k := range 20 {
			out = append(out, alaw(100+k))
		}
		r.c.SetSource(&scriptSource{frames: out})
		var arr []arrival
		for k := range 20 {
			arr = append(arr, arrival{r.next(alaw(k), 160), time.Duration(k+5)*frame + time.Millisecond})
		}
		r.play(arr, 40)
		var anchor uint64
		for s := tap.start; s <= 40; s++ {
			if bytes.Equal(tap.at(stream.TrackInbound, s), alaw(0)) {
				anchor = s
			}
		}
		if anchor == 0 {
			t.Fatalf("pt %d: the caller's first frame is not on the inbound track", pt)
		}
		for k := range 20 {
			if got := tap.at(stream.TrackInbound, anchor+uint64(k)); !bytes.Equal(got, alaw(k)) {
				t.Fatalf("pt %d: inbound frame %d changed: % x…", pt, k, got[:4])
			}
		}
		if tap.format[stream.TrackInbound] != codec.PCMA || tap.format[stream.TrackOutbound] != codec.PCMA {
			t.Fatalf("pt %d: tap formats %v", pt, tap.format)
		}
		var heard [][]byte
		for len(heard) < 20 {
			p := r.recvRTP()
			if p.PayloadType != pt {
				t.Fatalf("sent with payload type %d, want %d", p.PayloadType, pt)
			}
			if bytes.Equal(p.Payload, bytes.Repeat([]byte{codec.ALawSilence}, 160)) && len(heard) == 0 {
				continue
			}
			heard = append(heard, p.Payload)
		}
		for k := range 20 {
			if !bytes.Equal(heard[k], out[k]) {
				t.Fatalf("pt %d: played frame %d changed on the wire", pt, k)
			}
			if got := tap.at(stream.TrackOutbound, tap.start+uint64(k)); !bytes.Equal(got, out[k]) {
				t.Fatalf("pt %d: outbound track frame %d: % x…", pt, k, got[:4])
			}
		}
	}
}

// A µ-law source marked with ULaw plays on a PCMA call as its A-law
// transcoding and on a PCMU call byte for byte, without allocating per
// frame; ClearSource finds it by the source it wraps.
func TestULawSourceConvertedForTheCall(t *testing.T) {
	ulaw := make([]byte, 160)
	for i := range ulaw {
		ulaw[i] = byte(i * 3)
	}
	alaw := make([]byte, 160)
	codec.TranscodeULawToALaw(alaw, ulaw)
	for _, tc := range []struct {
		codec sip.Codec
		want  []byte
	}{
		{sip.Codec{Name: "PCMA", PayloadType: 8, ClockRate: 8000}, alaw},
		{sip.Codec{Name: "PCMU", PayloadType: 0, ClockRate: 8000}, ulaw},
	} {
		r := newRig(t, rigOptions{Codec: tc.codec})
		src := &scriptSource{frames: [][]byte{ulaw, ulaw}}
		r.c.SetSource(ULaw(src))
		r.tick()
		if p := r.recvRTP(); !bytes.Equal(p.Payload, tc.want) {
			t.Fatalf("%s: sent % x…, want % x…", tc.codec.Name, p.Payload[:4], tc.want[:4])
		}
		r.c.ClearSource(src)
		r.tick()
		if p := r.recvRTP(); bytes.Equal(p.Payload, tc.want) {
			t.Fatalf("%s: the source played after ClearSource", tc.codec.Name)
		}
		r.c.SetSource(ULaw(&frameSource{}))
		r.tick()
		if n := testing.AllocsPerRun(50, func() { r.tick() }); n != 0 {
			t.Errorf("%s: %v allocations per converted frame", tc.codec.Name, n)
		}
	}
}
