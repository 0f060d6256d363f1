package call

import (
	"fmt"

	"github.com/callstream/callstream/internal/codec"
)

// mixer makes the mixed track: both tracks of a slot decoded to PCM at the
// call's rate, summed with saturation, as little-endian L16. Its decoders
// are stateful (G.722), so it decodes every slot from its first on. Used on
// the media clock goroutine only; no allocation per frame.
type mixer struct {
	format  codec.Format // L16 at the call's rate
	in, out codec.Decoder
	a, b    []int16
	buf     []byte
}

// newMixer returns the mixer of a call whose frames are in f.
func newMixer(f codec.Format) (*mixer, error) {
	in, err := codec.NewDecoder(f)
	if err != nil {
		return nil, fmt.Errorf("call: mixer: %w", err)
	}
	out, err := codec.NewDecoder(f)
	if err != nil {
		return nil, fmt.Errorf("call: mixer: %w", err)
	}
	mf := codec.L16(f.Rate)
	n := mf.FrameSamples()
	return &mixer{format: mf, in: in, out: out, a: make([]int16, 0, n), b: make([]int16, 0, n), buf: make([]byte, 0, 2*n)}, nil
}

// sum returns the mix of the inbound and outbound frames of one slot; the
// result is valid until the next call.
func (m *mixer) sum(in, out []byte) []byte {
	n := m.format.FrameSamples()
	a, err := m.in.Decode(m.a[:0], in)
	if err != nil || len(a) < n {
		a = m.in.Conceal(m.a[:0], n)
	}
	b, err := m.out.Decode(m.b[:0], out)
	if err != nil || len(b) < n {
		b = m.out.Conceal(m.b[:0], n)
	}
	for i := range n {
		a[i] = int16(min(max(int32(a[i])+int32(b[i]), -32768), 32767))
	}
	m.buf = codec.SamplesToPCM16LE(m.buf[:0], a[:n])
	return m.buf
}
