package scenario

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"

	"github.com/gorilla/websocket"

	"github.com/callstream/callstream/internal/records"
)

// maxRequestBody bounds what the access URL and POST /scenarios read.
const maxRequestBody = 1 << 20

// Mux is where Routes registers the runtime's HTTP handlers; the
// gateway's Router is one.
type Mux interface {
	// Handle registers an endpoint of the HTTP API: the mux lets through
	// only requests that carry a valid API token.
	Handle(pattern string, h http.Handler)
	// HandleOpen registers an endpoint anyone may reach: the path carries
	// its own secret (a session's access token).
	HandleOpen(pattern string, h http.Handler)
}

// Routes adds the runtime's HTTP handlers:
//
//	POST /scenarios          start a session without a call (script_custom_data); API
//	/request/{token}[/...]   a session's access URL: WebSocket upgrades become
//	                         incoming sockets, other requests AppEvents.HttpRequest
//	GET /records/{name}      a recording; API
func (rt *Runtime) Routes(m Mux) {
	m.Handle("POST /scenarios", http.HandlerFunc(rt.serveStart))
	m.HandleOpen("/request/{token}", http.HandlerFunc(rt.serveAccess))
	m.HandleOpen("/request/{token}/{rest...}", http.HandlerFunc(rt.serveAccess))
	m.Handle(records.Pattern, rt.records)
}

// startReply is the answer to POST /scenarios.
type startReply struct {
	Result          int    `json:"result"`
	AccessURL       string `json:"media_session_access_url"`
	AccessSecureURL string `json:"media_session_access_secure_url"`
	SessionID       string `json:"session_id"`
}

func (rt *Runtime) serveStart(w http.ResponseWriter, r *http.Request) {
	if !rt.admitStart(w, r) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxRequestBody)
	var custom string
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil && !errors.Is(err, io.EOF) {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid JSON: " + err.Error()})
			return
		}
		if v, ok := body["script_custom_data"]; ok && v != nil {
			if s, ok := v.(string); ok {
				custom = s
			} else {
				b, _ := json.Marshal(v)
				custom = string(b)
			}
		}
	} else {
		if err := r.ParseForm(); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": err.Error()})
			return
		}
		custom = r.FormValue("script_custom_data")
	}
	info, err := rt.Start(custom)
	if err != nil {
		refuseStart(w, err)
		return
	}
	rt.log.Info("session started over HTTP", "session_id", info.ID, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, startReply{Result: 1, AccessURL: info.AccessURL, AccessSecureURL: info.AccessSecureURL, SessionID: info.ID})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// serveAccess handles a request to a session's access URL.
func (rt *Runtime) serveAccess(w http.ResponseWriter, r *http.Request) {
	s := rt.session(r.PathValue("token"))
	if s == nil || s.closing.Load() {
		http.NotFound(w, r)
		return
	}
	if !s.admitAccess(w, r) {
		return
	}
	if websocket.IsWebSocketUpgrade(r) {
		s.acceptSocket(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
	if err != nil {
		http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	method, path, headers := r.Method, r.URL.RequestURI(), headerList(r.Header)
	if !s.post(func() {
		s.dispatch(s.app, evHTTPRequest, s.event(evHTTPRequest,
			"method", method, "path", path, "content", string(body), "headers", s.headerArray(headers)))
	}) {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "OK\n")
}

// acceptSocket upgrades an incoming WebSocket when the session allows it
// and has room: at most its calls + ExtraSockets at once. Beyond that
// AppEvents.NewWebSocketFailed fires. The decision is taken on the loop,
// after the script has started.
func (s *session) acceptSocket(w http.ResponseWriter, r *http.Request) {
	type verdict struct {
		code   int
		reason string
	}
	decided := make(chan verdict, 1)
	if !s.post(func() {
		switch limit := int(s.liveCalls.Load()) + s.lim.ExtraSockets; {
		case s.state != stateRunning:
			decided <- verdict{http.StatusNotFound, "the session is ending"}
		case !s.allowWS.Load():
			decided <- verdict{http.StatusForbidden, "incoming WebSocket connections are not allowed in this session: the scenario did not call VoxEngine.allowWebSocketConnections()"}
		case int(s.incoming.Load())+1 > limit:
			reason := fmt.Sprintf("too many incoming websockets: at most %d (calls in the session + %d)", limit, s.lim.ExtraSockets)
			decided <- verdict{http.StatusServiceUnavailable, reason}
			s.dispatch(s.app, evNewWebSocketFailed, s.event(evNewWebSocketFailed, "reason", reason))
		default:
			s.incoming.Add(1)
			decided <- verdict{}
		}
	}) {
		http.NotFound(w, r)
		return
	}
	var v verdict
	select {
	case v = <-decided:
	case <-s.ended:
		http.NotFound(w, r)
		return
	}
	if v.code != 0 {
		s.log.Warn("incoming websocket refused", "reason", v.reason, "remote", r.RemoteAddr)
		http.Error(w, v.reason, v.code)
		return
	}
	up := websocket.Upgrader{
		CheckOrigin:  func(*http.Request) bool { return true }, // the token in the path is the credential
		Subprotocols: websocket.Subprotocols(r),
	}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		s.incoming.Add(-1)
		s.log.Warn("incoming websocket upgrade failed", "err", err)
		return
	}
	method, path, headers := r.Method, r.URL.RequestURI(), headerList(r.Header)
	if !s.post(func() {
		if s.state != stateRunning {
			_ = conn.Close()
			return
		}
		ws := s.newSocket(s.wsURL(), nil, nil, conn)
		s.dispatch(s.app, evWebSocket, s.event(evWebSocket,
			"websocket", ws.obj, "method", method, "path", path, "headers", s.headerArray(headers)))
	}) {
		_ = conn.Close()
	}
}

// headerList flattens a header, sorted by name.
func headerList(h http.Header) [][2]string {
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	var out [][2]string
	for _, k := range names {
		for _, v := range h[k] {
			out = append(out, [2]string{k, v})
		}
	}
	return out
}

// headerArray makes [{key, value}].
func (s *session) headerArray(h [][2]string) any {
	items := make([]any, 0, len(h))
	for _, kv := range h {
		o := s.vm.NewObject()
		_ = o.Set("key", kv[0])
		_ = o.Set("value", kv[1])
		items = append(items, o)
	}
	return s.vm.NewArray(items...)
}
