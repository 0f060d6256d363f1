package media

import (
	"bytes"
	"errors"
	"math"
	"os"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/codec"
)

// The MP3 fixture and its WAV twin (see testdata/README.md): speech
// synthesized at 22.05 kHz, and the same file encoded as MP3.
func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pcmOf(a *Audio) []int16 { return codec.PCM16LEToSamples(nil, a.Data) }

func rms(s []int16) float64 {
	var sum float64
	for _, v := range s {
		sum += float64(v) * float64(v)
	}
	return math.Sqrt(sum / float64(max(len(s), 1)))
}

// bestCorrelation returns the largest normalized correlation of b against a
// over lags 0..maxLag (b delayed: an MP3 decoder adds the encoder's delay
// in front), and the lag it is found at.
func bestCorrelation(a, b []int16, maxLag int) (float64, int) {
	best, at := -1.0, 0
	for lag := 0; lag <= maxLag; lag++ {
		n := min(len(a), len(b)-lag)
		var ab, aa, bb float64
		for i := range n {
			x, y := float64(a[i]), float64(b[i+lag])
			ab += x * y
			aa += x * x
			bb += y * y
		}
		if c := ab / math.Sqrt(aa*bb); c > best {
			best, at = c, lag
		}
	}
	return best, at
}

func TestDecodeMP3MatchesItsWAVTwin(t *testing.T) {
	wav, err := Decode(readFixture(t, "speech_22k.wav"), 0)
	if err != nil {
		t.Fatal(err)
	}
	mp3, err := Decode(readFixture(t, "speech_22k.mp3"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if mp3.Encoding != EncodingPCM16 || mp3.Channels != 1 || mp3.SampleRate != wav.SampleRate {
		t.Fatalf("mp3 decoded as %v x%d at %d Hz, want pcm16 mono at %d Hz", mp3.Encoding, mp3.Channels, mp3.SampleRate, wav.SampleRate)
	}
	w, m := pcmOf(wav), pcmOf(mp3)
	// Encoder delay and padding: at most a few frames of 576 samples more.
	if len(m) < len(w) || len(m) > len(w)+4*1152 {
		t.Fatalf("mp3 has %d samples, its twin %d", len(m), len(w))
	}
	c, lag := bestCorrelation(w, m, 3000)
	if c < 0.95 {
		t.Fatalf("mp3 correlates %.3f with its twin at best (lag %d), want >= 0.95", c, lag)
	}
	db := 20 * math.Log10(rms(m[lag:lag+len(w)])/rms(w))
	if math.Abs(db) > 1 {
		t.Fatalf("mp3 level %.2f dB from its twin, want within 1 dB", db)
	}
	t.Logf("correlation %.3f at lag %d, level %+.2f dB", c, lag, db)
}

// id3v2 returns an ID3v2.4 tag holding padding bytes of zeros only.
func id3v2(padding int) []byte {
	b := []byte("ID3\x04\x00\x00")
	// The size is a syncsafe integer: 7 bits a byte.
	return append(append(b, byte(padding>>21&0x7F), byte(padding>>14&0x7F), byte(padding>>7&0x7F), byte(padding&0x7F)),
		make([]byte, padding)...)
}

func TestDecodeMP3AfterAnID3Tag(t *testing.T) {
	raw := readFixture(t, "speech_22k.mp3")
	plain, err := Decode(raw, 0)
	if err != nil {
		t.Fatal(err)
	}
	tagged, err := Decode(append(id3v2(300), raw...), 0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tagged.Data, plain.Data) {
		t.Fatalf("with an ID3 tag: %d bytes decoded, without %d (or other bytes)", len(tagged.Data), len(plain.Data))
	}
}

func TestSniff(t *testing.T) {
	mp3 := readFixture(t, "speech_22k.mp3")
	for _, tc := range []struct {
		name string
		b    []byte
		want Container
	}{
		{"wav", readFixture(t, "pcm16.wav"), ContainerWAV},
		{"mp3 frame", mp3, ContainerMP3},
		{"id3", id3v2(10), ContainerMP3},
		{"html", []byte("<html><body>Not Found</body></html>"), ContainerUnknown},
		{"riff not wave", []byte("RIFF\x00\x00\x00\x00AVI LIST"), ContainerUnknown},
		{"sync with reserved layer", []byte{0xFF, 0xF9, 0x90, 0x00}, ContainerUnknown},
		{"sync with bad bitrate", []byte{0xFF, 0xFB, 0xF0, 0x00}, ContainerUnknown},
		{"empty", nil, ContainerUnknown},
	} {
		if got := Sniff(tc.b); got != tc.want {
			t.Errorf("%s: Sniff = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// stereoWAV returns seconds of a 1 kHz sine of amplitude amp as a 16-bit
// WAV file at rate with channels channels.
func stereoWAV(rate, channels int, amp, seconds float64) []byte {
	a := tone(1000, amp, rate, channels, seconds)
	return riff(chunk("fmt ", fmtBody(wavFormatPCM, channels, rate, 16)), chunk("data", a.Data))
}

// The sine's level after conversion: amp/sqrt(2) within 0.5 dB.
func checkLevel(t *testing.T, name string, pcm []int16, amp float64) {
	t.Helper()
	want := amp / math.Sqrt2
	if db := 20 * math.Log10(rmsMiddle(pcm)/want); math.Abs(db) > 0.5 {
		t.Errorf("%s: level %.2f dB from the file's, want within 0.5 dB", name, db)
	}
}

func TestDecodeWAVForCalls(t *testing.T) {
	const amp = 8000
	pcm8k := tone(1000, amp, 8000, 1, 1).Data
	alaw := codec.EncodeALaw(nil, codec.PCM16LEToSamples(nil, pcm8k))
	var alawWAV bytes.Buffer
	if err := WriteWAV(&alawWAV, EncodingALaw, 8000, alaw); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		file []byte
		secs float64
	}{
		{"44.1 kHz stereo pcm16", stereoWAV(44100, 2, amp, 1), 1},
		{"8 kHz a-law", alawWAV.Bytes(), 1},
		{"16 kHz pcm16", stereoWAV(16000, 1, amp, 0.5), 0.5},
		{"22.05 kHz three channels", stereoWAV(22050, 3, amp, 0.5), 0.5},
	} {
		a, err := Decode(tc.file, 0)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for _, f := range []codec.Format{codec.PCMU, codec.PCMA, codec.G722, codec.L16(16000)} {
			b, err := a.ForCall(f)
			if err != nil {
				t.Fatalf("%s as %v: %v", tc.name, f, err)
			}
			frames := int(math.Ceil(tc.secs * 50))
			if want := frames * f.MaxFrameBytes(); len(b) != want {
				t.Errorf("%s as %v: %d bytes, want %d (%d frames)", tc.name, f, len(b), want, frames)
			}
			var pcm []int16
			switch f.Name {
			case codec.NamePCMU:
				pcm = codec.DecodeULaw(nil, b)
			case codec.NamePCMA:
				pcm = codec.DecodeALaw(nil, b)
			case codec.NameL16:
				pcm = codec.PCM16LEToSamples(nil, b)
			default:
				continue // G.722's level is checked through its decoder elsewhere
			}
			checkLevel(t, tc.name+" as "+f.String(), pcm, amp)
		}
	}
	// A prompt already in the call's codec passes unchanged.
	a, err := Decode(alawWAV.Bytes(), 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := a.ForCall(codec.PCMA)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, alaw) {
		t.Fatal("an 8 kHz A-law prompt for a PCMA call: its bytes changed")
	}
}

func TestDecodeMP3ForACall(t *testing.T) {
	a, err := Decode(readFixture(t, "speech_22k.mp3"), 0)
	if err != nil {
		t.Fatal(err)
	}
	ulaw, err := a.ForCall(codec.PCMU)
	if err != nil {
		t.Fatal(err)
	}
	want := len(a.Data) / 2 * 8000 / 22050
	if len(ulaw) < want || len(ulaw) > want+160 {
		t.Fatalf("%d bytes of µ-law from %d samples at 22.05 kHz, want %d", len(ulaw), len(a.Data)/2, want)
	}
	db := 20 * math.Log10(rms(codec.DecodeULaw(nil, ulaw))/rms(pcmOf(a)))
	if math.Abs(db) > 1 {
		t.Fatalf("µ-law level %.2f dB from the decoded MP3's", db)
	}
}

func TestDecodeRefusesOtherFiles(t *testing.T) {
	for body, want := range map[string]string{
		"\n <!DOCTYPE html><html>404</html>": "not WAV or MP3 audio: the file is an HTML or XML document",
		`{"error":"not found"}`:              "not WAV or MP3 audio: the file is JSON",
		"Access denied":                      "not WAV or MP3 audio: the file is text",
		"fLaC\x00\x00\x00\x22":               "not WAV or MP3 audio: the file is binary data of another format",
	} {
		_, err := Decode([]byte(body), 0)
		if !errors.Is(err, ErrUnknownAudio) || err.Error() != want {
			t.Errorf("%.10q: err = %v, want %q", body, err, want)
		}
	}
	// An MP3 frame header followed by garbage.
	_, err := Decode(append([]byte{0xFF, 0xFB, 0x90, 0x00}, bytes.Repeat([]byte{0x55}, 200)...), 0)
	if err == nil || !errors.Is(err, ErrMalformedMP3) {
		t.Fatalf("bad mp3: err = %v, want ErrMalformedMP3", err)
	}
	if _, err := Decode(nil, 0); !errors.Is(err, ErrUnknownAudio) {
		t.Fatalf("empty: err = %v, want ErrUnknownAudio", err)
	}
}

func TestDecodeBoundsTheDecodedLength(t *testing.T) {
	// The fixture is over a second of audio.
	_, err := Decode(readFixture(t, "speech_22k.mp3"), 500*time.Millisecond)
	if !errors.Is(err, ErrTooLong) {
		t.Fatalf("mp3 over the bound: err = %v, want ErrTooLong", err)
	}
	_, err = Decode(stereoWAV(8000, 1, 1000, 2), time.Second)
	if !errors.Is(err, ErrTooLong) {
		t.Fatalf("wav over the bound: err = %v, want ErrTooLong", err)
	}
	if _, err := Decode(stereoWAV(8000, 1, 1000, 2), 3*time.Second); err != nil {
		t.Fatalf("wav within the bound: %v", err)
	}
}

// A small file that unpacks to much more audio than the bound (here the
// fixture's frames repeated, 4 minutes from 1.5 MB) stops at the bound
// instead of filling memory.
func TestDecodeMP3BombStopsAtTheBound(t *testing.T) {
	raw := readFixture(t, "speech_22k.mp3")
	big := bytes.Repeat(raw, 200) // about 4 minutes of audio
	_, err := Decode(big, time.Minute)
	if !errors.Is(err, ErrTooLong) {
		t.Fatalf("err = %v, want ErrTooLong", err)
	}
}
