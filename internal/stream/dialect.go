package stream

import "github.com/callstream/callstream/internal/codec"

// Track names one direction of a call's audio as the app sees it.
type Track uint8

// The tracks a stream can carry.
const (
	TrackInbound  Track = iota // the caller's voice
	TrackOutbound              // what the gateway plays to the caller
	TrackMixed                 // both, summed into one track
)

// String returns the track's wire name ("inbound", "outbound", "mixed").
func (t Track) String() string {
	switch t {
	case TrackInbound:
		return "inbound"
	case TrackOutbound:
		return "outbound"
	case TrackMixed:
		return "mixed"
	}
	return "unknown"
}

// Param is one custom parameter handed to the app in the start message.
// Order is the document's order.
type Param struct {
	Name, Value string
}

// Info describes one stream; dialects read from it what their messages need.
// It is filled once when the stream starts and never changes afterwards.
type Info struct {
	CallSid    string  // the call's id (CarrierX callId, Twilio callSid)
	AccountSid string  // Twilio accountSid; empty in CarrierX
	StreamSid  string  // unique id of this stream (Twilio streamSid)
	Name       string  // the stream's name attribute, if any
	Tag        string  // Voximplant tag
	Tracks     []Track // tracks this stream sends, in wire order
	Params     []Param // custom parameters
	Encoding   string  // wire encoding name, e.g. "audio/x-mulaw" or "PCM16"
	SampleRate int     // Hz
}

// Media is one media message: 20 ms of one track.
type Media struct {
	Track     Track
	Chunk     uint64 // counts the track's media messages from 1 (RTP-like for Voximplant)
	Timestamp uint64 // dialect-defined: ms (CarrierX, Twilio) or samples (Voximplant)
	Payload   []byte // encoded audio, not base64; valid only during the call
}

// StopInfo carries what a stop message may report.
type StopInfo struct {
	BytesSent  uint64 // audio bytes sent on this stream
	DurationMs uint64 // audio duration sent on this stream
}

// MessageKind is the kind of a message received from the app.
type MessageKind uint8

// Kinds of app messages.
const (
	MsgUnknown MessageKind = iota // anything the dialect does not know; Event holds its name
	MsgMedia                      // audio to play: Payload
	MsgClear                      // drop queued audio
	MsgMark                       // mark: Name
	MsgStart                      // the app starts sending media (Voximplant): Tag, Encoding, SampleRate, Params
	MsgStop                       // the app stops sending media (Voximplant): Tag
)

// AppMessage is a decoded message from the app. Decode reuses it; slices
// point into the message buffer or into Payload's own backing array and are
// valid until the next Decode.
type AppMessage struct {
	Kind       MessageKind
	Event      string // the event name as received
	Payload    []byte // decoded audio bytes (base64 already undone)
	Name       string // mark name
	Tag        string
	Encoding   string
	SampleRate int
	Params     []Param
	Chunk      uint64
	Timestamp  uint64
}

// Dialect encodes the gateway's messages and decodes the app's messages for
// one wire format. Encoders append one complete JSON text message to dst and
// return the extended slice; they must not allocate when dst has room.
// A dialect holds no per-stream state: sequence numbers are passed in.
type Dialect interface {
	// Name is the dialect's name as used in flags ("carrierx", "twilio", "voximplant").
	Name() string
	// FirstSequence is the sequenceNumber of the first message after connected.
	FirstSequence() uint64
	// AppendConnected appends the connected message; ok is false when the
	// dialect has none (nothing is appended then).
	AppendConnected(dst []byte, in *Info) (out []byte, ok bool)
	AppendStart(dst []byte, seq uint64, in *Info) []byte
	AppendMedia(dst []byte, seq uint64, in *Info, m *Media) []byte
	AppendStop(dst []byte, seq uint64, in *Info, st *StopInfo) []byte
	// AppendDTMF appends a dtmf event; ok is false when the dialect has none.
	AppendDTMF(dst []byte, seq uint64, in *Info, digit byte) (out []byte, ok bool)
	// AppendMark appends a mark event; ok is false when the dialect never sends marks.
	AppendMark(dst []byte, seq uint64, in *Info, name string) (out []byte, ok bool)
	// Decode parses one text message from the app into m.
	Decode(msg []byte, m *AppMessage) error
	// Wire returns how a stream carries audio of want on the socket: the
	// payloads' Format and the encoding name and sample rate its start
	// message gives. The zero want asks for the dialect's default. ok is
	// false when the dialect cannot carry want; the default is returned
	// then.
	Wire(want codec.Format) (w WireFormat, ok bool)
}

// WireFormat is the media format of a stream on its socket.
type WireFormat struct {
	Format     codec.Format // what the media payloads are
	Encoding   string       // the name the dialect writes: "audio/x-mulaw", "audio/l16", "PCM16"
	SampleRate int          // Hz, as the start message gives it
}
