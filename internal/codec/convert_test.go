package codec

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/callstream/callstream/internal/codec/codectest"
)

// collector is a sink that keeps a copy of every frame it gets.
type collector struct {
	rate   int
	frames [][]byte
}

func (c *collector) WriteFrame(p []byte) error {
	c.frames = append(c.frames, slices.Clone(p))
	return nil
}
func (c *collector) SampleRate() int { return c.rate }
func (c *collector) String() string  { return "ws" }

// all returns the frames joined.
func (c *collector) all() []byte { return bytes.Join(c.frames, nil) }

// convertAll runs frames through Convert(from, to) and returns what comes
// out.
func convertAll(t *testing.T, from, to Format, frames [][]byte) *collector {
	t.Helper()
	sink := &collector{rate: to.Rate}
	w, err := Convert(from, to, sink)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range frames {
		if err := w.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	return sink
}

// encodeFrames encodes pcm at f's rate as 20 ms frames of f.
func encodeFrames(t *testing.T, f Format, pcm []int16) [][]byte {
	t.Helper()
	enc, err := NewEncoder(f)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for n := f.FrameSamples(); len(pcm) >= n; pcm = pcm[n:] {
		b, err := enc.Encode(nil, pcm[:n])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func TestConvertChains(t *testing.T) {
	for _, tc := range []struct {
		from, to Format
		want     string
	}{
		{PCMU, PCMU, "PCMU/8000(pass) -> ws"},
		{PCMA, PCMA, "PCMA/8000(pass) -> ws"},
		{L16(16000), L16(16000), "L16/16000(pass) -> ws"},
		{G722, G722, "G722/8000(16000)(pass) -> ws"},
		{PCMU, PCMA, "PCMU/8000->PCMA/8000(transcode) -> ws"},
		{PCMA, PCMU, "PCMA/8000->PCMU/8000(transcode) -> ws"},
		{PCMA, L16(8000), "PCMA/8000(decode) -> L16/8000(encode) -> ws"},
		{PCMA, L16(16000), "PCMA/8000(decode) -> resample(8000->16000) -> L16/16000(encode) -> ws"},
		{PCMU, L16(48000), "PCMU/8000(decode) -> resample(8000->48000) -> L16/48000(encode) -> ws"},
		{G722, PCMU, "G722/8000(16000)(decode) -> resample(16000->8000) -> PCMU/8000(encode) -> ws"},
		{G722, L16(16000), "G722/8000(16000)(decode) -> L16/16000(encode) -> ws"},
		{L16(48000), G722, "L16/48000(decode) -> resample(48000->16000) -> G722/8000(16000)(encode) -> ws"},
		{L16(16000), L16BE(16000), "L16/16000(decode) -> L16/16000(BE)(encode) -> ws"},
		{L16BE(8000), PCMA, "L16/8000(BE)(decode) -> PCMA/8000(encode) -> ws"},
	} {
		w, err := Convert(tc.from, tc.to, &collector{rate: tc.to.Rate})
		if err != nil {
			t.Errorf("%v → %v: %v", tc.from, tc.to, err)
			continue
		}
		if got := w.String(); got != tc.want {
			t.Errorf("%v → %v:\n got %s\nwant %s", tc.from, tc.to, got, tc.want)
		}
		if w.SampleRate() != tc.from.Rate {
			t.Errorf("%v → %v: SampleRate %d", tc.from, tc.to, w.SampleRate())
		}
	}
	if OpusAvailable {
		for _, tc := range []struct {
			from, to Format
			want     string
		}{
			{Opus, L16(16000), "opus/48000/2(16000)(decode) -> L16/16000(encode) -> ws"},
			{Opus, PCMU, "opus/48000/2(8000)(decode) -> PCMU/8000(encode) -> ws"},
			{G722, Opus, "G722/8000(16000)(decode) -> opus/48000/2(16000)(encode) -> ws"},
			{Opus, Opus, "opus/48000/2(pass) -> ws"},
		} {
			w, err := Convert(tc.from, tc.to, &collector{rate: tc.to.Rate})
			if err != nil {
				t.Errorf("%v → %v: %v", tc.from, tc.to, err)
			} else if got := w.String(); got != tc.want {
				t.Errorf("%v → %v:\n got %s\nwant %s", tc.from, tc.to, got, tc.want)
			}
		}
	}
}

// Equal formats pass the very bytes; the G.711 laws convert as decoding one
// and encoding the other; A-law reaches linear PCM decoded from A-law, not
// through µ-law.
func TestConvertKeepsBytes(t *testing.T) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	frames := [][]byte{all[:160], all[160:]}
	for _, f := range []Format{PCMU, PCMA, G722} {
		if got := convertAll(t, f, f, frames).all(); !bytes.Equal(got, all) {
			t.Errorf("%v → %v changed the bytes", f, f)
		}
	}
	if got, want := convertAll(t, PCMU, PCMA, frames).all(), EncodeALaw(nil, DecodeULaw(nil, all)); !bytes.Equal(got, want) {
		t.Error("PCMU → PCMA is not decode-then-encode")
	}
	if got, want := convertAll(t, PCMA, PCMU, frames).all(), EncodeULaw(nil, DecodeALaw(nil, all)); !bytes.Equal(got, want) {
		t.Error("PCMA → PCMU is not decode-then-encode")
	}
	got := PCM16LEToSamples(nil, convertAll(t, PCMA, L16(8000), frames).all())
	if want := DecodeALaw(nil, all); !slices.Equal(got, want) {
		t.Error("PCMA → L16/8000 is not the A-law decoding")
	}
	// And back: linear PCM to A-law gives the original codes (every A-law
	// level re-encodes to itself).
	if back := convertAll(t, L16(8000), PCMA, [][]byte{SamplesToPCM16LE(nil, got)}).all(); !bytes.Equal(back, all) {
		t.Error("PCMA → L16 → PCMA changed the bytes")
	}
}

// A 6 kHz tone through G.722 reaches a 16 kHz PCM sink with an SNR above
// 20 dB; the narrowband path (through 8 kHz µ-law) removes it.
func TestConvertWidebandTone(t *testing.T) {
	x := codectest.Sine(2*16000, 16000, 6000, 10000)
	frames := encodeFrames(t, G722, x)
	y := PCM16LEToSamples(nil, convertAll(t, G722, L16(16000), frames).all())
	if len(y) != len(x) {
		t.Fatalf("%d samples out of %d", len(y), len(x))
	}
	snr := snrAt(x, y, g722Delay)
	t.Logf("6 kHz through G722 → L16/16000: SNR %.1f dB", snr)
	if snr < 20 {
		t.Errorf("SNR %.1f dB, want > 20", snr)
	}

	narrow := convertAll(t, G722, PCMU, frames).frames
	z := PCM16LEToSamples(nil, convertAll(t, PCMU, L16(16000), narrow).all())
	left := codectest.DB(codectest.Power(z[8000:], 16000, 6000) / codectest.Power(y[8000:], 16000, 6000))
	t.Logf("6 kHz through 8 kHz µ-law: %.1f dB of the wideband path's", left)
	if left > -40 {
		t.Errorf("the narrowband path kept 6 kHz at %.1f dB", left)
	}
}

func TestConvertErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		from, to Format
		rate     int
		kind     error
	}{
		{"unknown source", Format{Name: "GSM", Clock: 8000, Rate: 8000}, PCMU, 8000, ErrUnknownFormat},
		{"unknown target", PCMU, Format{Name: "L16", Clock: 16000, Rate: 8000}, 8000, ErrUnknownFormat},
		{"sink at another rate", PCMA, L16(16000), 8000, ErrRateMismatch},
		{"sink at another rate, same format", PCMU, PCMU, 16000, ErrRateMismatch},
		{"rate the resampler lacks", L16(44100), PCMU, 8000, ErrUnsupportedRate},
	} {
		_, err := Convert(tc.from, tc.to, &collector{rate: tc.rate})
		if !errors.Is(err, tc.kind) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.kind)
		}
	}
	if !OpusAvailable {
		if _, err := Convert(Opus, PCMU, &collector{rate: 8000}); !errors.Is(err, ErrUnavailable) {
			t.Errorf("opus without the tag: %v", err)
		}
	}
	_, err := Convert(PCMA, L16(16000), &collector{rate: 8000})
	if want := "codec: L16/16000 is 16000 Hz audio, ws takes 8000 Hz"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
	// The stage constructors check rates too.
	if _, err := NewDecodeWriter(G722, NewSink[[]int16]("pcm", 8000, nil)); !errors.Is(err, ErrRateMismatch) {
		t.Errorf("NewDecodeWriter: %v", err)
	}
	if _, err := NewEncodeWriter(PCMU, NewSink[[]byte]("ws", 16000, nil)); !errors.Is(err, ErrRateMismatch) {
		t.Errorf("NewEncodeWriter: %v", err)
	}
	if _, err := NewResampleWriter(44100, NewSink[[]int16]("pcm", 8000, nil)); !errors.Is(err, ErrUnsupportedRate) {
		t.Errorf("NewResampleWriter: %v", err)
	}
	// A sink's error comes back unchanged.
	errSink := errors.New("socket gone")
	w, err := Convert(PCMA, L16(16000), NewSink("ws", 16000, func([]byte) error { return errSink }))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteFrame(make([]byte, 160)); err != errSink {
		t.Errorf("WriteFrame: %v", err)
	}
}

