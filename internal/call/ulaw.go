package call

import (
	"fmt"

	"github.com/callstream/callstream/internal/codec"
)

// ULaw marks s as a source of 8 kHz µ-law frames (160 bytes) whatever the
// call's codec: SetSource plays it as it is on a PCMU call and converts
// each frame into the call's Format otherwise (a chain built once, when it
// is set). It is for sources that do not yet produce call-format frames
// themselves; they should convert once at load instead.
func ULaw(s Source) Source {
	if s == nil {
		return nil
	}
	return &ulawSource{s: s}
}

// ulawSource is a µ-law source adapted to a call's Format. ReadFrame runs on
// the media clock only (one goroutine).
type ulawSource struct {
	s    Source
	to   codec.Format
	conv codec.Writer[[]byte] // µ-law to the call's format; nil: pass-through
	in   [160]byte
	out  []byte // the converted frame
}

// UseFormat implements FormatSource: it builds the conversion to f.
func (u *ulawSource) UseFormat(f codec.Format) {
	if fs, ok := u.s.(FormatSource); ok {
		fs.UseFormat(codec.PCMU)
	}
	u.to, u.conv = f, nil
	if f.SameEncoding(codec.PCMU) {
		return
	}
	u.out = make([]byte, 0, maxFrameBytes)
	sink := codec.NewSink(f.String(), f.Rate, func(b []byte) error {
		u.out = append(u.out[:0], b...)
		return nil
	})
	conv, err := codec.Convert(codec.PCMU, f, sink)
	if err != nil {
		// Every format a call runs in converts from µ-law: a bug.
		panic(fmt.Sprintf("call: no conversion from µ-law to %v: %v", f, err))
	}
	u.conv = conv
}

// ReadFrame implements Source.
func (u *ulawSource) ReadFrame(dst []byte) bool { return u.read(dst, false) }

// ReadLateFrame implements LateReader (as ReadFrame when the source is not
// one).
func (u *ulawSource) ReadLateFrame(dst []byte) bool { return u.read(dst, true) }

// read takes one µ-law frame from the source (its late look when late) and
// puts it into dst in the call's format.
func (u *ulawSource) read(dst []byte, late bool) bool {
	buf := dst
	if u.conv != nil {
		buf = u.in[:]
	}
	var got bool
	if lr, ok := u.s.(LateReader); ok && late {
		got = lr.ReadLateFrame(buf)
	} else {
		got = u.s.ReadFrame(buf)
	}
	if !got || u.conv == nil {
		return got
	}
	if u.conv.WriteFrame(u.in[:]) != nil || len(u.out) != len(dst) {
		return false
	}
	copy(dst, u.out)
	return true
}
