package scenario

import (
	"bytes"
	"errors"
	"testing"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/scenario/voxtest"
	"github.com/callstream/callstream/internal/stream"
	"github.com/callstream/callstream/internal/stream/voximplant"
)

// A remote's start names its format as the gateway writes it: "PCM16" at
// 8000 is PCM8, at 16000 PCM16; PCM8 stays accepted.
func TestRemoteEncodingNames(t *testing.T) {
	for _, tc := range []struct {
		enc  string
		rate int
		want string
	}{
		{"PCM16", 8000, EncPCM8}, {"PCM16", 16000, EncPCM16}, {"PCM16", 0, EncPCM16},
		{"PCM8", 8000, EncPCM8}, {"PCM16_8KHZ", 0, EncPCM8}, {"ULAW", 8000, EncULaw},
		{"ALAW", 0, EncALaw}, {"OPUS", 48000, EncOpus},
	} {
		e, err := remoteEncoding(tc.enc, tc.rate)
		if err != nil || e.name != tc.want {
			t.Errorf("remoteEncoding(%q, %d) = %v, %v; want %s", tc.enc, tc.rate, e, err, tc.want)
		}
	}
	if _, err := remoteEncoding("PCM16", 11025); !errors.Is(err, ErrEncoding) {
		t.Errorf("PCM16 at 11025 Hz: %v", err)
	}
	// Each encoding is written under the name it is read back by.
	for name, e := range encodings {
		enc, rate := e.wireName()
		if back, err := remoteEncoding(enc, rate); err != nil || back != e {
			t.Errorf("%s written as %s/%d reads back as %v, %v", name, enc, rate, back, err)
		}
	}
}

// A remote's media go into a unit's buffer converted once into the unit's
// format: ALAW into a PCMA unit passes unchanged, PCM16 into a µ-law one
// is downsampled and encoded.
func TestRemoteMediaIntoUnitFormat(t *testing.T) {
	alaw := bytes.Join([][]byte{voxtest.Clip(160), voxtest.Clip(320)[160:]}, nil)
	for _, tc := range []struct {
		enc     string
		to      codec.Format
		payload []byte
		check   func(t *testing.T, played []byte)
	}{
		{EncALaw, codec.PCMA, alaw, func(t *testing.T, played []byte) {
			if !bytes.Equal(played, alaw) {
				t.Fatal("A-law into a PCMA unit was changed")
			}
		}},
		{EncPCM16, codec.PCMU, codec.SamplesToPCM16LE(nil, voxtest.Tone(640, 16000, 1000, 8000)), func(t *testing.T, played []byte) {
			s := codec.DecodeULaw(nil, played)[100:]
			if len(played) != 320 || voxtest.Power(s, 8000, 1000)/voxtest.MeanPower(s) < 0.95 {
				t.Fatalf("%d bytes played; the 1 kHz tone did not come through", len(played))
			}
		}},
	} {
		t.Run(tc.enc, func(t *testing.T) {
			w := &jsSocket{in: map[string]*inStream{}, s: &session{lim: DefaultLimits()}}
			e := encodings[tc.enc]
			pl, err := w.newPlayout("t", e, tc.to)
			if err != nil {
				t.Fatal(err)
			}
			st := w.streamLocked("t")
			st.enc, st.started, st.active = e, true, true
			st.sinks = []*binding{{tag: "t", playout: pl}}
			msg := voximplant.New().AppendMedia(nil, 1, &stream.Info{Tag: "t"}, &stream.Media{Chunk: 1, Payload: tc.payload})
			var m stream.AppMessage
			if err := voximplant.New().Decode(msg, &m); err != nil {
				t.Fatal(err)
			}
			w.remoteMedia(&m)
			var played []byte
			dst := make([]byte, pl.FrameBytes())
			for pl.ReadFrame(dst) {
				played = append(played, dst...)
			}
			tc.check(t, played)
		})
	}
}

// frameSource plays fixed frames.
type frameSource struct {
	frames [][]byte
	n      int
}

func (s *frameSource) ReadFrame(dst []byte) bool {
	if s.n == len(s.frames) {
		return false
	}
	copy(dst, s.frames[s.n])
	s.n++
	return true
}

// A µ-law source (a player, a relay of a µ-law call) is converted once
// for a unit of another format, frame by frame without allocating; a
// source already in the unit's format is used as is.
func TestAdaptSource(t *testing.T) {
	clip := voxtest.Clip(160 * 4)
	frames := [][]byte{clip[:160], clip[160:320], clip[320:480], clip[480:]}
	src := &frameSource{frames: frames}
	if got, err := adaptSource(src, codec.PCMU); err != nil || got != src {
		t.Fatalf("a µ-law source for a µ-law unit: %v, %v", got, err)
	}
	a, err := adaptSource(src, codec.PCMA)
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, 160)
	if !a.ReadFrame(dst) {
		t.Fatal("no frame")
	}
	want := make([]byte, 160)
	codec.TranscodeULawToALaw(want, frames[0])
	if !bytes.Equal(dst, want) {
		t.Fatal("the A-law frame is not the µ-law frame transcoded")
	}
	wide, err := adaptSource(formattedSource{Source: &frameSource{frames: frames}, format: codec.PCMU}, codec.L16(16000))
	if err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 640)
	if !wide.ReadFrame(big) || sourceFormat(wide) != codec.L16(16000) {
		t.Fatal("no 16 kHz frame")
	}
	if n := testing.AllocsPerRun(2, func() { a.ReadFrame(dst); wide.ReadFrame(big) }); n != 0 {
		t.Fatalf("%v allocations per frame", n)
	}
}
