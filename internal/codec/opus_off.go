//go:build !opus

package codec

// OpusAvailable reports whether this build encodes and decodes Opus (a
// build with the opus tag, libopus through cgo).
const OpusAvailable = false

// opusMissing says how to get Opus.
const opusMissing = "codec: opus needs a build with -tags opus (github.com/hraban/opus and libopus)"

func newOpusDecoder(int) (Decoder, error) { return nil, errorf(ErrUnavailable, opusMissing) }

func newOpusEncoder(int) (Encoder, error) { return nil, errorf(ErrUnavailable, opusMissing) }
