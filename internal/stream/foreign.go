package stream

import (
	"bytes"
	"strconv"
)

// streamSidKey marks a message written for Twilio's dialect.
var streamSidKey = []byte(`"streamSid"`)

// foreign spots an app speaking Twilio's dialect on a CarrierX stream (the
// operator forgot --stream-dialect twilio): a mark, a Twilio-only event
// (connected, start, stop, dtmf) or a media or clear carrying a
// streamSid. The first such message of the stream gets one warning that
// names the flag; later ones are silent. It reports whether m is a
// Twilio-only event the stream ignores (its own warning is then enough).
// It runs in the reader only; it does not allocate unless it warns.
func (s *Socket) foreign(m *AppMessage, msg []byte) bool {
	if s.cfg.Dialect.Name() != "carrierx" {
		return false
	}
	ignored := false
	switch m.Kind {
	case MsgMark:
	case MsgUnknown:
		switch m.Event {
		case "connected", "start", "stop", "dtmf":
			ignored = true
		default:
			return false
		}
	case MsgMedia, MsgClear:
		if s.foreignWarned.Load() || !bytes.Contains(msg, streamSidKey) {
			return false
		}
	default:
		return false
	}
	if !s.foreignWarned.Swap(true) {
		what := strconv.Quote(m.Event)
		if m.Kind == MsgMedia || m.Kind == MsgClear {
			what += " with a streamSid"
		}
		s.log.Warn(what + " is a Twilio message; the stream dialect is carrierx: set --stream-dialect twilio")
	}
	return ignored
}
