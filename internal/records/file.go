package records

import (
	"fmt"
	"os"

	"github.com/callstream/callstream/internal/media"
)

// File is a recording written as it comes: audio is appended to the file,
// and the WAV header, written first with no length, is rewritten with the
// final one by Close. A File is used by one goroutine at a time.
type File struct {
	f      *os.File
	enc    media.Encoding
	rate   int
	chans  int // interleaved channels
	hdrLen int64
	n      int64 // audio bytes written
}

// Create creates the file at path (only the gateway's user may read it)
// for mono audio in enc at rate.
func Create(path string, enc media.Encoding, rate int) (*File, error) {
	return CreateChannels(path, enc, rate, 1)
}

// CreateChannels is Create for audio of channels interleaved channels
// (two for a call's two parties side by side).
func CreateChannels(path string, enc media.Encoding, rate, channels int) (*File, error) {
	hdr, err := media.AppendWAVHeaderChannels(nil, enc, rate, channels, 0)
	if err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	if _, err := f.Write(hdr); err != nil {
		f.Close()
		return nil, fmt.Errorf("recording: %w", err)
	}
	return &File{f: f, enc: enc, rate: rate, chans: channels, hdrLen: int64(len(hdr))}, nil
}

// Write appends audio.
func (w *File) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	w.n += int64(n)
	if err != nil {
		return n, fmt.Errorf("recording: %w", err)
	}
	return n, nil
}

// Len returns the bytes of audio written.
func (w *File) Len() int64 { return w.n }

// Truncate keeps the first n bytes of audio (no more than were written).
func (w *File) Truncate(n int64) error {
	if n < 0 || n >= w.n {
		return nil
	}
	if err := w.f.Truncate(w.hdrLen + n); err != nil {
		return fmt.Errorf("recording: %w", err)
	}
	if _, err := w.f.Seek(w.hdrLen+n, 0); err != nil {
		return fmt.Errorf("recording: %w", err)
	}
	w.n = n
	return nil
}

// Close writes the header with the audio's length and closes the file.
func (w *File) Close() error {
	err := w.finish()
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("recording: %w", cerr)
	}
	return err
}

func (w *File) finish() error {
	if w.n&1 == 1 {
		if _, err := w.f.Write([]byte{0}); err != nil {
			return fmt.Errorf("recording: %w", err)
		}
	}
	hdr, err := media.AppendWAVHeaderChannels(nil, w.enc, w.rate, w.chans, w.n)
	if err != nil {
		return fmt.Errorf("recording: %w", err)
	}
	if _, err := w.f.WriteAt(hdr, 0); err != nil {
		return fmt.Errorf("recording: %w", err)
	}
	return nil
}

// WriteFile writes audio, mono in enc at rate, as the WAV file at path,
// only the gateway's user may read.
func WriteFile(path string, enc media.Encoding, rate int, data []byte) error {
	w, err := Create(path, enc, rate)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		w.f.Close()
		return err
	}
	return w.Close()
}
