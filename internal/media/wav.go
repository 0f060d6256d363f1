package media

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/callstream/callstream/internal/codec"
)

// Encoding is the sample encoding of a block of audio.
type Encoding uint8

// Encodings this package reads and writes. The zero value is not a valid
// encoding.
const (
	// EncodingULaw is G.711 µ-law, one byte per sample.
	EncodingULaw Encoding = iota + 1
	// EncodingALaw is G.711 A-law, one byte per sample.
	EncodingALaw
	// EncodingPCM16 is signed 16-bit little-endian linear PCM.
	EncodingPCM16
)

// String returns "ulaw", "alaw" or "pcm16".
func (e Encoding) String() string {
	switch e {
	case EncodingULaw:
		return "ulaw"
	case EncodingALaw:
		return "alaw"
	case EncodingPCM16:
		return "pcm16"
	}
	return fmt.Sprintf("Encoding(%d)", uint8(e))
}

// bytesPerSample returns the size of one sample of one channel, or 0 for an
// invalid encoding.
func (e Encoding) bytesPerSample() int {
	switch e {
	case EncodingULaw, EncodingALaw:
		return 1
	case EncodingPCM16:
		return 2
	}
	return 0
}

// Audio is raw audio taken out of (or going into) a container such as WAV:
// samples in Encoding, channels interleaved.
type Audio struct {
	Encoding   Encoding
	SampleRate int    // samples per second per channel
	Channels   int    // interleaved channels in Data
	Data       []byte // samples in Encoding; PCM16 is little-endian
}

// WAV format tags (the fmt chunk's wFormatTag).
const (
	wavFormatPCM        = 0x0001
	wavFormatFloat      = 0x0003
	wavFormatALaw       = 0x0006
	wavFormatULaw       = 0x0007
	wavFormatExtensible = 0xFFFE
)

// wavFormatName names a format tag for messages.
func wavFormatName(tag uint16) string {
	switch tag {
	case wavFormatPCM:
		return "PCM"
	case 0x0002:
		return "MS ADPCM"
	case 0x0003:
		return "IEEE float"
	case wavFormatALaw:
		return "A-law"
	case wavFormatULaw:
		return "mu-law"
	case 0x0011:
		return "IMA ADPCM"
	case 0x0031:
		return "GSM 6.10"
	case 0x0040:
		return "G.721 ADPCM"
	case 0x0050:
		return "MPEG"
	case 0x0055:
		return "MP3"
	case 0x0064:
		return "G.726 ADPCM"
	case 0x0160, 0x0161:
		return "WMA"
	case 0x1610:
		return "AAC"
	case 0xF1AC:
		return "FLAC"
	}
	return "unknown"
}

// extensibleGUIDTail is bytes 2..15 of every KSDATAFORMAT_SUBTYPE GUID that
// wraps a plain format tag (the tag itself is bytes 0..1).
const extensibleGUIDTail = "\x00\x00\x00\x00\x10\x00\x80\x00\x00\xAA\x00\x38\x9B\x71"

// Chunk-size limits.
const (
	// maxFmtSize bounds the fmt chunk we are willing to buffer.
	maxFmtSize = 1 << 12
	// streamingSize is the smallest data or RIFF size that writers which
	// cannot seek (sox and espeak-ng on a pipe) leave as a placeholder; such
	// a data chunk runs to the end of the input.
	streamingSize = 0x7FFFF000
	// maxPresize bounds the buffer a data chunk's declared size allocates
	// before its bytes arrive.
	maxPresize = 16 << 20
)

// ReadWAV reads a RIFF/WAVE file: µ-law or A-law (8-bit) or 16-bit PCM, in
// plain or WAVE_FORMAT_EXTENSIBLE form, any rate and channel count. It skips
// chunks other than "fmt " and "data" (LIST, fact, ...), honours the pad byte
// after odd-sized chunks and stops reading after the data chunk. A data
// chunk with a placeholder size (0x7FFFF000 or more, written by tools that
// cannot seek back) extends to the end of the input. The RIFF size field is
// not checked, for the same reason.
//
// Linear PCM of 8, 24 or 32 bits and IEEE float of 32 or 64 bits (what
// editors export) are read as 16-bit PCM: the Audio's Encoding is
// EncodingPCM16 whatever the file stores.
func ReadWAV(r io.Reader) (*Audio, error) {
	a, data, err := readHeader(r)
	if err != nil {
		return nil, err
	}
	return readData(r, a, data)
}

// readHeader reads a WAV file up to the body of its data chunk: the format
// (an Audio without data) and the data chunk's size and sample layout.
func readHeader(r io.Reader) (*Audio, dataChunk, error) {
	a, layout, size, err := readChunks(r)
	return a, dataChunk{size: size, layout: layout}, err
}

