// Package api is callstream's REST API for live calls: list and read
// them, redirect a call to another FlexML document (by URL or inline),
// hang it up, and start and stop unidirectional streams on it, in the
// manner of Twilio's Calls and Streams resources. It speaks JSON, takes
// JSON or form-encoded bodies, and answers errors as
// {"errors":[{"message":…,"field":…}]}. The gateway mounts it behind its
// bearer tokens and implements Backend; the OpenAPI document of the routes
// is served at /openapi.json.
package api

import (
	"cmp"
	_ "embed"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"time"

	"github.com/callstream/callstream/flexml"
)

// MaxBody bounds a request's body.
const MaxBody = 64 << 10

// Errors a Backend wraps to choose the answer's status.
var (
	// ErrNotFound: no live or recently ended call has this CallSid, or no
	// live stream of the call has this name (404).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the call is in a state that refuses the request: it
	// has ended, it runs a scenario, it is not answered yet (409).
	ErrConflict = errors.New("conflict")
)

// NotFound returns an error that answers 404 with msg.
func NotFound(msg string) error { return &statusError{msg: msg, kind: ErrNotFound} }

// Conflict returns an error that answers 409 with msg.
func Conflict(msg string) error { return &statusError{msg: msg, kind: ErrConflict} }

// statusError is an error whose message is for the client as it is.
type statusError struct {
	msg  string
	kind error
}

func (e *statusError) Error() string        { return e.msg }
func (e *statusError) Is(target error) bool { return target == e.kind }

// Call is one live call as the API shows it.
type Call struct {
	Sid       string    `json:"sid"`
	State     string    `json:"state"` // ringing, in-progress
	From      string    `json:"from"`
	To        string    `json:"to"`
	Direction string    `json:"direction"` // inbound, outbound-dial
	Codec     string    `json:"codec"`     // what RTP carries ("PCMU/8000"); empty before media
	StartTime time.Time `json:"start_time"`
	Duration  float64   `json:"duration"` // seconds since StartTime
	// Controller runs the call: "flexml" or "scenario".
	Controller string   `json:"controller"`
	Streams    []Stream `json:"streams"`
	Media      Media    `json:"media"`
}

// Stream is one live stream of a call.
type Stream struct {
	Sid           string   `json:"sid"`
	Name          string   `json:"name"`
	URLHost       string   `json:"url_host"`
	Tracks        []string `json:"tracks"`
	Dialect       string   `json:"dialect"`
	Bidirectional bool     `json:"bidirectional"`
	FramesSent    uint64   `json:"frames_sent"`
	QueueDepth    int      `json:"queue_depth"` // media frames waiting to be sent
}

// Media are a call's media counters.
type Media struct {
	FramesIn  uint64  `json:"frames_in"`
	FramesOut uint64  `json:"frames_out"`
	JitterMs  float64 `json:"jitter_ms"`
	Lost      uint64  `json:"lost"` // inbound slots whose audio never arrived
	Late      uint64  `json:"late"` // inbound RTP packets that came after their slot
}

// NewCall is an outgoing call to place (POST /calls).
type NewCall struct {
	To             string // a SIP URI (sip:…), or a number called through the PSTN trunk
	From           string // the caller id; default the gateway's
	URL, Method    string // the FlexML document run once answered
	StatusCallback string // optional: the call's status events
	Timeout        time.Duration
}

// StreamRequest starts a unidirectional stream on a live call.
type StreamRequest struct {
	URL            string // ws:// or wss://
	Name           string // default: the stream's sid
	Track          string // inbound (default), outbound or both
	StatusCallback string
}

// Backend is what the API acts on: the gateway's live calls. Errors wrap
// ErrNotFound or ErrConflict to answer 404 or 409; a *FieldError answers
// 400; any other error 500.
type Backend interface {
	// Calls returns the live calls.
	Calls() []Call
	// Place places an outgoing call and returns it (ringing).
	Place(c NewCall) (Call, error)
	// Call returns one live call.
	Call(sid string) (Call, error)
	// Redirect interrupts the call's current verb and runs the document
	// at url, fetched by method (GET or POST).
	Redirect(sid, url, method string) error
	// RunDocument interrupts the call's current verb and runs doc.
	RunDocument(sid string, doc *flexml.Document) error
	// End ends the call: status "completed" hangs up an answered call (or
	// refuses a ringing one), "canceled" refuses a ringing call.
	End(sid, status string) error
	// StartStream starts a unidirectional stream on the call.
	StartStream(sid string, s StreamRequest) (Stream, error)
	// StopStream stops the call's stream called name (or with that sid).
	StopStream(sid, name string) error
}

// Handler serves the API's routes on a Backend.
type Handler struct {
	b   Backend
	log *slog.Logger
}

// New returns the API of b; log gets one line per change made to a call.
func New(b Backend, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{b: b, log: log}
}

// Route is one endpoint of the API.
type Route struct {
	Method, Path string // http.ServeMux syntax: "/calls/{sid}"
	handler      func(*Handler, http.ResponseWriter, *http.Request)
}

