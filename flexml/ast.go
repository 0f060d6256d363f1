package flexml

import "time"

// Document is a parsed and validated FlexML document.
type Document struct {
	// Name is the name given to Parse, used in messages.
	Name string
	// Verbs holds the children of <Response> in document order, as
	// *Start, *Stop, *Connect, *Pause, *Play, *Say, *Gather, *Dtmf,
	// *Dial, *Record, *Hangup, *Reject or *Redirect.
	Verbs []Verb
	// Warnings lists problems that do not stop the document from running,
	// in document order.
	Warnings []*Error
}

// Pos is the position of an element's '<' in the document.
// Line and Col are 1-based; Col counts characters (not bytes) and lines end
// at "\n", "\r\n" or a lone "\r".
type Pos struct {
	Line, Col int
}

// Position returns p. Types that embed Pos get it as a method.
func (p Pos) Position() Pos { return p }

// Verb is one instruction of a document: *Start, *Stop, *Connect, *Pause,
// *Play, *Say, *Gather, *Dtmf, *Dial, *Record, *Hangup, *Reject or *Redirect.
type Verb interface {
	// Position is where the verb's element starts.
	Position() Pos
	// VerbName is the element name, such as "Start".
	VerbName() string
}

// Start begins one or more unidirectional streams that run in the background.
type Start struct {
	Pos
	Streams []*Stream // at least one
}

// Stop ends unidirectional streams. A Stream with an empty Name stops every
// unidirectional stream of the call.
type Stop struct {
	Pos
	Streams []*Stream // at least one; only Pos and Name are set
}

// Connect runs one bidirectional stream; the document continues after the
// WebSocket closes.
type Connect struct {
	Pos
	Stream *Stream
}

// Pause waits for Length.
type Pause struct {
	Pos
	Length time.Duration // default 1s; may be 0
}

// Play plays audio from URL, which is an http or https URL or a file path,
// or, with Digits (the digits attribute or a nested <Dtmf>), sends DTMF
// digits as <Dtmf> does; then URL is empty.
type Play struct {
	Pos
	URL    string
	Loop   int    // times to play; default 1, 0 = until the call ends
	Digits string // DTMF digits to send instead; see Dtmf
}

// MaxSayText is the longest text of a <Say>, in characters after the
// white space around it is trimmed.
const MaxSayText = 4096

// MaxSayLoop is the largest loop of a <Say>; MaxSayLoopPause its longest
// loopPause.
const (
	MaxSayLoop      = 100
	MaxSayLoopPause = 300 * time.Second
)

// Say speaks Text to the caller with text to speech.
type Say struct {
	Pos
	// Text is the body, trimmed: 1 to MaxSayText characters.
	Text string
	// Voice is "man" (the default), "woman", or a Twilio voice name
	// ("alice", "Polly.Joanna", "Google.en-US-Standard-C") that the
	// gateway speaks with its closest voice.
	Voice string
	// Language is a language tag such as "en-US" (the default when empty).
	Language string
	// Loop is how many times the text is spoken: default 1; 0 repeats it
	// until the call ends or the document moves on; at most MaxSayLoop.
	Loop int
	// LoopPause is the silence between repetitions (default 0; at most
	// MaxSayLoopPause).
	LoopPause time.Duration
}

// Hangup ends the call.
type Hangup struct {
	Pos
}

// Reject refuses the call with a SIP response code.
type Reject struct {
	Pos
	Reason string // default "rejected"
	Code   int    // SIP status code for Reason, see RejectCode
}

// Redirect replaces the document with the one at URL.
type Redirect struct {
	Pos
	Method string // "GET" or "POST" (default)
	URL    string // may be relative to the current document
}

// VerbName returns "Start".
func (Start) VerbName() string { return "Start" }

// VerbName returns "Stop".
func (Stop) VerbName() string { return "Stop" }

// VerbName returns "Connect".
func (Connect) VerbName() string { return "Connect" }

// VerbName returns "Pause".
func (Pause) VerbName() string { return "Pause" }

// VerbName returns "Play".
func (Play) VerbName() string { return "Play" }

// VerbName returns "Say".
func (Say) VerbName() string { return "Say" }

// VerbName returns "Hangup".
func (Hangup) VerbName() string { return "Hangup" }

// VerbName returns "Reject".
func (Reject) VerbName() string { return "Reject" }

// VerbName returns "Redirect".
func (Redirect) VerbName() string { return "Redirect" }

// Stream is a <Stream> noun: a WebSocket to send call audio to.
type Stream struct {
	Pos
	// URL is a ws:// or wss:// URL, or a relative reference that the
	// interpreter resolves against the document's URL.
	URL string
	// Name identifies the stream for <Stop>; empty when not given.
	Name string
	// Track selects the audio sent; TrackInbound when absent.
	Track Track
	// MaxLength limits how long the stream runs; 0 means no limit.
	MaxLength time.Duration
	// TimestampStart is "relative" (default) or "absolute".
	TimestampStart string
	// Encoding is the audio's MIME type on the socket: EncodingMulaw
	// (default) or EncodingL16, at SampleRate Hz.
	Encoding string
	// SampleRate is the audio's sample rate on the socket: 8000 (default)
	// or, for EncodingL16, 16000.
	SampleRate int
	// StatusCallback is a URL to notify about the stream; may be empty.
	StatusCallback string
	// StatusCallbackMethod is "GET" or "POST" (default).
	StatusCallbackMethod string
	// Parameters are custom key/value pairs in document order, names unique.
	Parameters []Parameter
}

// Track selects which audio of the call a stream carries.
type Track string

// Track values. Twilio's inbound_track, outbound_track and both_tracks are
// normalised to the first three.
const (
	TrackInbound  Track = "inbound"
	TrackOutbound Track = "outbound"
	TrackBoth     Track = "both"
	TrackMixed    Track = "mixed"
)

// Audio encodings for Stream.Encoding, as the encoding attribute names
// them: "audio/x-mulaw" or "audio/l16;rate=8000" / "audio/l16;rate=16000".
const (
	EncodingMulaw = "audio/x-mulaw"
	EncodingL16   = "audio/l16"
)

// Timestamp origins for Stream.TimestampStart.
const (
	TimestampRelative = "relative"
	TimestampAbsolute = "absolute"
)

// Parameter is a custom key/value pair passed to the WebSocket server.
type Parameter struct {
	Pos
	Name, Value string
}
