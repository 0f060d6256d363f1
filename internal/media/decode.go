package media

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/callstream/callstream/internal/codec"
)

// MaxDecodedBytes bounds the samples Decode keeps, whatever its duration
// bound: 128 MiB of 16-bit mono PCM is about 25 minutes at 44.1 kHz, an
// hour at 16 kHz. A compressed file that would unpack to more (an MP3 of
// hours of silence) fails with ErrTooLong before it is held whole.
const MaxDecodedBytes = 128 << 20

// DefaultMaxDuration is the duration bound players pass to Decode: a
// prompt or hold music of up to an hour.
const DefaultMaxDuration = time.Hour

// ErrUnknownAudio reports input that is neither a WAV file nor MP3 audio.
var ErrUnknownAudio = errors.New("not WAV or MP3 audio")

// Container names what Sniff found at the start of a file.
type Container uint8

// Containers Sniff tells apart.
const (
	// ContainerUnknown is anything else (an HTML error page, text, ...).
	ContainerUnknown Container = iota
	// ContainerWAV is a RIFF/WAVE file.
	ContainerWAV
	// ContainerMP3 is MPEG audio: an ID3v2 tag or an MPEG frame sync.
	ContainerMP3
	// ContainerOgg is an Ogg file (Opus is decoded; Vorbis, FLAC and
	// Speex in Ogg are refused).
	ContainerOgg
)

// String returns "wav", "mp3" or "unknown".
func (c Container) String() string {
	switch c {
	case ContainerWAV:
		return "wav"
	case ContainerMP3:
		return "mp3"
	case ContainerOgg:
		return "ogg"
	}
	return "unknown"
}

// Sniff tells the container of an audio file from its first bytes, never
// from a name or a Content-Type: "RIFF....WAVE" is WAV; "ID3" (an ID3v2
// tag) or an MPEG audio frame header (11 sync bits, a valid version, layer
// and sample rate) is MP3; "OggS" with page version 0 is Ogg.
func Sniff(b []byte) Container {
	switch {
	case len(b) >= 5 && string(b[:4]) == "OggS" && b[4] == 0:
		return ContainerOgg
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WAVE":
		return ContainerWAV
	case len(b) >= 3 && string(b[:3]) == "ID3":
		return ContainerMP3
	case len(b) >= 4 && isMPEGFrameHeader(b):
		return ContainerMP3
	}
	return ContainerUnknown
}

// isMPEGFrameHeader reports whether b starts with an MPEG audio frame
// header: sync, a version other than reserved, a layer, a bitrate index
// other than "bad" and a sample rate index other than reserved.
func isMPEGFrameHeader(b []byte) bool {
	return b[0] == 0xFF && b[1]&0xE0 == 0xE0 &&
		b[1]&0x18 != 0x08 && // version 01 is reserved
		b[1]&0x06 != 0x00 && // layer 00 is reserved
		b[2]&0xF0 != 0xF0 && // bitrate index 1111 is bad
		b[2]&0x0C != 0x0C // sample rate index 11 is reserved
}

// Decode reads a whole audio file, telling its format from its bytes
// (see Sniff): WAV in µ-law, A-law or 16-bit PCM at any rate and channel
// count, returned as it is stored; or MP3 (MPEG-1, 2 or 2.5 Layer III, any
// of their rates), returned as 16-bit mono PCM at the file's rate; or
// Ogg/Opus, returned as 16-bit mono PCM at 48 kHz (Ogg/Vorbis, FLAC and
// Speex fail with an error wrapping ErrUnsupportedFormat). Audio
// longer than maxDuration (0: DefaultMaxDuration), or decoding to more
// than MaxDecodedBytes, fails with an error wrapping ErrTooLong; input of
// another kind with one wrapping ErrUnknownAudio that says what it looks
// like (HTML, JSON, text, binary). Whatever reads the input bounds its size.
func Decode(data []byte, maxDuration time.Duration) (*Audio, error) {
	return DecodeReader(bytes.NewReader(data), maxDuration)
}

