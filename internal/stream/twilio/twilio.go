package twilio

import (
	"fmt"

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
		return fmt.Errorf("twilio: %w", err)
	}
	if event == nil {
		return fmt.Errorf("twilio: %w %q", wire.ErrMissing, "event")
	}
	ev, err := wire.String(event, prevEvent)
	if err != nil {
		return fmt.Errorf("twilio: event: %w", err)
	}
	m.Event = ev
	switch ev {
	case "media":
		m.Kind = stream.MsgMedia
		p, err := decodePayload(media, m.Payload)
		if err != nil {
			return fmt.Errorf("twilio: %w", err)
		}
		m.Payload = p
	case "clear":
		m.Kind = stream.MsgClear
	case "mark":
		m.Kind = stream.MsgMark
		name, err := markName(mark, prevName)
		if err != nil {
			return fmt.Errorf("twilio: %w", err)
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
