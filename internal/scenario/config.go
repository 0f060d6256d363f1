package scenario

import (
	"log/slog"
	"time"

	"github.com/callstream/callstream/internal/fetch"
	"github.com/callstream/callstream/internal/limit"
)

// Limits bound what one session may do. The zero value of each field means
// the default, which follows the VoxEngine limits.
type Limits struct {
	CallbackTime    time.Duration // a callback running longer is interrupted and the session ends (1 s)
	Timers          int           // timers alive at once (100)
	MinInterval     time.Duration // shortest setInterval period (100 ms)
	NoCallTimeout   time.Duration // a session without a call for this long ends (60 s)
	AnswerTimeout   time.Duration // an inbound call not answered this long is dropped (60 s)
	MediaBuffer     time.Duration // remote audio buffered ahead of playback (10 s)
	MediaEndSilence time.Duration // silence after which MEDIA_ENDED fires (1 s)
	ExtraSockets    int           // incoming WebSockets allowed beyond the session's calls (3)
	ShutdownWait    time.Duration // how long a session's end waits for sockets and calls (5 s)
	FetchSize       int64         // largest audio file or HTTP response read (10 MB)
	TTSChars        int           // longest text for say and createTTSPlayer (1500)
}

// DefaultLimits returns the limits the zero Limits means.
func DefaultLimits() Limits {
	return Limits{
		CallbackTime:    time.Second,
		Timers:          100,
		MinInterval:     100 * time.Millisecond,
		NoCallTimeout:   60 * time.Second,
		AnswerTimeout:   60 * time.Second,
		MediaBuffer:     10 * time.Second,
		MediaEndSilence: time.Second,
		ExtraSockets:    3,
		ShutdownWait:    5 * time.Second,
		FetchSize:       10 << 20,
		TTSChars:        1500,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.CallbackTime <= 0 {
		l.CallbackTime = d.CallbackTime
	}
	if l.Timers <= 0 {
		l.Timers = d.Timers
	}
	if l.MinInterval <= 0 {
		l.MinInterval = d.MinInterval
	}
	if l.NoCallTimeout <= 0 {
		l.NoCallTimeout = d.NoCallTimeout
	}
	if l.AnswerTimeout <= 0 {
		l.AnswerTimeout = d.AnswerTimeout
	}
	if l.MediaBuffer <= 0 {
		l.MediaBuffer = d.MediaBuffer
	}
	if l.MediaEndSilence <= 0 {
		l.MediaEndSilence = d.MediaEndSilence
	}
	if l.ExtraSockets <= 0 {
		l.ExtraSockets = d.ExtraSockets
	}
	if l.ShutdownWait <= 0 {
		l.ShutdownWait = d.ShutdownWait
	}
	if l.FetchSize <= 0 {
		l.FetchSize = d.FetchSize
	}
	if l.TTSChars <= 0 {
		l.TTSChars = d.TTSChars
	}
	return l
}

// Config configures a Runtime. File or Source is required; every other
// field's zero value means its default.
type Config struct {
	// File is the scenario script. It is read and compiled once by New.
	File string
	// Source, when set, is the script text; File then only names it in
	// errors and stack traces.
	Source string
	// Logger receives the runtime's logs and the scenarios' Logger.write.
	Logger *slog.Logger
	// HTTPAddr returns the address of the HTTP listener the Routes are
	// served on (the gateway's); access URLs are built from it.
	HTTPAddr func() string
	// HTTPSAddr, when set and not empty, returns the address of the
	// listener serving the same Routes over TLS: accessSecureURL points
	// there.
	HTTPSAddr func() string
	// PublicURL, when set, is the base of access URLs as callers of the
	// listener see it (e.g. "https://gw.example.com"); default
	// "http://" + HTTPAddr().
	PublicURL string
	// CustomData is what VoxEngine.customData() returns in sessions
	// started by a call (POST /scenarios passes its own).
	CustomData string
	// Fetch runs Net requests, fetches players' audio and dials
	// WebSockets through a URL policy (default: a client with the default
	// policy; a gateway hands its own with UseGateway).
	Fetch *fetch.Client
	// PlayCache bounds the decoded player audio kept for reuse by later
	// players (default 64 MiB; negative: none kept).
	PlayCache int64
	// TTSCommand is the text-to-speech program for say and createTTSPlayer,
	// run as TTSCommand -v voice --stdout with the text on its standard
	// input; it must write a WAV file to its standard output (default
	// "espeak-ng"; see package tts). A gateway sharing its own synthesizer
	// (Shared.TTS) replaces it.
	TTSCommand string
	// RecordDir is where recorders write their WAV files (default: a
	// "callstream" folder in the system's temporary directory). It is
	// created (mode 0700) when missing.
	RecordDir string
	// RecordTTL deletes a recording this long after it ended (default
	// 24 h; negative: never). Recordings of an earlier run found in
	// RecordDir at start are deleted that long after they were written.
	RecordTTL time.Duration
	// Bounds are the gateway's limits; the runtime applies Sessions
	// (sessions at once), SessionRate (sessions POST /scenarios may start
	// a second) and ScenarioHeap (heap one callback may add). Zero
	// fields mean their defaults, negative ones switch the bound off.
	Bounds limit.Limits
	// Limits bound each session.
	Limits Limits
	// PSTNTrunk is the SIP host[:port] that VoxEngine.callPSTN sends
	// numbers to ("": callPSTN throws).
	PSTNTrunk string
	// CallerID is the caller id of outgoing calls whose scenario gives
	// none (default "callstream").
	CallerID string
	// WSMaxMessage bounds a message read from a WebSocket, outgoing or
	// incoming, in bytes (0: 1 MiB; negative: no bound); a larger one
	// closes the socket with 1009. Refusals counts it and the sockets'
	// other bounds. A gateway sets both (see Runtime.UseGateway).
	WSMaxMessage int64
	Refusals     limit.Counter
}