// dataChunk is what the header tells of the data chunk.
type dataChunk struct {
	size   uint32 // declared size
	layout sampleLayout
}

// readChunks reads the chunks of a WAV file up to the body of its data
// chunk.
func readChunks(r io.Reader) (*Audio, sampleLayout, uint32, error) {
	var layout sampleLayout
	var hdr [12]byte
	if n, err := io.ReadFull(r, hdr[:]); err != nil {
		switch {
		case err != io.EOF && err != io.ErrUnexpectedEOF:
			return nil, layout, 0, fmt.Errorf("wav: read header: %w", err)
		case n >= 4 && string(hdr[:4]) == "RIFF":
			return nil, layout, 0, errorf(ErrTruncated, "wav: truncated RIFF header: %d of 12 bytes", n)
		}
		return nil, layout, 0, ErrNotWAV
	}
	if string(hdr[:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return nil, layout, 0, ErrNotWAV
	}

	var (
		a      *Audio
		header [8]byte
	)
	for {
		n, err := io.ReadFull(r, header[:])
		switch {
		case err == io.EOF && a == nil:
			return nil, layout, 0, errorf(ErrMalformed, `wav: no "fmt " chunk`)
		case err == io.EOF:
			return nil, layout, 0, errorf(ErrMalformed, `wav: no "data" chunk`)
		case err == io.ErrUnexpectedEOF:
			return nil, layout, 0, errorf(ErrTruncated, "wav: truncated chunk header: %d of 8 bytes", n)
		case err != nil:
			return nil, layout, 0, fmt.Errorf("wav: read chunk header: %w", err)
		}
		id := string(header[:4])
		size := binary.LittleEndian.Uint32(header[4:])

		switch {
		case id == "fmt " && a == nil:
			if size < 16 || size > maxFmtSize {
				return nil, layout, 0, errorf(ErrMalformed, `wav: "fmt " chunk size %d, want 16 to %d`, size, maxFmtSize)
			}
			body := make([]byte, size+size&1)
			if n, err := io.ReadFull(r, body); err != nil && !(err == io.ErrUnexpectedEOF && n == int(size)) {
				return nil, layout, 0, readChunkErr("fmt ", n, size, err)
			}
			if a, layout, err = parseFmt(body[:size]); err != nil {
				return nil, layout, 0, err
			}
		case id == "data" && a == nil:
			return nil, layout, 0, errorf(ErrMalformed, `wav: "data" chunk before "fmt " chunk`)
		case id == "data":
			return a, layout, size, nil
		default:
			if err := skipChunk(r, id, size); err != nil {
				return nil, layout, 0, err
			}
		}
	}
}

// parseFmt decodes a fmt chunk body into an Audio with no data and the
// layout of its samples in the file.
func parseFmt(b []byte) (*Audio, sampleLayout, error) {
	tag := binary.LittleEndian.Uint16(b[0:])
	channels := int(binary.LittleEndian.Uint16(b[2:]))
	rate := binary.LittleEndian.Uint32(b[4:])
	blockAlign := int(binary.LittleEndian.Uint16(b[12:]))
	bitsPerSample := int(binary.LittleEndian.Uint16(b[14:]))

	if tag == wavFormatExtensible {
		if len(b) < 40 {
			return nil, sampleLayout{}, errorf(ErrMalformed, `wav: "fmt " chunk size %d, want 40 for WAVE_FORMAT_EXTENSIBLE`, len(b))
		}
		guid := b[24:40]
		if string(guid[2:]) != extensibleGUIDTail {
			return nil, sampleLayout{}, errorf(ErrUnsupportedFormat, "wav: unsupported extensible sub-format %x", guid)
		}
		tag = binary.LittleEndian.Uint16(guid)
	}

	var (
		enc    Encoding
		widths string // the sample sizes the format may have, for messages
	)
	switch tag {
	case wavFormatPCM:
		enc, widths = EncodingPCM16, "8, 16, 24 or 32"
	case wavFormatFloat:
		enc, widths = EncodingPCM16, "32 or 64"
	case wavFormatALaw:
		enc, widths = EncodingALaw, "8"
	case wavFormatULaw:
		enc, widths = EncodingULaw, "8"
	default:
		return nil, sampleLayout{}, errorf(ErrUnsupportedFormat, "wav: unsupported format %d (%s)", tag, wavFormatName(tag))
	}
	layout := sampleLayout{width: bitsPerSample / 8, float: tag == wavFormatFloat, unsigned8: tag == wavFormatPCM && bitsPerSample == 8}
	if bitsPerSample%8 != 0 || !strings.Contains(widths, strconv.Itoa(bitsPerSample)) {
		return nil, sampleLayout{}, errorf(ErrUnsupportedFormat, "wav: unsupported format %d (%s) with %d bits per sample, want %s",
			tag, wavFormatName(tag), bitsPerSample, widths)
	}
	if channels == 0 {
		return nil, sampleLayout{}, errorf(ErrMalformed, "wav: 0 channels")
	}
	if rate == 0 || rate > math.MaxInt32 {
		return nil, sampleLayout{}, errorf(ErrMalformed, "wav: sample rate %d out of range", rate)
	}
	if want := channels * layout.width; blockAlign != want {
		return nil, sampleLayout{}, errorf(ErrMalformed, "wav: block align %d, want %d", blockAlign, want)
	}
	return &Audio{Encoding: enc, SampleRate: int(rate), Channels: channels}, layout, nil
}

// readData reads the body of the data chunk into a.Data, as 16-bit PCM
// when the file stores linear samples of another size.
func readData(r io.Reader, a *Audio, chunk dataChunk) (*Audio, error) {
	size, layout := chunk.size, chunk.layout
	block := a.Channels * layout.width
	if size >= streamingSize {
		data, err := io.ReadAll(r)
		if err != nil {
			return nil, fmt.Errorf(`wav: read "data" chunk: %w`, err)
		}
		a.Data = layout.toPCM16(data[:len(data)/block*block])
		return a, nil
	}
	if int(size)%block != 0 {
		return nil, errorf(ErrMalformed, `wav: "data" chunk size %d is not a multiple of block align %d`, size, block)
	}
	// The declared size sizes the buffer, up to maxPresize: a header that
	// lies costs no more than that. MinRead more saves ReadFrom a copy
	// when it reads on to the end.
	buf := bytes.NewBuffer(make([]byte, 0, min(int(size), maxPresize)+bytes.MinRead))
	if _, err := buf.ReadFrom(io.LimitReader(r, int64(size))); err != nil {
		return nil, fmt.Errorf(`wav: read "data" chunk: %w`, err)
	}
	data := buf.Bytes()
	if len(data) < int(size) {
		return nil, readChunkErr("data", len(data), size, io.ErrUnexpectedEOF)
	}
	a.Data = layout.toPCM16(data)
	return a, nil
}

// skipChunk discards a chunk body and its pad byte. A missing pad byte at the
// very end of the input is tolerated.
func skipChunk(r io.Reader, id string, size uint32) error {
	n, err := io.CopyN(io.Discard, r, int64(size))
	if err != nil {
		return readChunkErr(id, int(n), size, err)
	}
	if size&1 == 1 {
		if _, err := io.CopyN(io.Discard, r, 1); err != nil && err != io.EOF {
			return fmt.Errorf("wav: read %q chunk: %w", id, err)
		}
	}
	return nil
}

// readChunkErr reports a short read of a chunk body.
func readChunkErr(id string, got int, size uint32, err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return errorf(ErrTruncated, "wav: truncated %q chunk: %d of %d bytes", id, got, size)
	}
	return fmt.Errorf("wav: read %q chunk: %w", id, err)
}

