package voximplant

import (
	"fmt"
	"math"
	"strings"

	"github.com/callstream/callstream/internal/stream"
	"github.com/callstream/callstream/internal/stream/wire"
)

// Dialect is the Voximplant WebSocket media format. It holds no state; its
// zero value is ready to use.
type Dialect struct{}

var _ stream.Dialect = Dialect{}

// New returns the Voximplant dialect.
func New() stream.Dialect { return Dialect{} }

// Name returns "voximplant".
func (Dialect) Name() string { return "voximplant" }

// FirstSequence returns 0: the start message carries sequenceNumber 0.
func (Dialect) FirstSequence() uint64 { return 0 }

// AppendConnected appends nothing: Voximplant has no connected message.
func (Dialect) AppendConnected(dst []byte, _ *stream.Info) ([]byte, bool) {
	return dst, false
}

// AppendStart appends the start message: tag, media format and custom
// parameters in document order.
func (Dialect) AppendStart(dst []byte, seq uint64, in *stream.Info) []byte {
	dst = append(dst, `{"event":"start","sequenceNumber":`...)
	dst = wire.AppendUint(dst, seq)
	dst = append(dst, `,"start":{"tag":`...)
	dst = wire.AppendString(dst, in.Tag)
	dst = append(dst, `,"mediaFormat":{"encoding":`...)
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

// AppendMedia appends one media message with the payload in base64. Chunk
// and Timestamp follow RTP: packet count and sample count.
func (Dialect) AppendMedia(dst []byte, seq uint64, in *stream.Info, m *stream.Media) []byte {
	dst = append(dst, `{"event":"media","sequenceNumber":`...)
	dst = wire.AppendUint(dst, seq)
	dst = append(dst, `,"media":{"tag":`...)
	dst = wire.AppendString(dst, in.Tag)
	dst = append(dst, `,"chunk":`...)
	dst = wire.AppendUint(dst, m.Chunk)
	dst = append(dst, `,"timestamp":`...)
	dst = wire.AppendUint(dst, m.Timestamp)
	dst = append(dst, `,"payload":"`...)
	dst = wire.AppendBase64(dst, m.Payload)
	return append(dst, `"}}`...)
}

// AppendStop appends the stop message with the bytes and milliseconds of
// audio sent; a nil st reports zeros.
func (Dialect) AppendStop(dst []byte, seq uint64, in *stream.Info, st *stream.StopInfo) []byte {
	var bytesSent, durationMs uint64
	if st != nil {
		bytesSent, durationMs = st.BytesSent, st.DurationMs
	}
	dst = append(dst, `{"event":"stop","sequenceNumber":`...)
	dst = wire.AppendUint(dst, seq)
	dst = append(dst, `,"stop":{"tag":`...)
	dst = wire.AppendString(dst, in.Tag)
	dst = append(dst, `,"mediaInfo":{"bytesSent":`...)
	dst = wire.AppendUint(dst, bytesSent)
	dst = append(dst, `,"duration":`...)
	dst = wire.AppendUint(dst, durationMs)
	return append(dst, `}}}`...)
}

// AppendDTMF appends nothing: Voximplant has no dtmf event.
func (Dialect) AppendDTMF(dst []byte, _ uint64, _ *stream.Info, _ byte) ([]byte, bool) {
	return dst, false
}

// AppendMark appends nothing: Voximplant has no mark event.
func (Dialect) AppendMark(dst []byte, _ uint64, _ *stream.Info, _ string) ([]byte, bool) {
	return dst, false
}

// Decode parses one message from the remote: start, media or stop. Payload
// and Params reuse their backing arrays. On error m is left in an
// unspecified state.
func (Dialect) Decode(msg []byte, m *stream.AppMessage) error {
	prevEvent, prevTag, prevEnc := m.Event, m.Tag, m.Encoding
	*m = stream.AppMessage{Payload: m.Payload[:0], Params: m.Params[:0]}
	var event, start, media, stop []byte
	o := wire.Members(msg)
	for k, v, ok := o.Next(); ok; k, v, ok = o.Next() {
		switch string(k) {
		case "event":
			event = v
		case "start":
			start = v
		case "media":
			media = v
		case "stop":
			stop = v
		}
	}
	if err := o.Err(); err != nil {
		return fmt.Errorf("voximplant: %w", err)
	}
	if event == nil {
		return fmt.Errorf("voximplant: %w %q", wire.ErrMissing, "event")
	}
	ev, err := wire.String(event, prevEvent)
	if err != nil {
		return fmt.Errorf("voximplant: event: %w", err)
	}
	m.Event = ev
	switch ev {
	case "start":
		m.Kind = stream.MsgStart
		err = decodeStart(start, m, prevTag, prevEnc)
	case "media":
		m.Kind = stream.MsgMedia
		err = decodeMedia(media, m, prevTag)
	case "stop":
		m.Kind = stream.MsgStop
		err = decodeStop(stop, m, prevTag)
	default:
		m.Kind = stream.MsgUnknown
	}
	if err != nil {
		return fmt.Errorf("voximplant: %w", err)
	}
	return nil
}

func decodeStart(start []byte, m *stream.AppMessage, prevTag, prevEnc string) error {
	if start == nil {
		return fmt.Errorf("%w %q", wire.ErrMissing, "start")
	}
	if k := wire.KindOf(start); k != wire.KindObject {
		return fmt.Errorf("start: %w: want object, got %s", wire.ErrType, k)
	}
	o := wire.Members(start)
	for k, v, ok := o.Next(); ok; k, v, ok = o.Next() {
		var err error
		switch string(k) {
		case "tag":
			m.Tag, err = wire.String(v, prevTag)
			if err != nil {
				return fmt.Errorf("start tag: %w", err)
			}
		case "mediaFormat":
			if err := decodeFormat(v, m, prevEnc); err != nil {
				return fmt.Errorf("start mediaFormat: %w", err)
			}
		case "customParameters":
			m.Params, err = appendParams(m.Params[:0], v)
			if err != nil {
				return fmt.Errorf("start customParameters: %w", err)
			}
		}
	}
	if err := o.Err(); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	return nil
}

func decodeFormat(raw []byte, m *stream.AppMessage, prevEnc string) error {
	if k := wire.KindOf(raw); k != wire.KindObject {
		return fmt.Errorf("%w: want object, got %s", wire.ErrType, k)
	}
	o := wire.Members(raw)
	for k, v, ok := o.Next(); ok; k, v, ok = o.Next() {
		switch string(k) {
		case "encoding":
			enc, err := wire.String(v, prevEnc)
			if err != nil {
				return fmt.Errorf("encoding: %w", err)
			}
			m.Encoding = normalizeEncoding(enc)
		case "sampleRate":
			rate, err := wire.Uint(v)
			if err != nil {
				return fmt.Errorf("sampleRate: %w", err)
			}
			if rate > math.MaxInt32 {
				return fmt.Errorf("sampleRate: %w: %d", wire.ErrRange, rate)
			}
			m.SampleRate = int(rate)
		}
	}
	return o.Err()
}

// normalizeEncoding maps the MIME aliases some peers send to Voximplant's
// encoding names; other names are returned as sent.
func normalizeEncoding(enc string) string {
	switch {
	case strings.EqualFold(enc, "audio/x-mulaw"):
		return "ULAW"
	case strings.EqualFold(enc, "audio/x-alaw"):
		return "ALAW"
	}
	return enc
}

// appendParams appends the custom parameters held by raw: an object, a JSON
// string holding an object, or null. String values are unquoted; other
// values are kept as their JSON text, null as "".
func appendParams(dst []stream.Param, raw []byte) ([]stream.Param, error) {
	switch k := wire.KindOf(raw); k {
	case wire.KindNull:
		return dst, nil
	case wire.KindObject:
	case wire.KindString:
		inner, err := wire.AppendUnquote(nil, raw)
		if err != nil {
			return dst, err
		}
		if len(strings.TrimSpace(string(inner))) == 0 {
			return dst, nil
		}
		raw = inner
	default:
		return dst, fmt.Errorf("%w: want object, got %s", wire.ErrType, k)
	}
	o := wire.Members(raw)
	for _, v, ok := o.Next(); ok; _, v, ok = o.Next() {
		name, err := wire.String(o.RawKey(), "")
		if err != nil {
			return dst, err
		}
		var value string
		switch wire.KindOf(v) {
		case wire.KindString:
			value, err = wire.String(v, "")
			if err != nil {
				return dst, err
			}
		case wire.KindNull:
		default:
			value = string(v)
		}
		dst = append(dst, stream.Param{Name: name, Value: value})
	}
	return dst, o.Err()
}

func decodeMedia(media []byte, m *stream.AppMessage, prevTag string) error {
	if media == nil {
		return fmt.Errorf("%w %q", wire.ErrMissing, "media")
	}
	if k := wire.KindOf(media); k != wire.KindObject {
		return fmt.Errorf("media: %w: want object, got %s", wire.ErrType, k)
	}
	var payload []byte
	o := wire.Members(media)
	for k, v, ok := o.Next(); ok; k, v, ok = o.Next() {
		var err error
		switch string(k) {
		case "tag":
			if m.Tag, err = wire.String(v, prevTag); err != nil {
				return fmt.Errorf("media tag: %w", err)
			}
		case "chunk":
			if m.Chunk, err = wire.Uint(v); err != nil {
				return fmt.Errorf("media chunk: %w", err)
			}
		case "timestamp":
			if m.Timestamp, err = wire.Uint(v); err != nil {
				return fmt.Errorf("media timestamp: %w", err)
			}
		case "payload":
			payload = v
		}
	}
	if err := o.Err(); err != nil {
		return fmt.Errorf("media: %w", err)
	}
	if payload == nil {
		return fmt.Errorf("media: %w %q", wire.ErrMissing, "payload")
	}
	p, err := wire.AppendDecodeBase64(m.Payload, payload)
	if err != nil {
		return fmt.Errorf("media payload: %w", err)
	}
	m.Payload = p
	return nil
}

// decodeStop reads stop.tag; a stop without a body stops the untagged
// stream.
func decodeStop(stop []byte, m *stream.AppMessage, prevTag string) error {
	if stop == nil {
		return nil
	}
	v, found, err := wire.Field(stop, "tag")
	if err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	if !found {
		return nil
	}
	if m.Tag, err = wire.String(v, prevTag); err != nil {
		return fmt.Errorf("stop tag: %w", err)
	}
	return nil
}
