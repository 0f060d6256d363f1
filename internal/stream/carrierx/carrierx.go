package carrierx

import (
	"github.com/callstream/callstream/internal/stream"
	"github.com/callstream/callstream/internal/stream/wire"
)

// Dialect is the CarrierX wire format. It holds no state; its zero value is
// ready to use.
type Dialect struct{}

var _ stream.Dialect = Dialect{}

// New returns the CarrierX dialect.
func New() stream.Dialect { return Dialect{} }

// Name returns "carrierx".
func (Dialect) Name() string { return "carrierx" }

// FirstSequence returns 1: the start message carries sequenceNumber 1.
func (Dialect) FirstSequence() uint64 { return 1 }

// AppendConnected appends the connected message.
func (Dialect) AppendConnected(dst []byte, _ *stream.Info) ([]byte, bool) {
	return append(dst, `{"event":"connected","protocol":"Call","version":"0.2.0"}`...), true
}

// AppendStart appends the start message: call id, tracks, media format and
// custom parameters in document order.
func (Dialect) AppendStart(dst []byte, seq uint64, in *stream.Info) []byte {
	dst = append(dst, `{"event":"start","sequenceNumber":`...)
	dst = wire.AppendUint(dst, seq)
	dst = append(dst, `,"start":{"callId":`...)
	dst = wire.AppendString(dst, in.CallSid)
	dst = append(dst, `,"tracks":[`...)
	for i, t := range in.Tracks {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = wire.AppendString(dst, t.String())
	}
	dst = append(dst, `],"mediaFormat":{"encoding":`...)
	dst = wire.AppendString(dst, in.Encoding)
	dst = append(dst, `,"sampleRate":`...)
	dst = wire.AppendInt(dst, in.SampleRate)
	dst = append(dst, `},"customParameters":{`...)
	for i, p := range in.Params {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = wire.AppendMember(dst, p.Name, p.Value)
	}
	return append(dst, `}}}`...)
}

// AppendMedia appends one media message with the payload in base64.
func (Dialect) AppendMedia(dst []byte, seq uint64, _ *stream.Info, m *stream.Media) []byte {
	dst = append(dst, `{"event":"media","sequenceNumber":`...)
	dst = wire.AppendUint(dst, seq)
	dst = append(dst, `,"media":{"track":`...)
	dst = wire.AppendString(dst, m.Track.String())
	dst = append(dst, `,"chunk":`...)
	dst = wire.AppendUint(dst, m.Chunk)
	dst = append(dst, `,"timestamp":`...)
	dst = wire.AppendUint(dst, m.Timestamp)
	dst = append(dst, `,"payload":"`...)
	dst = wire.AppendBase64(dst, m.Payload)
	return append(dst, `"}}`...)
}

// AppendStop appends the stop message; CarrierX reports only the call id.
func (Dialect) AppendStop(dst []byte, seq uint64, in *stream.Info, _ *stream.StopInfo) []byte {
	dst = append(dst, `{"event":"stop","sequenceNumber":`...)
	dst = wire.AppendUint(dst, seq)
	dst = append(dst, `,"stop":{"callId":`...)
	dst = wire.AppendString(dst, in.CallSid)
	return append(dst, `}}`...)
}

// AppendDTMF appends nothing: CarrierX has no dtmf event.
func (Dialect) AppendDTMF(dst []byte, _ uint64, _ *stream.Info, _ byte) ([]byte, bool) {
	return dst, false
}

// AppendMark appends nothing: CarrierX neither issues nor answers mark
// message events.
func (Dialect) AppendMark(dst []byte, _ uint64, _ *stream.Info, _ string) ([]byte, bool) {
	return dst, false
}

// Decode parses one message from the app. Payload reuses the backing array
// of m.Payload. On error m is left in an unspecified state.
func (Dialect) Decode(msg []byte, m *stream.AppMessage) error {
	return wire.DecodeMediaControl("carrierx", msg, m)
}