// WriteWAV writes data, mono samples in enc at sampleRate, as a WAV file. The
// layout matches what sox writes: a 16-byte fmt chunk for PCM; for µ-law and
// A-law an 18-byte fmt chunk and a fact chunk holding the sample count.
func WriteWAV(w io.Writer, enc Encoding, sampleRate int, data []byte) error {
	hdr, err := AppendWAVHeader(nil, enc, sampleRate, int64(len(data)))
	if err != nil {
		return err
	}
	if _, err := w.Write(hdr); err != nil {
		return fmt.Errorf("wav: write header: %w", err)
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("wav: write data: %w", err)
	}
	if len(data)&1 == 1 {
		if _, err := w.Write([]byte{0}); err != nil {
			return fmt.Errorf("wav: write pad byte: %w", err)
		}
	}
	return nil
}

// AppendWAVHeader appends to dst the header WriteWAV writes before
// dataLen bytes of mono samples in enc at sampleRate. Its length depends
// on enc only, so a file written as it goes can rewrite it in place once
// its length is known. Data of odd length is followed by a pad byte.
func AppendWAVHeader(dst []byte, enc Encoding, sampleRate int, dataLen int64) ([]byte, error) {
	return AppendWAVHeaderChannels(dst, enc, sampleRate, 1, dataLen)
}

// maxWAVChannels bounds the channels of a header this package writes.
const maxWAVChannels = 8