// Routes are the endpoints Register mounts behind the tokens; the OpenAPI
// document must describe exactly these (plus itself).
var Routes = []Route{
	{http.MethodGet, "/calls", (*Handler).listCalls},
	{http.MethodPost, "/calls", (*Handler).placeCall},
	{http.MethodGet, "/calls/{sid}", (*Handler).getCall},
	{http.MethodPost, "/calls/{sid}", (*Handler).updateCall},
	{http.MethodPost, "/calls/{sid}/streams", (*Handler).startStream},
	{http.MethodPost, "/calls/{sid}/streams/{name}", (*Handler).stopStream},
}

// OpenAPIPath is where the OpenAPI document is served (without a token:
// it describes the API, it holds nothing of a call).
const OpenAPIPath = "/openapi.json"

//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the API's OpenAPI 3.0 document (JSON).
func OpenAPI() []byte { return openAPI }

// Register mounts the routes with guarded (behind the API tokens) and the
// OpenAPI document with open.
func (h *Handler) Register(guarded, open func(pattern string, handler http.Handler)) {
	for _, rt := range Routes {
		f := rt.handler
		guarded(rt.Method+" "+rt.Path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { f(h, w, r) }))
	}
	open(http.MethodGet+" "+OpenAPIPath, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPI)
	}))
}

func (h *Handler) listCalls(w http.ResponseWriter, _ *http.Request) {
	calls := h.b.Calls()
	sort.Slice(calls, func(i, j int) bool {
		if !calls[i].StartTime.Equal(calls[j].StartTime) {
			return calls[i].StartTime.Before(calls[j].StartTime)
		}
		return calls[i].Sid < calls[j].Sid
	})
	writeJSON(w, http.StatusOK, struct {
		Calls []Call `json:"calls"`
	}{calls})
}

func (h *Handler) placeCall(w http.ResponseWriter, r *http.Request) {
	p, err := readParams(w, r, "to", "from", "url", "method", "statuscallback", "timeout")
	if err != nil {
		writeErr(w, err)
		return
	}
	nc, err := parseNewCall(p)
	if err != nil {
		writeErr(w, err)
		return
	}
	c, err := h.b.Place(nc)
	if err != nil {
		writeErr(w, err)
		return
	}
	h.log.Info("api: call placed", "call_sid", c.Sid)
	writeJSON(w, http.StatusCreated, c)
}

func (h *Handler) getCall(w http.ResponseWriter, r *http.Request) {
	c, err := h.b.Call(r.PathValue("sid"))
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// updateCall is Twilio's call update: one of url (with method), an inline
// document (flexml or twiml), or status.
func (h *Handler) updateCall(w http.ResponseWriter, r *http.Request) {
	sid := r.PathValue("sid")
	p, err := readParams(w, r, "url", "method", "flexml", "twiml", "status")
	if err != nil {
		writeErr(w, err)
		return
	}
	u, err := parseUpdate(p)
	if err != nil {
		writeErr(w, err)
		return
	}
	switch {
	case u.status != "":
		err = h.b.End(sid, u.status)
	case u.doc != nil:
		err = h.b.RunDocument(sid, u.doc)
	default:
		err = h.b.Redirect(sid, u.url, u.method)
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	h.log.Info("api: call updated", "call_sid", sid, "action", u.action())
	c, err := h.b.Call(sid)
	if u.status != "" || err != nil {
		// Ending (or ended meanwhile): say what was done.
		writeJSON(w, http.StatusOK, struct {
			Sid    string `json:"sid"`
			Status string `json:"status"`
		}{sid, cmp.Or(u.status, "completed")})
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (h *Handler) startStream(w http.ResponseWriter, r *http.Request) {
	sid := r.PathValue("sid")
	p, err := readParams(w, r, "url", "name", "track", "statuscallback")
	if err != nil {
		writeErr(w, err)
		return
	}
	req, err := parseStream(p)
	if err != nil {
		writeErr(w, err)
		return
	}
	st, err := h.b.StartStream(sid, req)
	if err != nil {
		writeErr(w, err)
		return
	}
	h.log.Info("api: stream started", "call_sid", sid, "stream", st.Name, "stream_sid", st.Sid)
	writeJSON(w, http.StatusCreated, struct {
		Stream
		CallSid string `json:"call_sid"`
		Status  string `json:"status"`
	}{st, sid, "in-progress"})
}

func (h *Handler) stopStream(w http.ResponseWriter, r *http.Request) {
	sid, name := r.PathValue("sid"), r.PathValue("name")
	p, err := readParams(w, r, "status")
	if err != nil {
		writeErr(w, err)
		return
	}
	if p["status"] != "stopped" {
		writeErr(w, &FieldError{Field: "status", Message: `status must be "stopped"`})
		return
	}
	if err := h.b.StopStream(sid, name); err != nil {
		writeErr(w, err)
		return
	}
	h.log.Info("api: stream stopped", "call_sid", sid, "stream", name)
	writeJSON(w, http.StatusOK, struct {
		CallSid string `json:"call_sid"`
		Name    string `json:"name"`
		Status  string `json:"status"`
	}{sid, name, "stopped"})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
