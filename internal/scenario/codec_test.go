package scenario

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/scenario/voxtest"
	"github.com/callstream/callstream/internal/stream"
	"github.com/callstream/callstream/internal/stream/voximplant"
)

// testEncoder converts the call's µ-law frames as a flow in an encoding
// does (the socket's writer builds the same chain).
type testEncoder struct {
	w   codec.Writer[[]byte]
	out []byte
	spf int
}

func newTestEncoder(e *encoding) (*testEncoder, error) {
	te := &testEncoder{spf: e.wire.FrameTicks()}
	w, err := codec.Convert(codec.PCMU, e.wire, codec.NewSink("test", e.wire.Rate, func(p []byte) error {
		te.out = append(te.out, p...)
		return nil
	}))
	if err != nil {
		return nil, e.fail(err)
	}
	te.w = w
	return te, nil
}

func (te *testEncoder) Encode(dst, ulaw []byte) []byte {
	te.out = dst
	_ = te.w.WriteFrame(ulaw)
	return te.out
}

func (te *testEncoder) SamplesPerFrame() int { return te.spf }

// testDecoder converts a remote's payloads to µ-law as a unit's playout
// does.
type testDecoder struct {
	w   codec.Writer[[]byte]
	out []byte
	e   *encoding
}

func newTestDecoder(e *encoding) (*testDecoder, error) {
	td := &testDecoder{e: e}
	w, err := codec.Convert(e.wire, codec.PCMU, codec.NewSink("test", 8000, func(p []byte) error {
		td.out = append(td.out, p...)
		return nil
	}))
	if err != nil {
		return nil, e.fail(err)
	}
	td.w = w
	return td, nil
}

func (td *testDecoder) decode(dst, payload []byte) ([]byte, error) {
	td.out = dst
	if err := td.w.WriteFrame(payload); err != nil {
		return td.out, td.e.fail(err)
	}
	return td.out, nil
}

// TestLookupEncoding checks names, aliases, case and the default.
func TestLookupEncoding(t *testing.T) {
	for name, want := range map[string]string{
		"": "PCM8", "ULAW": "ULAW", "ulaw": "ULAW", "ALAW": "ALAW", "PCM8": "PCM8", "PCM16_8KHZ": "PCM8",
		"PCM16": "PCM16", "PCM16_16KHZ": "PCM16", "OPUS": "OPUS", "audio/x-mulaw": "ULAW", "audio/x-alaw": "ALAW",
	} {
		e, err := lookupEncoding(name)
		if err != nil || e.name != want {
			t.Errorf("lookupEncoding(%q) = %v, %v; want %s", name, e, err, want)
		}
	}
	rates := map[string]int{"ULAW": 8000, "ALAW": 8000, "PCM8": 8000, "PCM16": 16000, "OPUS": 48000}
	for name, rate := range rates {
		if e, _ := lookupEncoding(name); e.rate != rate {
			t.Errorf("%s rate %d, want %d", name, e.rate, rate)
		}
	}
	if _, err := lookupEncoding("MP3"); !errors.Is(err, ErrEncoding) {
		t.Errorf("MP3: %v", err)
	}
}

// TestEncoders checks each encoding's bytes for one frame and the samples
// per frame its timestamps count.
func TestEncoders(t *testing.T) {
	frame := make([]byte, 160)
	for i := range frame {
		frame[i] = byte(i * 7)
	}
	tests := []struct {
		enc  string
		spf  int
		want func() []byte
	}{
		{"ULAW", 160, func() []byte { return frame }},
		{"ALAW", 160, func() []byte { b := make([]byte, 160); codec.TranscodeULawToALaw(b, frame); return b }},
		{"PCM8", 160, func() []byte {
			var b []byte
			for _, u := range frame {
				b = binary.LittleEndian.AppendUint16(b, uint16(codec.ULawToPCM(u)))
			}
			return b
		}},
		{"PCM16", 320, func() []byte {
			rs, _ := codec.NewResampler(8000, 16000)
			return codec.SamplesToPCM16LE(nil, rs.Process(nil, codec.DecodeULaw(nil, frame)))
		}},
	}
	for _, tc := range tests {
		e, _ := lookupEncoding(tc.enc)
		enc, err := newTestEncoder(e)
		if err != nil {
			t.Fatal(err)
		}
		got := enc.Encode([]byte("x"), frame)
		if !bytes.Equal(got[1:], tc.want()) || got[0] != 'x' {
			t.Errorf("%s: encoded %d bytes, not the expected %d", tc.enc, len(got)-1, len(tc.want()))
		}
		if enc.SamplesPerFrame() != tc.spf {
			t.Errorf("%s: %d samples per frame, want %d", tc.enc, enc.SamplesPerFrame(), tc.spf)
		}
	}
}

