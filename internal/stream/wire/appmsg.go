package wire

import (
	"fmt"

	"github.com/callstream/callstream/internal/stream"
)

// DecodeMediaControl decodes the app messages of the Twilio-style dialects
// (CarrierX and Twilio): media with a base64 payload, clear and mark; any
// other event is stream.MsgUnknown. Errors are prefixed with the dialect's
// name. Payload reuses the backing array of m.Payload. On error m is left in
// an unspecified state.
func DecodeMediaControl(dialect string, msg []byte, m *stream.AppMessage) error {
	prevEvent, prevName := m.Event, m.Name
	*m = stream.AppMessage{Payload: m.Payload[:0], Params: m.Params[:0]}
	var event, media, mark []byte
	o := Members(msg)
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
		return fmt.Errorf("%s: %w", dialect, err)
	}
	if event == nil {
		return fmt.Errorf("%s: %w %q", dialect, ErrMissing, "event")
	}
	ev, err := String(event, prevEvent)
	if err != nil {
		return fmt.Errorf("%s: event: %w", dialect, err)
	}
	m.Event = ev
	switch ev {
	case "media":
		m.Kind = stream.MsgMedia
		p, err := decodePayload(media, m.Payload)
		if err != nil {
			return fmt.Errorf("%s: %w", dialect, err)
		}
		m.Payload = p
	case "clear":
		m.Kind = stream.MsgClear
	case "mark":
		m.Kind = stream.MsgMark
		name, err := markName(mark, prevName)
		if err != nil {
			return fmt.Errorf("%s: %w", dialect, err)
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
		return dst, fmt.Errorf("%w %q", ErrMissing, "media")
	}
	p, found, err := Field(media, "payload")
	if err != nil {
		return dst, fmt.Errorf("media: %w", err)
	}
	if !found {
		return dst, fmt.Errorf("media: %w %q", ErrMissing, "payload")
	}
	dst, err = AppendDecodeBase64(dst, p)
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
	v, found, err := Field(mark, "name")
	if err != nil {
		return "", fmt.Errorf("mark: %w", err)
	}
	if !found {
		return "", nil
	}
	name, err := String(v, prev)
	if err != nil {
		return "", fmt.Errorf("mark name: %w", err)
	}
	return name, nil
}
