package twilio

import (
	"github.com/callstream/callstream/internal/stream"
	"github.com/callstream/callstream/internal/stream/wire"
)

// Dialect is the Twilio Media Streams wire format. It holds no state; its
// zero value is ready to use.
type Dialect struct{}

var _ stream.Dialect = Dialect{}

// New returns the Twilio dialect.
func New() stream.Dialect { return Dialect{} }

// Name returns "twilio".
func (Dialect) Name() string { return "twilio" }

// FirstSequence returns 1: the start message carries sequenceNumber "1".
func (Dialect) FirstSequence() uint64 { return 1 }

// AppendConnected appends the connected message.
func (Dialect) AppendConnected(dst []byte, in *stream.Info) ([]byte, bool) {
	dst = append(dst, `{"event":"connected","protocol":"Call","version":"1.0.0","streamSid":`...)
	dst = wire.AppendString(dst, in.StreamSid)
	return append(dst, '}'), true
}

// AppendStart appends the start message: ids, tracks, custom parameters in
// document order and the media format.
func (Dialect) AppendStart(dst []byte, seq uint64, in *stream.Info) []byte {
	dst = append(dst, `{"event":"start","sequenceNumber":`...)
	dst = wire.AppendQuotedUint(dst, seq)
	dst = append(dst, `,"start":{"accountSid":`...)
	dst = wire.AppendString(dst, in.AccountSid)
	dst = append(dst, `,"streamSid":`...)
	dst = wire.AppendString(dst, in.StreamSid)
	dst = append(dst, `,"callSid":`...)
	dst = wire.AppendString(dst, in.CallSid)
	dst = append(dst, `,"tracks":[`...)
	for i, t := range in.Tracks {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = wire.AppendString(dst, t.String())
	}
	dst = append(dst, `],"customParameters":{`...)
	for i, p := range in.Params {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = wire.AppendMember(dst, p.Name, p.Value)
	}
	dst = append(dst, `},"mediaFormat":{"encoding":`...)
	dst = wire.AppendString(dst, in.Encoding)
	dst = append(dst, `,"sampleRate":`...)
	dst = wire.AppendInt(dst, in.SampleRate)
	dst = append(dst, `,"channels":1}},"streamSid":`...)
	dst = wire.AppendString(dst, in.StreamSid)
	return append(dst, '}')
}

// AppendMedia appends one media message with the payload in base64.
func (Dialect) AppendMedia(dst []byte, seq uint64, in *stream.Info, m *stream.Media) []byte {
	dst = append(dst, `{"event":"media","sequenceNumber":`...)
	dst = wire.AppendQuotedUint(dst, seq)
	dst = append(dst, `,"media":{"track":`...)
	dst = wire.AppendString(dst, m.Track.String())
	dst = append(dst, `,"chunk":`...)
	dst = wire.AppendQuotedUint(dst, m.Chunk)
	dst = append(dst, `,"timestamp":`...)
	dst = wire.AppendQuotedUint(dst, m.Timestamp)
	dst = append(dst, `,"payload":"`...)
	dst = wire.AppendBase64(dst, m.Payload)
	dst = append(dst, `"},"streamSid":`...)
	dst = wire.AppendString(dst, in.StreamSid)
	return append(dst, '}')
}

// AppendStop appends the stop message.
func (Dialect) AppendStop(dst []byte, seq uint64, in *stream.Info, _ *stream.StopInfo) []byte {
	dst = append(dst, `{"event":"stop","sequenceNumber":`...)
	dst = wire.AppendQuotedUint(dst, seq)
	dst = append(dst, `,"stop":{"accountSid":`...)
	dst = wire.AppendString(dst, in.AccountSid)
	dst = append(dst, `,"callSid":`...)
	dst = wire.AppendString(dst, in.CallSid)
	dst = append(dst, `},"streamSid":`...)
	dst = wire.AppendString(dst, in.StreamSid)
	return append(dst, '}')
}

// AppendDTMF appends a dtmf event for a digit pressed by the caller.
func (Dialect) AppendDTMF(dst []byte, seq uint64, in *stream.Info, digit byte) ([]byte, bool) {
	dst = append(dst, `{"event":"dtmf","streamSid":`...)
	dst = wire.AppendString(dst, in.StreamSid)
	dst = append(dst, `,"sequenceNumber":`...)
	dst = wire.AppendQuotedUint(dst, seq)
	dst = append(dst, `,"dtmf":{"track":"inbound_track","digit":`...)
	dst = wire.AppendString(dst, string(rune(digit)))
	return append(dst, `}}`...), true
}

// AppendMark appends a mark event, sent when the audio queued before the
// app's mark of that name has played.
func (Dialect) AppendMark(dst []byte, seq uint64, in *stream.Info, name string) ([]byte, bool) {
	dst = append(dst, `{"event":"mark","sequenceNumber":`...)
	dst = wire.AppendQuotedUint(dst, seq)
	dst = append(dst, `,"streamSid":`...)
	dst = wire.AppendString(dst, in.StreamSid)
	dst = append(dst, `,"mark":{"name":`...)
	dst = wire.AppendString(dst, name)
	return append(dst, `}}`...), true
}

// Decode parses one message from the app. Payload reuses the backing array
// of m.Payload. On error m is left in an unspecified state.
func (Dialect) Decode(msg []byte, m *stream.AppMessage) error {
	return wire.DecodeMediaControl("twilio", msg, m)
}