// TestPCM16EncoderQuality sends a 1 kHz tone through the 8→16 kHz encoder
// frame by frame: the output holds the tone and no image at 7 kHz (sample
// doubling would leave one about 20 dB down).
func TestPCM16EncoderQuality(t *testing.T) {
	e, _ := lookupEncoding("PCM16")
	enc, _ := newTestEncoder(e)
	in := codec.EncodeULaw(nil, voxtest.Tone(16000, 8000, 1000, 8000))
	var out []byte
	for i := 0; i+160 <= len(in); i += 160 {
		out = enc.Encode(out, in[i:i+160])
	}
	s := codec.PCM16LEToSamples(nil, out)[1000:31000]
	if f := voxtest.Power(s, 16000, 1000) / voxtest.MeanPower(s); f < 0.99 {
		t.Errorf("1 kHz holds %.4f of the power", f)
	}
	if img := 10 * math.Log10(voxtest.Power(s, 16000, 7000)/voxtest.Power(s, 16000, 1000)); img > -60 {
		t.Errorf("image at 7 kHz %.1f dB", img)
	}
}

// TestDecoders checks each decoder, including payloads that split a
// 16-bit sample.
func TestDecoders(t *testing.T) {
	ulaw := voxtest.Clip(1000)
	pcm := codec.SamplesToPCM16LE(nil, codec.DecodeULaw(nil, ulaw))
	alaw := make([]byte, len(ulaw))
	codec.TranscodeULawToALaw(alaw, ulaw)
	viaALaw := make([]byte, len(alaw))
	codec.TranscodeALawToULaw(viaALaw, alaw)
	tests := []struct {
		enc  string
		data []byte
		want []byte
	}{
		{"ULAW", ulaw, ulaw},
		{"ALAW", alaw, viaALaw},
		{"PCM8", pcm, ulaw},
	}
	for _, tc := range tests {
		for _, chunk := range []int{1, 3, 160, 333, len(tc.data)} {
			e, _ := lookupEncoding(tc.enc)
			d, _ := newTestDecoder(e)
			var out []byte
			for i := 0; i < len(tc.data); i += chunk {
				var err error
				if out, err = d.decode(out, tc.data[i:min(i+chunk, len(tc.data))]); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(out, tc.want) {
				t.Errorf("%s in chunks of %d: %d bytes out, equal prefix %d", tc.enc, chunk, len(out), commonPrefix(out, tc.want))
			}
		}
	}
	// PCM16 at 16 kHz: length halves and a tone survives, in odd chunks.
	e, _ := lookupEncoding("PCM16")
	d, _ := newTestDecoder(e)
	in := codec.SamplesToPCM16LE(nil, voxtest.Tone(16000, 16000, 1000, 8000))
	var out []byte
	for i := 0; i < len(in); i += 777 {
		out, _ = d.decode(out, in[i:min(i+777, len(in))])
	}
	if len(out) != 8000 {
		t.Fatalf("PCM16: %d samples out of 16000, want 8000", len(out))
	}
	s := codec.DecodeULaw(nil, out)[500:7500]
	if f := voxtest.Power(s, 8000, 1000) / voxtest.MeanPower(s); f < 0.99 {
		t.Errorf("PCM16 decode: 1 kHz holds %.4f", f)
	}
}

// TestOpus checks the Opus round trip in a build with -tags opus, and the
// clear error of a build without it.
func TestOpus(t *testing.T) {
	if OpusSupported {
		e, _ := lookupEncoding("OPUS")
		enc, err := newTestEncoder(e)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := newTestDecoder(e)
		if err != nil {
			t.Fatal(err)
		}
		frame := codec.EncodeULaw(nil, voxtest.Tone(160, 8000, 1000, 8000))
		pkt := enc.Encode(nil, frame)
		out, err := dec.decode(nil, pkt)
		if err != nil || len(pkt) == 0 || len(out) != 160 || enc.SamplesPerFrame() != 960 {
			t.Fatalf("opus round trip: %d byte packet, %d samples, %v", len(pkt), len(out), err)
		}
		return
	}
	e, _ := lookupEncoding("OPUS")
	if _, err := newTestEncoder(e); !errors.Is(err, ErrOpus) || !bytes.Contains([]byte(err.Error()), []byte("-tags opus")) {
		t.Errorf("encoder: %v", err)
	}
	if _, err := newTestDecoder(e); !errors.Is(err, ErrOpus) {
		t.Errorf("decoder: %v", err)
	}
}

// TestResampleTo8k converts clips at other rates: a tone in band is kept,
// one above 4 kHz is removed instead of folding back.
func TestResampleTo8k(t *testing.T) {
	for _, rate := range []int{11025, 22050, 44100, 48000, 6000} {
		x := voxtest.Tone(rate, rate, 1000, 8000)
		if rate > 8000 {
			y := voxtest.Tone(rate, rate, 5500, 8000)
			for i := range x {
				x[i] += y[i] / 2
			}
		}
		out := codec.ResampleClip(x, rate, 8000)
		if d := len(out) - 8000; d < -1 || d > 1 {
			t.Fatalf("%d Hz: %d samples out, want 8000", rate, len(out))
		}
		s := out[1000:7000]
		if f := voxtest.Power(s, 8000, 1000) / voxtest.MeanPower(s); f < 0.98 {
			t.Errorf("%d Hz: 1 kHz holds %.4f", rate, f)
		}
		// 5.5 kHz would alias to 2.5 kHz.
		if a := 10 * math.Log10(voxtest.Power(s, 8000, 2500)/voxtest.Power(s, 8000, 1000)); rate > 8000 && a > -50 {
			t.Errorf("%d Hz: alias at 2.5 kHz %.1f dB", rate, a)
		}
	}
}

// TestDTMFAudio checks the in-band tones of sendDigits.
func TestDTMFAudio(t *testing.T) {
	b, err := dtmfAudio("5#")
	if err != nil || len(b) != 2*1280 {
		t.Fatalf("%d bytes, %v", len(b), err)
	}
	s := codec.DecodeULaw(nil, b[:800])
	if f := (voxtest.Power(s, 8000, 770) + voxtest.Power(s, 8000, 1336)) / voxtest.MeanPower(s); f < 0.95 {
		t.Errorf("5: its two tones hold %.3f", f)
	}
	if _, err := dtmfAudio("5x"); err == nil {
		t.Error("x accepted")
	}
}

// remoteMediaSocket makes a socket with one started PCM16 stream bound to
// a playout, without a connection: the reader's path alone.
func remoteMediaSocket(t testing.TB, enc string) (*jsSocket, *stream.Playout, []byte) {
	w := &jsSocket{in: map[string]*inStream{}, s: &session{lim: DefaultLimits()}}
	e, _ := lookupEncoding(enc)
	pl, err := stream.NewPlayout(10e9, e.wire, codec.PCMU)
	if err != nil {
		t.Fatal(err)
	}
	st := w.streamLocked("t")
	st.enc, st.started, st.active = e, true, true
	st.sinks = []*binding{{tag: "t", playout: pl}}
	var payload []byte
	switch enc {
	case "PCM16":
		payload = make([]byte, 640)
	default:
		payload = make([]byte, 320)
	}
	msg := voximplant.New().AppendMedia(nil, 1, &stream.Info{Tag: "t"}, &stream.Media{Chunk: 1, Payload: payload})
	return w, pl, msg
}

// TestRemoteMediaNoAlloc checks that a media message from the remote is
// decoded and buffered without allocating, for every encoding.
func TestRemoteMediaNoAlloc(t *testing.T) {
	for _, enc := range []string{"ULAW", "ALAW", "PCM8", "PCM16"} {
		w, pl, msg := remoteMediaSocket(t, enc)
		var m stream.AppMessage
		d := voximplant.New()
		frame := make([]byte, 160)
		n := testing.AllocsPerRun(200, func() {
			if err := d.Decode(msg, &m); err != nil {
				t.Fatal(err)
			}
			w.remoteMedia(&m)
			pl.ReadFrame(frame)
		})
		if n != 0 {
			t.Errorf("%s: %v allocations per media message", enc, n)
		}
	}
}

// TestEncodeNoAlloc checks the per-frame encoders and a clock pump.
func TestEncodeNoAlloc(t *testing.T) {
	frame := voxtest.Clip(160)
	dst := make([]byte, 0, 1024)
	for _, name := range []string{"ULAW", "ALAW", "PCM8", "PCM16"} {
		e, _ := lookupEncoding(name)
		enc, _ := newTestEncoder(e)
		enc.Encode(dst[:0], frame)
		if n := testing.AllocsPerRun(200, func() { dst = enc.Encode(dst[:0], frame) }); n != 0 {
			t.Errorf("%s: %v allocations per frame", name, n)
		}
	}
}

func BenchmarkRemoteMedia(b *testing.B) {
	for _, enc := range []string{"ULAW", "PCM8", "PCM16"} {
		b.Run(enc, func(b *testing.B) {
			w, pl, msg := remoteMediaSocket(b, enc)
			var m stream.AppMessage
			d := voximplant.New()
			frame := make([]byte, 160)
			b.ReportAllocs()
			for b.Loop() {
				_ = d.Decode(msg, &m)
				w.remoteMedia(&m)
				pl.ReadFrame(frame)
			}
		})
	}
}

func BenchmarkEncodeFrame(b *testing.B) {
	frame := voxtest.Clip(160)
	for _, name := range []string{"ULAW", "ALAW", "PCM8", "PCM16"} {
		b.Run(name, func(b *testing.B) {
			e, _ := lookupEncoding(name)
			enc, _ := newTestEncoder(e)
			dst := make([]byte, 0, 1024)
			b.ReportAllocs()
			for b.Loop() {
				dst = enc.Encode(dst[:0], frame)
			}
		})
	}
}