// AppendWAVHeaderChannels is AppendWAVHeader for dataLen bytes of
// channels interleaved channels (1 to 8).
func AppendWAVHeaderChannels(dst []byte, enc Encoding, sampleRate, channels int, dataLen int64) ([]byte, error) {
	if channels < 1 || channels > maxWAVChannels {
		return nil, errorf(ErrMalformed, "wav: %d channels out of range 1 to %d", channels, maxWAVChannels)
	}
	bps := enc.bytesPerSample() * channels // bytes per block: one sample of each channel
	if bps == 0 {
		return nil, errorf(ErrUnsupportedFormat, "wav: unsupported encoding %v", enc)
	}
	if sampleRate <= 0 || sampleRate > math.MaxUint32/bps {
		return nil, errorf(ErrUnsupportedRate, "wav: sample rate %d out of range", sampleRate)
	}
	if dataLen < 0 || dataLen%int64(bps) != 0 {
		return nil, errorf(ErrMalformed, "wav: %v data length %d is not a multiple of %d", enc, dataLen, bps)
	}

	var tag uint16
	fmtSize := 18
	switch enc {
	case EncodingULaw:
		tag = wavFormatULaw
	case EncodingALaw:
		tag = wavFormatALaw
	case EncodingPCM16:
		tag, fmtSize = wavFormatPCM, 16
	}
	headerLen := 12 + 8 + fmtSize + 8
	if enc != EncodingPCM16 {
		headerLen += 12 // fact chunk
	}
	riffSize := uint64(headerLen-8) + uint64(dataLen) + uint64(dataLen&1)
	if riffSize > math.MaxUint32 {
		return nil, errorf(ErrMalformed, "wav: %d bytes of data do not fit a WAV file", dataLen)
	}

	hdr := slices.Grow(dst, headerLen)
	hdr = append(hdr, "RIFF"...)
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(riffSize))
	hdr = append(hdr, "WAVEfmt "...)
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(fmtSize))
	hdr = binary.LittleEndian.AppendUint16(hdr, tag)
	hdr = binary.LittleEndian.AppendUint16(hdr, uint16(channels))
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(sampleRate))
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(sampleRate*bps))
	hdr = binary.LittleEndian.AppendUint16(hdr, uint16(bps))
	hdr = binary.LittleEndian.AppendUint16(hdr, uint16(8*bps/channels))
	if enc != EncodingPCM16 {
		hdr = binary.LittleEndian.AppendUint16(hdr, 0) // cbSize
		hdr = append(hdr, "fact"...)
		hdr = binary.LittleEndian.AppendUint32(hdr, 4)
		hdr = binary.LittleEndian.AppendUint32(hdr, uint32(dataLen/int64(bps)))
	}
	hdr = append(hdr, "data"...)
	hdr = binary.LittleEndian.AppendUint32(hdr, uint32(dataLen))
	return hdr, nil
}

// ULaw8k returns the audio as mono 8 kHz µ-law bytes in a new slice: µ-law
// is copied, A-law transcoded, PCM16 encoded; 16 kHz audio of any encoding
// is decoded and resampled to 8 kHz first. Other rates and channel counts
// are errors.
func (a *Audio) ULaw8k() ([]byte, error) {
	if a.Channels != 1 {
		return nil, errorf(ErrNotMono, "wav: %d channels, want mono", a.Channels)
	}
	bps := a.Encoding.bytesPerSample()
	if bps == 0 {
		return nil, errorf(ErrUnsupportedFormat, "wav: unsupported encoding %v", a.Encoding)
	}
	if len(a.Data)%bps != 0 {
		return nil, errorf(ErrMalformed, "wav: %v data length %d is not a multiple of %d", a.Encoding, len(a.Data), bps)
	}
	switch a.SampleRate {
	case SampleRate:
		switch a.Encoding {
		case EncodingULaw:
			return slices.Clone(a.Data), nil
		case EncodingALaw:
			out := make([]byte, len(a.Data))
			codec.TranscodeALawToULaw(out, a.Data)
			return out, nil
		}
		return codec.EncodeULaw(make([]byte, 0, len(a.Data)/2), codec.PCM16LEToSamples(nil, a.Data)), nil
	case 2 * SampleRate:
		pcm := a.samples()
		rs, err := codec.NewResampler(2*SampleRate, SampleRate)
		if err != nil {
			return nil, err
		}
		out := rs.Process(make([]int16, 0, len(pcm)/2+1), pcm)
		return codec.EncodeULaw(make([]byte, 0, len(out)), out), nil
	}
	return nil, errorf(ErrUnsupportedRate, "wav: %d Hz, want %d or %d", a.SampleRate, SampleRate, 2*SampleRate)
}

// samples decodes a.Data to linear samples.
func (a *Audio) samples() []int16 {
	switch a.Encoding {
	case EncodingULaw:
		return codec.DecodeULaw(nil, a.Data)
	case EncodingALaw:
		return codec.DecodeALaw(nil, a.Data)
	}
	return codec.PCM16LEToSamples(nil, a.Data)
}
