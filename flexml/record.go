package flexml

import (
	"strings"
	"time"
)

// elemRecord is the element name of this file.
const elemRecord = "Record"

// Bounds and defaults of <Record>.
const (
	// DefaultRecordMaxLength is the longest a Record records without a
	// maxLength attribute, and MaxRecordLength the most maxLength allows.
	DefaultRecordMaxLength = time.Hour
	MaxRecordLength        = time.Hour
	// DefaultRecordTimeout is the silence that ends a Record without a
	// timeout attribute; maxRecordTimeout bounds the attribute.
	DefaultRecordTimeout = 5 * time.Second
	maxRecordTimeout     = 10 * time.Minute
	// DefaultRecordFinishOnKey is every key: any one of them ends a Record
	// without a finishOnKey attribute.
	DefaultRecordFinishOnKey = "1234567890*#"
)

// Record records the caller's audio to a WAV file served by the gateway.
type Record struct {
	Pos
	// MaxLength ends the recording when it is this long (default and at
	// most an hour).
	MaxLength time.Duration
	// Timeout ends the recording after this much silence from the caller
	// (default 5 s); 0 only maxLength, a key or the caller's hang-up end
	// it.
	Timeout time.Duration
	// FinishOnKey are the keys that end the recording, each one of 0-9, *
	// and # (default all of them); empty: no key ends it. The key is not
	// recorded; it is reported as Digits.
	FinishOnKey string
	// PlayBeep plays a short tone before recording starts (default true).
	PlayBeep bool
	// Trim cuts the silence before the caller's first sound and after the
	// last one (trim="trim-silence", the default); false keeps the whole
	// recording (trim="do-not-trim").
	Trim bool
	// Action is requested when the recording ends with something in it
	// (may be relative to the document); empty: the document goes on.
	Action string
	// Method is "GET" or "POST" (default) for Action.
	Method string
}

// VerbName returns "Record".
func (Record) VerbName() string { return elemRecord }

// record validates a <Record>.
func (p *parser) record(n *node) *Record {
	v := &Record{Pos: n.pos, MaxLength: DefaultRecordMaxLength, Timeout: DefaultRecordTimeout,
		FinishOnKey: DefaultRecordFinishOnKey, PlayBeep: true, Trim: true, Method: "POST"}
	a := p.attrs(n, []string{"maxLength", "timeout", "finishOnKey", "playBeep", "trim", "action", "method",
		"recordingStatusCallback", "recordingStatusCallbackMethod", "recordingStatusCallbackEvent", "transcribe", "transcribeCallback"})
	if s, ok := a["maxLength"]; ok {
		d, ok := parseSeconds(trimSpace(s))
		if !ok || d <= 0 || d > MaxRecordLength || d%time.Second != 0 {
			p.errorf(n, "maxLength", nil, "invalid maxLength %q: want a whole number of seconds from 1 to %d",
				s, int(MaxRecordLength/time.Second))
		}
		v.MaxLength = d
	}
	if s, ok := a["timeout"]; ok {
		d, ok := parseSeconds(trimSpace(s))
		if !ok || d > maxRecordTimeout || d%time.Second != 0 {
			p.errorf(n, "timeout", nil, "invalid timeout %q: want a whole number of seconds from 0 (no silence timeout) to %d",
				s, int(maxRecordTimeout/time.Second))
		}
		v.Timeout = d
	}
	if s, ok := a["finishOnKey"]; ok {
		keys := trimSpace(s)
		for _, c := range keys {
			if !strings.ContainsRune("0123456789*#", c) {
				p.errorf(n, "finishOnKey", nil, "invalid finishOnKey %q: want keys among 0-9, * and #, or empty for none", s)
				break
			}
		}
		v.FinishOnKey = keys
	}
	if s, ok := a["playBeep"]; ok {
		switch strings.ToLower(trimSpace(s)) {
		case "true":
		case "false":
			v.PlayBeep = false
		default:
			p.errorf(n, "playBeep", nil, "invalid playBeep %q; allowed: true, false", s)
		}
	}
	if s, ok := a["trim"]; ok {
		switch strings.ToLower(trimSpace(s)) {
		case "trim-silence":
		case "do-not-trim":
			v.Trim = false
		default:
			p.errorf(n, "trim", nil, "invalid trim %q; allowed: trim-silence, do-not-trim", s)
		}
	}
	v.Action, v.Method = p.action(n, a, v.Method)
	for _, attr := range []string{"recordingStatusCallback", "recordingStatusCallbackMethod", "recordingStatusCallbackEvent"} {
		if _, ok := a[attr]; ok {
			p.warnf(n, attr, "%s is not supported yet and is ignored: the action request carries RecordingUrl and RecordingDuration", attr)
		}
	}
	if s, ok := a["transcribe"]; ok && strings.EqualFold(trimSpace(s), "true") {
		p.errorf(n, "transcribe", ErrNotSupported,
			"transcription is not supported: stream the call's audio to a recognizer with <Start><Stream>")
	}
	if _, ok := a["transcribeCallback"]; ok {
		p.warnf(n, "transcribeCallback", "transcribeCallback is ignored: transcription is not supported")
	}
	p.noText(n)
	p.noKids(n)
	return v
}
