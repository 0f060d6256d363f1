// Package dashboard is callstream's live dashboard: one HTML page served
// from the binary at GET / and a Server-Sent Events feed of snapshots at
// GET /dashboard/events, showing the node's live calls (parties, state,
// duration, codec, controller), their streams (dialect, app host, tracks,
// frames sent, queue depth, added latency), a level meter per track and
// the calls that ended last with their reasons.
//
// Both routes take the API's tokens: as "Authorization: Bearer <token>",
// or, for a browser (which sends no such header on a navigation nor on an
// EventSource), once, through the login form (POST /, the token in the
// body) or as GET /?token=<token>; either opens a session: a random id in
// an HttpOnly, SameSite=Strict cookie, and a redirect to / so the token
// leaves the address bar. The cookie opens the dashboard's
// routes only. The gateway mounts the routes and supplies the data
// through Source.
package dashboard

import (
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"
)

// Paths of the dashboard's routes.
const (
	PagePath   = "/"
	EventsPath = "/dashboard/events"
)

// Defaults of Config.
const (
	DefaultInterval       = 750 * time.Millisecond
	DefaultMaxSubscribers = 32
	DefaultMaxSessions    = 64
	DefaultSessionTTL     = 12 * time.Hour
	// heartbeatEvery is how often an SSE comment line is sent when no
	// snapshot went out (snapshots are more frequent by default).
	heartbeatEvery = 10 * time.Second
	// retryMs is the reconnection delay the feed asks browsers for.
	retryMs = 2000
	// writeWait bounds one write to a subscriber.
	writeWait = 10 * time.Second
)

// Source supplies the dashboard's data: what is live on the node now.
type Source interface {
	// Snapshot returns the live calls and the latest ended ones. Levels
	// carry cumulative counters; the dashboard turns them into dBFS.
	Snapshot() Snapshot
}

// Snapshot is what the page shows at one instant; it is the JSON of a
// "snapshot" event.
type Snapshot struct {
	Node  string    `json:"node"`
	Time  time.Time `json:"time"`
	Calls []Call    `json:"calls"`
	Ends  []End     `json:"ends"` // the latest first
}

// Call is one live call.
type Call struct {
	Sid        string   `json:"sid"`
	From       string   `json:"from"`
	FromName   string   `json:"from_name"` // the From display name
	To         string   `json:"to"`
	Direction  string   `json:"direction"`
	State      string   `json:"state"`
	Codec      string   `json:"codec"`
	Controller string   `json:"controller"`
	Duration   float64  `json:"duration"` // seconds
	Streams    []Stream `json:"streams"`
	Levels     []Level  `json:"levels"`
}

// Stream is one live stream of a call.
type Stream struct {
	Name       string   `json:"name"`
	Dialect    string   `json:"dialect"`
	URLHost    string   `json:"url_host"`
	Tracks     []string `json:"tracks"`
	FramesSent uint64   `json:"frames_sent"`
	QueueDepth int      `json:"queue_depth"`
	// LatencyMs is the time a frame waits in the gateway before its write
	// to the app ends (the latest sample).
	LatencyMs float64 `json:"latency_ms"`
}

// Level is the audio level of one track of a call.
type Level struct {
	Track string `json:"track"` // inbound (the caller), outbound (to the caller)
	// Samples and SumSquares are cumulative counters of the track's
	// samples and the sum of their squares (16-bit full scale); they may
	// wrap.
	Samples    uint64 `json:"-"`
	SumSquares uint64 `json:"-"`
	// DBFS is the RMS level since the previous snapshot of the same feed;
	// nil when no sample came meanwhile (or the codec has no meter).
	DBFS *float64 `json:"dbfs"`
}

// End is a call that has ended.
type End struct {
	Sid      string    `json:"sid"`
	From     string    `json:"from"`
	To       string    `json:"to"`
	Duration float64   `json:"duration"` // seconds
	Reason   string    `json:"reason"`
	EndedAt  time.Time `json:"ended_at"`
}

// Config configures a Dashboard.
type Config struct {
	Source Source
	// ValidToken reports whether a token is one of the API's; nil turns
	// the dashboard off (403), as the API is without tokens.
	ValidToken func(token string) bool
	// Refused, when set, hears of every request refused for want of a
	// valid token or session (for counting and a rate-bounded log line).
	Refused func(r *http.Request, reason string)
	// Interval between snapshots (DefaultInterval when 0).
	Interval time.Duration
	// MaxSubscribers bounds the feeds open at once (beyond: 503).
	MaxSubscribers int
	// MaxSessions bounds the browser sessions; the oldest goes first.
	MaxSessions int
	// SessionTTL is a session's life from its login.
	SessionTTL time.Duration
	Log        *slog.Logger
}

// Dashboard serves the page and the feed.
type Dashboard struct {
	cfg      Config
	sessions *sessions
	subs     atomic.Int32
	done     chan struct{}
	closed   atomic.Bool
}

// New returns a dashboard of cfg.
func New(cfg Config) *Dashboard {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.MaxSubscribers <= 0 {
		cfg.MaxSubscribers = DefaultMaxSubscribers
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Dashboard{cfg: cfg, sessions: newSessions(cfg.MaxSessions, cfg.SessionTTL), done: make(chan struct{})}
}

// Register mounts the page and the feed with open: they check tokens and
// sessions themselves, so they must not sit behind the bearer guard.
func (d *Dashboard) Register(open func(pattern string, h http.Handler)) {
	open(http.MethodGet+" /{$}", http.HandlerFunc(d.servePage))
	open(http.MethodPost+" /{$}", http.HandlerFunc(d.serveLoginForm))
	open(http.MethodGet+" "+EventsPath, http.HandlerFunc(d.serveEvents))
}

// Close ends every feed (the HTTP server is shutting down); the page is
// still served, and a new feed ends at once.
func (d *Dashboard) Close() {
	if d.closed.CompareAndSwap(false, true) {
		close(d.done)
	}
}

// Subscribers returns the feeds open now.
func (d *Dashboard) Subscribers() int { return int(d.subs.Load()) }