// DecodeReader is Decode of a file read as it arrives: a WAV file's
// samples are read once into the Audio, an MP3 is decoded frame by frame,
// and the file is never held whole beside what it decodes to.
func DecodeReader(r io.Reader, maxDuration time.Duration) (*Audio, error) {
	if maxDuration <= 0 {
		maxDuration = DefaultMaxDuration
	}
	br := bufio.NewReaderSize(r, sniffBytes)
	head, err := br.Peek(sniffBytes)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("audio: read: %w", err)
	}
	switch Sniff(head) {
	case ContainerWAV:
		a, err := ReadWAV(br)
		if err != nil {
			return nil, err
		}
		if d := a.Duration(); d > maxDuration {
			return nil, fmt.Errorf("wav: %s of audio, at most %s: %w", d.Round(time.Second), maxDuration, ErrTooLong)
		}
		return a, nil
	case ContainerMP3:
		return decodeMP3(br, maxDuration)
	case ContainerOgg:
		return decodeOgg(br, maxDuration)
	}
	return nil, fmt.Errorf("%w: %s", ErrUnknownAudio, describeStart(head))
}

// sniffBytes is how much of a file Sniff is shown.
const sniffBytes = 16

// Duration returns how long the audio plays.
func (a *Audio) Duration() time.Duration {
	frame := a.Encoding.bytesPerSample() * a.Channels
	if frame == 0 || a.SampleRate <= 0 {
		return 0
	}
	return time.Duration(int64(len(a.Data)/frame) * int64(time.Second) / int64(a.SampleRate))
}

// describeStart says what a file that is not audio looks like, from its
// first bytes, without quoting them (they may be anything the server
// sent): an HTML or XML page (an error page, a login form), JSON, other
// text, or binary data.
func describeStart(b []byte) string {
	t := bytes.TrimLeft(b, " \t\r\n\xef\xbb\xbf")
	switch {
	case len(b) == 0:
		return "the file is empty"
	case len(t) > 0 && t[0] == '<':
		return "the file is an HTML or XML document"
	case len(t) > 0 && (t[0] == '{' || t[0] == '['):
		return "the file is JSON"
	}
	for _, c := range b {
		if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c > 0x7E {
			return "the file is binary data of another format"
		}
	}
	return "the file is text"
}

// ForCall returns the audio in a call's format f, converted once: mixed
// down to mono, resampled once to f's rate and encoded once in f's codec.
// Audio already in f (mono µ-law at 8 kHz for PCMU, ...) comes back as
// the same bytes: a.Data itself when it holds whole 20 ms frames, else a
// copy completed with silence. It works on the whole clip and allocates:
// players call it when a file is loaded, never per frame.
func (a *Audio) ForCall(f codec.Format) ([]byte, error) {
	if f.Rate <= 0 || f.MaxFrameBytes() == 0 || strings.EqualFold(f.Name, codec.NameOpus) {
		return nil, fmt.Errorf("media: convert to %v: %w", f, codec.ErrUnknownFormat)
	}
	if a.Channels == 1 && a.SampleRate == f.Rate && a.inFormat(f) && len(a.Data)%f.MaxFrameBytes() == 0 {
		return a.Data, nil
	}
	telephony := func(rate int) bool { return rate == SampleRate || rate == 2*SampleRate }
	if a.Channels == 1 && telephony(a.SampleRate) && telephony(f.Rate) {
		// G.711 and PCM at 8 or 16 kHz: the codec package's own chain, which
		// passes equal encodings through and resamples 8 <-> 16 kHz once.
		return a.Encode(f)
	}
	m, err := a.Resampled(f.Rate)
	if err != nil {
		return nil, err
	}
	return Convert(m.Data, codec.L16(f.Rate), f)
}

// inFormat reports whether a's samples are f's bytes: µ-law for PCMU,
// A-law for PCMA, little-endian 16-bit PCM for L16.
func (a *Audio) inFormat(f codec.Format) bool {
	switch {
	case strings.EqualFold(f.Name, codec.NamePCMU):
		return a.Encoding == EncodingULaw
	case strings.EqualFold(f.Name, codec.NamePCMA):
		return a.Encoding == EncodingALaw
	case strings.EqualFold(f.Name, codec.NameL16):
		return a.Encoding == EncodingPCM16 && !f.BigEndian
	}
	return false
}
