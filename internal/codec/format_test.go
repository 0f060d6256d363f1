package codec

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestFormatString(t *testing.T) {
	for f, want := range map[Format]string{
		PCMU:                 "PCMU/8000",
		PCMA:                 "PCMA/8000",
		G722:                 "G722/8000(16000)",
		Opus:                 "opus/48000/2",
		Opus.WithRate(16000): "opus/48000/2(16000)",
		L16(16000):           "L16/16000",
		L16(8000):            "L16/8000",
		L16BE(48000):         "L16/48000(BE)",
	} {
		if got := f.String(); got != want {
			t.Errorf("%#v.String() = %q, want %q", f, got, want)
		}
	}
}

func TestFormatFrameGeometry(t *testing.T) {
	for _, tc := range []struct {
		f                     Format
		samples, ticks, bytes int
	}{
		{PCMU, 160, 160, 160},
		{PCMA, 160, 160, 160},
		{G722, 320, 160, 160},
		{Opus, 960, 960, maxOpusFrame},
		{Opus.WithRate(16000), 320, 960, maxOpusFrame},
		{L16(8000), 160, 160, 320},
		{L16(16000), 320, 320, 640},
		{L16BE(48000), 960, 960, 1920},
		{Format{Name: "GSM", Clock: 8000, Rate: 8000}, 160, 160, 0},
	} {
		if got := tc.f.FrameSamples(); got != tc.samples {
			t.Errorf("%v: FrameSamples %d, want %d", tc.f, got, tc.samples)
		}
		if got := tc.f.FrameTicks(); got != tc.ticks {
			t.Errorf("%v: FrameTicks %d, want %d", tc.f, got, tc.ticks)
		}
		if got := tc.f.MaxFrameBytes(); got != tc.bytes {
			t.Errorf("%v: MaxFrameBytes %d, want %d", tc.f, got, tc.bytes)
		}
	}
}

func TestSameEncoding(t *testing.T) {
	for _, tc := range []struct {
		a, b Format
		same bool
	}{
		{PCMU, PCMU, true},
		{PCMU, Format{Name: "pcmu", Clock: 8000, Rate: 8000}, true}, // case, and 0 channels is 1
		{PCMU, PCMA, false},
		{Opus, Opus.WithRate(16000), true}, // the packets are the same
		{L16(16000), L16(16000), true},
		{L16(16000), L16BE(16000), false}, // byte order differs
		{L16(16000), L16(8000), false},
		{G722, L16(16000), false},
	} {
		if got := tc.a.SameEncoding(tc.b); got != tc.same {
			t.Errorf("%v.SameEncoding(%v) = %v", tc.a, tc.b, got)
		}
	}
}

// rtpmap parses the value of an a=rtpmap attribute ("96 PCMA/8000/1") the
// way an SDP layer would, for the lookup tests.
func rtpmap(t *testing.T, v string) (pt int, name string, clock, channels int) {
	t.Helper()
	ptText, enc, ok := strings.Cut(v, " ")
	if !ok {
		t.Fatalf("rtpmap %q", v)
	}
	parts := strings.Split(enc, "/")
	pt, err1 := strconv.Atoi(ptText)
	clock, err2 := strconv.Atoi(parts[1])
	if len(parts) == 3 {
		channels, _ = strconv.Atoi(parts[2])
	}
	if err1 != nil || err2 != nil {
		t.Fatalf("rtpmap %q", v)
	}
	return pt, parts[0], clock, channels
}

// Lookup goes by encoding name (any case), clock and channels; the payload
// type of the rtpmap line plays no part.
func TestLookup(t *testing.T) {
	for _, tc := range []struct {
		rtpmap string
		want   Format // zero: not found
	}{
		{"0 PCMU/8000", PCMU},
		{"8 PCMA/8000", PCMA},
		{"96 PCMA/8000", PCMA},    // dynamic payload type
		{"0 PCMA/8000", PCMA},     // a payload type that lies: the name wins
		{"101 pcmu/8000/1", PCMU}, // case and an explicit channel count
		{"9 G722/8000", G722},     // RFC 3551's clock for 16 kHz audio
		{"97 g722/8000", G722},
		{"111 opus/48000/2", Opus},
		{"111 OPUS/48000/2", Opus},
		{"98 L16/16000", L16BE(16000)}, // L16 over RTP is big-endian
		{"98 L16/8000/1", L16BE(8000)},
		{"9 G722/16000", Format{}},   // the audio rate is not the clock
		{"111 opus/48000", Format{}}, // RFC 7587 says /2
		{"96 PCMU/16000", Format{}},  // no such PCMU
		{"10 L16/44100/2", Format{}}, // not a rate the gateway converts
		{"101 telephone-event/8000", Format{}},
		{"13 CN/8000", Format{}},
	} {
		_, name, clock, channels := rtpmap(t, tc.rtpmap)
		c, ok := Lookup(name, clock, channels)
		if tc.want == (Format{}) {
			if ok {
				t.Errorf("%q found %v", tc.rtpmap, c.Format)
			}
			continue
		}
		if !ok {
			t.Errorf("%q not found", tc.rtpmap)
			continue
		}
		if c.Format != tc.want {
			t.Errorf("%q: %v, want %v", tc.rtpmap, c.Format, tc.want)
		}
	}
	c, _ := Lookup("G722", 8000, 0)
	if c.Rate != 16000 || c.StaticPT != 9 || !c.Available {
		t.Errorf("G722: rate %d, static PT %d, available %v", c.Rate, c.StaticPT, c.Available)
	}
	c, _ = Lookup("opus", 48000, 2)
	if c.StaticPT != -1 || c.Available != OpusAvailable {
		t.Errorf("opus: static PT %d, available %v (build has it: %v)", c.StaticPT, c.Available, OpusAvailable)
	}
}

