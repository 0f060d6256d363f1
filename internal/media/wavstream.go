package media

import (
	"errors"
	"fmt"
	"io"

	"github.com/callstream/callstream/internal/codec"
)

// ErrTooLong reports audio longer than the caller's bound.
var ErrTooLong = errors.New("audio too long")

// readBlock is how much of a data chunk ReadULaw8k converts at a time.
const readBlock = 32 << 10

// WAVStream is a WAV file whose header has been read: its format is known
// and its samples are read from it as they arrive.
type WAVStream struct {
	// Format is the file's format: Encoding, SampleRate and Channels (no Data).
	Format Audio
	r      io.Reader // positioned at the data chunk's body
	data   dataChunk
}

// OpenWAV reads a WAV file's header from r, up to its samples.
func OpenWAV(r io.Reader) (*WAVStream, error) {
	a, data, err := readHeader(r)
	if err != nil {
		return nil, err
	}
	return &WAVStream{Format: *a, r: r, data: data}, nil
}

// ReadULaw8k reads a WAV file from r and returns its audio as mono 8 kHz
// µ-law (see WAVStream.ULaw8k).
func ReadULaw8k(r io.Reader, limit int) ([]byte, error) {
	w, err := OpenWAV(r)
	if err != nil {
		return nil, err
	}
	return w.ULaw8k(limit)
}

// ReadAll reads the rest of the file's samples whole (for formats ULaw8k
// does not take); whatever reads the input bounds it.
func (w *WAVStream) ReadAll() (*Audio, error) {
	a := w.Format
	return readData(w.r, &a, w.data)
}

// ULaw8k reads the file's samples and returns them as mono 8 kHz µ-law,
// converting each block as it is read, so the file is never held whole
// beside its conversion. It takes what Audio.ULaw8k takes (mono; 8 or 16
// kHz; µ-law, A-law or 16-bit PCM) and returns the same bytes. Output longer
// than limit bytes is an error wrapping ErrTooLong; the data chunk's
// declared size sizes the output buffer up to limit, never beyond.
func (w *WAVStream) ULaw8k(limit int) ([]byte, error) {
	a, size := &w.Format, w.data.size
	if !w.data.layout.native() {
		// Samples of another size: read whole as 16-bit PCM, then converted.
		whole, err := w.ReadAll()
		if err != nil {
			return nil, err
		}
		out, err := whole.ULaw8k()
		if err == nil && len(out) > limit {
			return nil, fmt.Errorf("wav: more than %d bytes of 8 kHz audio: %w", limit, ErrTooLong)
		}
		return out, err
	}
	if a.Channels != 1 {
		return nil, errorf(ErrNotMono, "wav: %d channels, want mono", a.Channels)
	}
	if a.SampleRate != SampleRate && a.SampleRate != 2*SampleRate {
		return nil, errorf(ErrUnsupportedRate, "wav: %d Hz, want %d or %d", a.SampleRate, SampleRate, 2*SampleRate)
	}
	block := a.Encoding.bytesPerSample()
	data, whole := w.r, size >= streamingSize
	presize := min(limit, readBlock)
	if !whole {
		if int(size)%block != 0 {
			return nil, errorf(ErrMalformed, `wav: "data" chunk size %d is not a multiple of block align %d`, size, block)
		}
		data = io.LimitReader(w.r, int64(size))
		presize = min(limit, int(size)/block/(a.SampleRate/SampleRate)+1)
	}
	conv, err := newULawConverter(a)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, max(presize, 0))
	buf := make([]byte, readBlock)
	pending := 0 // bytes at the start of buf not converted yet (part of a sample)
	var got int64
	for {
		n, rerr := data.Read(buf[pending:])
		pending += n
		got += int64(n)
		if use := pending / block * block; use > 0 {
			out = conv.convert(out, buf[:use])
			if len(out) > limit {
				return nil, fmt.Errorf("wav: more than %d bytes of 8 kHz audio: %w", limit, ErrTooLong)
			}
			pending = copy(buf, buf[use:pending])
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return nil, fmt.Errorf(`wav: read "data" chunk: %w`, rerr)
		}
	}
	if !whole && got < int64(size) {
		return nil, readChunkErr("data", int(got), size, io.ErrUnexpectedEOF)
	}
	return out, nil
}

// ulawConverter turns blocks of one WAV file's samples into 8 kHz µ-law,
// keeping the resampler's history between blocks.
type ulawConverter struct {
	enc Encoding
	rs  *codec.Resampler // nil at 8 kHz
	pcm []int16          // scratch: decoded samples
	low []int16          // scratch: resampled samples
}

func newULawConverter(a *Audio) (*ulawConverter, error) {
	c := &ulawConverter{enc: a.Encoding}
	if a.SampleRate != SampleRate {
		rs, err := codec.NewResampler(a.SampleRate, SampleRate)
		if err != nil {
			return nil, err
		}
		c.rs = rs
	}
	return c, nil
}

// convert appends the µ-law of the whole samples in b to out.
func (c *ulawConverter) convert(out, b []byte) []byte {
	if c.rs == nil {
		switch c.enc {
		case EncodingULaw:
			return append(out, b...)
		case EncodingALaw:
			n := len(out)
			out = append(out, b...)
			codec.TranscodeALawToULaw(out[n:], out[n:])
			return out
		}
		c.pcm = codec.PCM16LEToSamples(c.pcm[:0], b)
		return codec.EncodeULaw(out, c.pcm)
	}
	switch c.enc {
	case EncodingULaw:
		c.pcm = codec.DecodeULaw(c.pcm[:0], b)
	case EncodingALaw:
		c.pcm = codec.DecodeALaw(c.pcm[:0], b)
	default:
		c.pcm = codec.PCM16LEToSamples(c.pcm[:0], b)
	}
	c.low = c.rs.Process(c.low[:0], c.pcm)
	return codec.EncodeULaw(out, c.low)
}
