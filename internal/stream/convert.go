package stream

import (
	"fmt"

	"github.com/callstream/callstream/internal/codec"
)

// trackConv is the codec chain of one track of a flow: frames of from
// converted to the flow's wire format. It lives in the socket's writer
// goroutine and is built when the track's first frame comes, or again when
// the frames' format changes — never on the media path.
type trackConv struct {
	from   codec.Format
	w      codec.Writer[[]byte]
	failed bool // the chain could not be built: the track's frames are left out
}

// convert turns the payload of a queued frame of track t into the flow's
// wire format, in s.enc. ok is false when the frame cannot be converted
// (the reason was logged once for the track).
func (s *Socket) convert(f *Flow, t Track, from codec.Format, payload []byte) (out []byte, ok bool) {
	c := &f.conv[t]
	if (c.w == nil && !c.failed) || c.from != from {
		c.w, c.failed = nil, false
		c.from = from
		w, err := codec.Convert(from, f.cfg.Wire, codec.NewSink("ws", f.cfg.Wire.Rate, s.appendEncoded))
		if err != nil {
			c.failed = true
			s.log.Warn("stream track not sent: its audio cannot be converted to the stream's encoding",
				"track", t.String(), "err", fmt.Errorf("%v to %v: %w", from, f.cfg.Wire, err))
			return nil, false
		}
		c.w = w
	}
	if c.failed {
		return nil, false
	}
	s.enc = s.enc[:0]
	if err := c.w.WriteFrame(payload); err != nil {
		s.warnConvert.Log("stream frame not sent: conversion failed", "track", t.String(), "err", err)
		return nil, false
	}
	return s.enc, true
}

// appendEncoded is the sink of every flow's chain: it gathers one converted
// frame in s.enc.
func (s *Socket) appendEncoded(p []byte) error {
	s.enc = append(s.enc, p...)
	return nil
}
