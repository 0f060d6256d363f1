//go:build !opus

package scenario

import (
	"fmt"

	"github.com/callstream/callstream/internal/stream"
)

// OpusSupported reports whether this build encodes and decodes OPUS.
const OpusSupported = false

// opusMissing explains how to get OPUS.
const opusMissing = "OPUS needs a build with -tags opus (github.com/hraban/opus and libopus)"

func newOpusEncoder() (stream.FrameEncoder, error) {
	return nil, fmt.Errorf("%w: %s", ErrOpus, opusMissing)
}

func newOpusDecoder() (decoder, error) {
	return nil, fmt.Errorf("%w: %s", ErrOpus, opusMissing)
}
