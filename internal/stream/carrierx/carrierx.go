package carrierx

import (
	"fmt"

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
	prevEvent, prevName := m.Event, m.Name
	*m = stream.AppMessage{Payload: m.Payload[:0], Params: m.Params[:0]}
	var event, media, mark []byte
	o := wire.Members(msg)
	for k, v, ok := o.Next(); ok; k, v, ok = o.Next() {
		switch string(k) {
		case "event":
			event = v
		case "media":
			media = v
		case "mark":
			mark = v
		}
	}
	if err := o.Err(); err != nil {
		return fmt.Errorf("carrierx: %w", err)
	}
	if event == nil {
		return fmt.Errorf("carrierx: %w %q", wire.ErrMissing, "event")
	}
	ev, err := wire.String(event, prevEvent)
	if err != nil {
		return fmt.Errorf("carrierx: event: %w", err)
	}
	m.Event = ev
	switch ev {
	case "media":
		m.Kind = stream.MsgMedia
		p, err := decodePayload(media, m.Payload)
		if err != nil {
			return fmt.Errorf("carrierx: %w", err)
		}
		m.Payload = p
	case "clear":
		m.Kind = stream.MsgClear
	case "mark":
		m.Kind = stream.MsgMark
		name, err := markName(mark, prevName)
		if err != nil {
			return fmt.Errorf("carrierx: %w", err)
		}
		m.Name = name
	default:
		m.Kind = stream.MsgUnknown
	}
	return nil
}

// decodePayload decodes media.payload, appending the audio to dst.
func decodePayload(media, dst []byte) ([]byte, error) {
	if media == nil {
		return dst, fmt.Errorf("%w %q", wire.ErrMissing, "media")
	}
	p, found, err := wire.Field(media, "payload")
	if err != nil {
		return dst, fmt.Errorf("media: %w", err)
	}
	if !found {
		return dst, fmt.Errorf("media: %w %q", wire.ErrMissing, "payload")
	}
	dst, err = wire.AppendDecodeBase64(dst, p)
	if err != nil {
		return dst, fmt.Errorf("media payload: %w", err)
	}
	return dst, nil
}

// markName returns mark.name, or "" when the message has none.
func markName(mark []byte, prev string) (string, error) {
	if mark == nil {
		return "", nil
	}
	v, found, err := wire.Field(mark, "name")
	if err != nil {
		return "", fmt.Errorf("mark: %w", err)
	}
	if !found {
		return "", nil
	}
	name, err := wire.String(v, prev)
	if err != nil {
		return "", fmt.Errorf("mark name: %w", err)
	}
	return name, nil
}
