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
	"strings"
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
	// ErrBadGateway: the node that holds the call did not answer (502).
	ErrBadGateway = errors.New("bad gateway")
)

// NotFound returns an error that answers 404 with msg.
func NotFound(msg string) error { return &statusError{msg: msg, kind: ErrNotFound} }

// Conflict returns an error that answers 409 with msg.
func Conflict(msg string) error { return &statusError{msg: msg, kind: ErrConflict} }

// BadGateway returns an error that answers 502 with msg.
func BadGateway(msg string) error { return &statusError{msg: msg, kind: ErrBadGateway} }

// statusError is an error whose message is for the client as it is.
type statusError struct {
	msg  string
	kind error
}

func (e *statusError) Error() string        { return e.msg }
func (e *statusError) Is(target error) bool { return target == e.kind }

// Call is one live call as the API shows it.
type Call struct {
	Sid string `json:"sid"`
	// Node is the id of the fleet's node that holds the call (--node-id).
	Node      string    `json:"node"`
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

// ForwardedByHeader marks a request one node of a fleet passes to another:
// its value is the id of the node that passed it on. A node answers such a
// request itself, never passing it on again.
const ForwardedByHeader = "Callstream-Forwarded-By"

// Unreachable is a node of the fleet a cluster-wide listing could not ask.
type Unreachable struct {
	Node    string `json:"node"`
	Message string `json:"message"`
}

// Fleet is the rest of the nodes of this node's fleet, for requests about
// calls this node does not hold.
type Fleet interface {
	// Forward serves r at the node of the fleet that holds the call sid
	// when that is another node, and reports whether it answered r
	// (forwarded, or refused: a sid of no node of the fleet). False: the
	// call is this node's, or r was forwarded to it; serve r here.
	Forward(w http.ResponseWriter, r *http.Request, sid string) bool
	// PeerCalls returns the live calls of every other node, asked with
	// r's credentials, and the nodes that could not be asked.
	PeerCalls(r *http.Request) ([]Call, []Unreachable)
}

// Handler serves the API's routes on a Backend.
type Handler struct {
	b     Backend
	log   *slog.Logger
	node  string // this node's id, served at NodePath
	fleet Fleet  // nil: a node alone
}

// New returns the API of b; log gets one line per change made to a call.
func New(b Backend, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{b: b, log: log}
}

// UseFleet tells h this node's id (served at NodePath) and the fleet it
// belongs to (nil: none), whose nodes it forwards requests for their calls
// to; it returns h.
func (h *Handler) UseFleet(node string, f Fleet) *Handler {
	h.node, h.fleet = node, f
	return h
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

// NodePath answers {"node_id": …}, this node's id (without a token, as
// /metrics shows it too): the nodes of a fleet found by DNS learn each
// other's ids from it.
const NodePath = "/node"

// OpenAPI returns the API's OpenAPI 3.0 document (JSON).
func OpenAPI() []byte { return openAPI }

// Register mounts the routes with guarded (behind the API tokens), and
// the OpenAPI document and the node's id with open. A request for a call
// (a route with {sid}) of another node of the fleet goes to that node.
func (h *Handler) Register(guarded, open func(pattern string, handler http.Handler)) {
	for _, rt := range Routes {
		f := rt.handler
		byCall := strings.Contains(rt.Path, "{sid}")
		guarded(rt.Method+" "+rt.Path, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if byCall && h.fleet != nil && h.fleet.Forward(w, r, r.PathValue("sid")) {
				return
			}
			f(h, w, r)
		}))
	}
	open(http.MethodGet+" "+OpenAPIPath, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPI)
	}))
	open(http.MethodGet+" "+NodePath, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, struct {
			NodeID string `json:"node_id"`
		}{h.node})
	}))
}

// Listing scopes (GET /calls?scope=…).
const (
	scopeNode    = "node"    // this node's calls (default)
	scopeCluster = "cluster" // every node's calls
)

// callList is the answer of GET /calls; Unreachable is there for the
// cluster scope only (nil: left out, empty: every node answered).
type callList struct {
	Calls       []Call         `json:"calls"`
	Unreachable *[]Unreachable `json:"unreachable,omitempty"`
}

func (h *Handler) listCalls(w http.ResponseWriter, r *http.Request) {
	scope := r.URL.Query().Get("scope")
	if scope != "" && scope != scopeNode && scope != scopeCluster {
		writeErr(w, &FieldError{Field: "scope", Message: `scope must be "node" (this node's calls, the default) or "cluster" (every node's)`})
		return
	}
	list := callList{Calls: h.b.Calls()}
	if scope == scopeCluster {
		down := []Unreachable{}
		// A forwarded request is one node's share of a listing.
		if h.fleet != nil && r.Header.Get(ForwardedByHeader) == "" {
			more, failed := h.fleet.PeerCalls(r)
			list.Calls = append(list.Calls, more...)
			down = append(down, failed...)
		}
		list.Unreachable = &down
	}
	calls := list.Calls
	sort.Slice(calls, func(i, j int) bool {
		if !calls[i].StartTime.Equal(calls[j].StartTime) {
			return calls[i].StartTime.Before(calls[j].StartTime)
		}
		return calls[i].Sid < calls[j].Sid
	})
	if calls == nil {
		list.Calls = []Call{}
	}
	writeJSON(w, http.StatusOK, list)
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

// WriteError answers err as the API does: its status (400, 404, 409,
// 413, 502; 500 for an error of none of the API's kinds) and the errors
// body.
func WriteError(w http.ResponseWriter, err error) { writeErr(w, err) }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