func TestPreferred(t *testing.T) {
	want := []string{"PCMU/8000", "PCMA/8000", "G722/8000(16000)"}
	if OpusAvailable {
		want = append(want, "opus/48000/2")
	}
	got := Preferred()
	var names []string
	for _, c := range got {
		names = append(names, c.String())
		if !c.Available {
			t.Errorf("%v preferred but not available", c.Format)
		}
	}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("Preferred = %v, want %v", names, want)
	}
	// The slice is the caller's to reorder.
	got[0], got[1] = got[1], got[0]
	if Preferred()[0].Format != PCMU {
		t.Error("reordering one Preferred slice changed the next")
	}
}

func TestNewCodecErrors(t *testing.T) {
	for _, f := range []Format{
		{},
		{Name: "GSM", Clock: 8000, Rate: 8000, Channels: 1},
		{Name: "PCMU", Clock: 16000, Rate: 16000, Channels: 1},
		{Name: "G722", Clock: 8000, Rate: 8000, Channels: 1},
		{Name: "PCMA", Clock: 8000, Rate: 8000, Channels: 2},
		Opus.WithRate(44100),
		{Name: "L16", Clock: 16000, Rate: 8000, Channels: 1},
	} {
		_, errD := NewDecoder(f)
		_, errE := NewEncoder(f)
		if !errors.Is(errD, ErrUnknownFormat) || !errors.Is(errE, ErrUnknownFormat) {
			t.Errorf("%v: errors %v, %v", f, errD, errE)
		}
		if s := Silence(f, nil); len(s) != 0 {
			t.Errorf("%v: silence of %d bytes", f, len(s))
		}
	}
	_, err := NewDecoder(Format{Name: "GSM", Clock: 8000, Rate: 8000})
	if want := "codec: no codec for GSM/8000"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
	if !OpusAvailable {
		_, errD := NewDecoder(Opus)
		_, errE := NewEncoder(Opus)
		if !errors.Is(errD, ErrUnavailable) || !errors.Is(errE, ErrUnavailable) {
			t.Errorf("opus without the tag: errors %v, %v", errD, errE)
		}
	}
}

func TestSilence(t *testing.T) {
	for _, tc := range []struct {
		f    Format
		size int
		fill int // the byte every position holds, or -1
	}{
		{PCMU, 160, int(ULawSilence)},
		{PCMA, 160, int(ALawSilence)},
		{L16(16000), 640, 0},
		{L16BE(8000), 320, 0},
		{G722, 160, -1},
		{Opus, len(opusSilence), -1},
	} {
		got := Silence(tc.f, []byte{0x42})
		if len(got) != 1+tc.size || got[0] != 0x42 {
			t.Errorf("%v: %d bytes after the prefix, want %d", tc.f, len(got)-1, tc.size)
			continue
		}
		for i, b := range got[1:] {
			if tc.fill >= 0 && int(b) != tc.fill {
				t.Errorf("%v: byte %d is %#02x", tc.f, i, b)
				break
			}
		}
	}
	// G.722 silence decodes to (near) silence, from a fresh decoder and on.
	dec, _ := NewDecoder(G722)
	for i := range 20 {
		pcm, _ := dec.Decode(nil, Silence(G722, nil))
		if peak(pcm) > 32 { // -60 dBFS
			t.Fatalf("G722 silence frame %d decodes with peak %d", i, peak(pcm))
		}
	}
}

// peak returns the largest magnitude in x.
func peak(x []int16) int {
	p := 0
	for _, v := range x {
		p = max(p, int(v), -int(v))
	}
	return p
}
