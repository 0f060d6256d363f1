package codec

import "slices"

// Convert returns the stage that turns frames of from into frames of to and
// hands them to next, which must take to's rate. It is the one place chains
// are built:
//
//   - from and to carry the same bytes (SameEncoding): the frames pass
//     unchanged — PCMU to a µ-law socket, PCMA to an A-law one;
//   - PCMU and PCMA: one table lookup per byte, which is exactly decoding
//     one law and encoding the other;
//   - otherwise: decode from, resample if the rates differ, encode to — at
//     most one transcoding. Opus decodes at to's rate and encodes from
//     from's when libopus runs at it, saving the resampler.
//
// After the first frame no stage allocates, unless a frame is larger than
// any before it. Formats the package has no codec for, an unavailable codec
// (Opus without the opus tag), rates the resampler cannot convert and a next
// stage at another rate are errors.
func Convert(from, to Format, next Writer[[]byte]) (Writer[[]byte], error) {
	if err := from.check(); err != nil {
		return nil, err
	}
	if err := to.check(); err != nil {
		return nil, err
	}
	if next.SampleRate() != to.Rate {
		return nil, errorf(ErrRateMismatch, "codec: %v is %d Hz audio, %v takes %d Hz", to, to.Rate, next, next.SampleRate())
	}
	switch {
	case from.SameEncoding(to):
		return &passStage{format: from, next: next}, nil
	case from.is(NamePCMU) && to.is(NamePCMA):
		return &transcodeStage{from: from, to: to, table: &ulawToALaw, next: next, buf: make([]byte, 0, from.FrameSamples())}, nil
	case from.is(NamePCMA) && to.is(NamePCMU):
		return &transcodeStage{from: from, to: to, table: &alawToULaw, next: next, buf: make([]byte, 0, from.FrameSamples())}, nil
	}
	if from.is(NameOpus) && slices.Contains(opusRates[:], to.Rate) {
		from = from.WithRate(to.Rate)
	}
	if to.is(NameOpus) && slices.Contains(opusRates[:], from.Rate) {
		to = to.WithRate(from.Rate)
	}
	enc, err := NewEncoder(to)
	if err != nil {
		return nil, err
	}
	dec, err := NewDecoder(from)
	if err != nil {
		return nil, err
	}
	var pcm Writer[[]int16] = newEncodeStage(to, enc, next)
	if from.Rate != to.Rate {
		if pcm, err = NewResampleWriter(from.Rate, pcm); err != nil {
			return nil, err
		}
	}
	return newDecodeStage(from, dec, pcm)
}

// passStage hands frames on unchanged: source and sink carry the same bytes.
type passStage struct {
	format Format
	next   Writer[[]byte] // borrowed
}

func (s *passStage) WriteFrame(p []byte) error { return s.next.WriteFrame(p) }
func (s *passStage) SampleRate() int           { return s.format.Rate }
func (s *passStage) String() string            { return s.format.String() + "(pass) -> " + s.next.String() }
func (s *passStage) Reset()                    { resetNext(s.next) }

// transcodeStage converts between the G.711 laws byte by byte through a
// table that holds, for each code of one law, the other law's encoding of
// its decoded level.
type transcodeStage struct {
	from, to Format
	table    *[256]byte
	next     Writer[[]byte] // borrowed
	buf      []byte         // reused; grows to the largest payload once
}

func (s *transcodeStage) WriteFrame(p []byte) error {
	b := slices.Grow(s.buf[:0], len(p))[:len(p)]
	s.buf = b[:0]
	for i, c := range p {
		b[i] = s.table[c]
	}
	return s.next.WriteFrame(b)
}

func (s *transcodeStage) SampleRate() int { return s.from.Rate }
func (s *transcodeStage) String() string {
	return s.from.String() + "->" + s.to.String() + "(transcode) -> " + s.next.String()
}
func (s *transcodeStage) Reset() { resetNext(s.next) }