// Reset clears every stage of a chain: after it, the chain gives what a
// new one gives.
func TestConvertReset(t *testing.T) {
	frames := encodeFrames(t, G722, codectest.SpeechLike(16000, 16000, 4))
	fresh := convertAll(t, G722, PCMU, frames).all()
	sink := &collector{rate: 8000}
	w, err := Convert(G722, PCMU, sink)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range frames[:7] {
		_ = w.WriteFrame(f)
	}
	w.(Resetter).Reset()
	sink.frames = nil
	for _, f := range frames {
		_ = w.WriteFrame(f)
	}
	if !bytes.Equal(sink.all(), fresh) {
		t.Error("after Reset the chain's output differs from a new chain's")
	}
}

// The stages built by hand chain like Convert's.
func TestStagesByHand(t *testing.T) {
	var got []byte
	ws := NewSink("ws", 16000, func(b []byte) error { got = append(got, b...); return nil })
	enc, err := NewEncodeWriter(L16(16000), ws)
	if err != nil {
		t.Fatal(err)
	}
	up, err := NewResampleWriter(8000, enc)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := NewDecodeWriter(PCMU, up)
	if err != nil {
		t.Fatal(err)
	}
	if want := "PCMU/8000(decode) -> resample(8000->16000) -> L16/16000(encode) -> ws"; dec.String() != want {
		t.Errorf("String %q", dec.String())
	}
	frame := ulawFrame()
	if err := dec.WriteFrame(frame); err != nil {
		t.Fatal(err)
	}
	if want := convertAll(t, PCMU, L16(16000), [][]byte{frame}).all(); !bytes.Equal(got, want) {
		t.Error("hand-built chain differs from Convert's")
	}
}
