package media

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hajimehoshi/go-mp3"
)

// mp3Block is how much decoded MP3 audio is read at a time: 1,152 stereo
// samples (one MPEG-1 frame) times eight.
const mp3Block = 8 * 1152 * 4

// mp3Presize is the output buffer an MP3 decode starts with (a minute of
// 22.05 kHz mono); it grows from there up to the bound.
const mp3Presize = 60 * 22050 * 2

// decodeMP3 decodes MP3 audio to 16-bit mono PCM at its own rate, mixing
// the decoder's two channels down block by block, so that only the mono
// result is ever held whole. It stops with ErrTooLong as soon as the
// output passes maxDuration or MaxDecodedBytes.
func decodeMP3(r io.Reader, maxDuration time.Duration) (*Audio, error) {
	// The decoder gets a plain reader: given a Seeker it would scan the
	// whole file for its length before the first sample.
	d, err := mp3.NewDecoder(io.MultiReader(r))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformedMP3, err)
	}
	rate := d.SampleRate()
	if rate < minAnyRate || rate > maxAnyRate {
		return nil, errorf(ErrUnsupportedRate, "mp3: %d Hz, want %d to %d", rate, minAnyRate, maxAnyRate)
	}
	limit := min(int64(MaxDecodedBytes), 2*int64(rate)*int64(maxDuration/time.Millisecond)/1000)
	out := make([]byte, 0, min(limit, mp3Presize))
	buf := make([]byte, mp3Block)
	pending := 0 // bytes at the start of buf not mixed down yet (part of a stereo sample)
	for {
		n, rerr := d.Read(buf[pending:])
		pending += n
		use := pending / 4 * 4
		for i := 0; i < use; i += 4 {
			l := int16(binary.LittleEndian.Uint16(buf[i:]))
			r := int16(binary.LittleEndian.Uint16(buf[i+2:]))
			out = binary.LittleEndian.AppendUint16(out, uint16(int16((int32(l)+int32(r))/2)))
		}
		if int64(len(out)) > limit {
			return nil, fmt.Errorf("mp3: more than %s of audio at %d Hz (or %d bytes decoded): %w",
				maxDuration, rate, MaxDecodedBytes, ErrTooLong)
		}
		pending = copy(buf, buf[use:pending])
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			if len(out) > 0 && errors.Is(rerr, io.ErrUnexpectedEOF) {
				break // a file cut inside its last frame plays what it has
			}
			return nil, fmt.Errorf("%w: %w", ErrMalformedMP3, rerr)
		}
	}
	if len(out) == 0 {
		return nil, errorf(ErrMalformedMP3, "mp3: no audio frames")
	}
	return &Audio{Encoding: EncodingPCM16, SampleRate: rate, Channels: 1, Data: out}, nil
}
