package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/callstream/callstream/flexml"
)

// FieldError is a request the API refuses (400): Field names the
// parameter at fault, when one is.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// documentError is an inline document that does not validate: one entry
// per problem, each with its line and column.
type documentError struct {
	field string
	list  flexml.ErrorList
}

func (e *documentError) Error() string { return e.field + ": " + e.list.Error() }

// ErrBodyTooLarge is a request body over MaxBody (413).
var ErrBodyTooLarge = fmt.Errorf("the request body is over %d bytes", MaxBody)

// errorBody is the JSON of every error answer.
type errorBody struct {
	Errors []errorEntry `json:"errors"`
}

type errorEntry struct {
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// writeErr answers err with its status and the errors body.
func writeErr(w http.ResponseWriter, err error) {
	var (
		fe   *FieldError
		de   *documentError
		code = http.StatusInternalServerError
		body errorBody
	)
	switch {
	case errors.As(err, &de):
		code = http.StatusBadRequest
		for _, e := range de.list {
			body.Errors = append(body.Errors, errorEntry{Message: e.Error(), Field: de.field})
		}
	case errors.As(err, &fe):
		code = http.StatusBadRequest
		body.Errors = []errorEntry{{Message: fe.Message, Field: fe.Field}}
	case errors.Is(err, ErrBodyTooLarge):
		code = http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, ErrConflict):
		code = http.StatusConflict
	case errors.Is(err, ErrBadGateway):
		code = http.StatusBadGateway
	}
	if body.Errors == nil {
		msg := err.Error()
		if code == http.StatusInternalServerError {
			msg = "internal error"
		}
		body.Errors = []errorEntry{{Message: msg}}
	}
	writeJSON(w, code, body)
}

// paramKey folds a parameter's name: Twilio's forms say StatusCallback,
// JSON clients status_callback; both are "statuscallback".
func paramKey(s string) string {
	return strings.ToLower(strings.ReplaceAll(s, "_", ""))
}

// readParams reads a request's body, JSON (an object of strings) or
// form-encoded, bounded by MaxBody, into parameters by folded name. A
// parameter not in allowed, or given twice, is refused naming it.
func readParams(w http.ResponseWriter, r *http.Request, allowed ...string) (map[string]string, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, ErrBodyTooLarge
		}
		return nil, &FieldError{Message: "reading the request body: " + err.Error()}
	}
	out := map[string]string{}
	add := func(k, v string) error {
		key := paramKey(k)
		ok := false
		for _, a := range allowed {
			ok = ok || a == key
		}
		if !ok {
			return &FieldError{Field: k, Message: "unknown parameter: this endpoint takes " + strings.Join(allowed, ", ")}
		}
		if _, dup := out[key]; dup {
			return &FieldError{Field: k, Message: "given more than once"}
		}
		out[key] = v
		return nil
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return out, nil
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, &FieldError{Message: "the body is not a JSON object: " + err.Error()}
		}
		for k, raw := range m {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, &FieldError{Field: k, Message: "must be a string"}
			}
			if err := add(k, s); err != nil {
				return nil, err
			}
		}
	case "application/x-www-form-urlencoded":
		vals, err := url.ParseQuery(string(b))
		if err != nil {
			return nil, &FieldError{Message: "the form does not parse: " + err.Error()}
		}
		for k, vs := range vals {
			if len(vs) > 1 {
				return nil, &FieldError{Field: k, Message: "given more than once"}
			}
			if err := add(k, vs[0]); err != nil {
				return nil, err
			}
		}
	default:
		return nil, &FieldError{Message: "Content-Type must be application/json or application/x-www-form-urlencoded"}
	}
	return out, nil
}

// update is a parsed POST /calls/{sid}.
type update struct {
	url, method string
	doc         *flexml.Document
	status      string
}

func (u *update) action() string {
	switch {
	case u.status != "":
		return "status " + u.status
	case u.doc != nil:
		return "inline document"
	}
	return "redirect"
}

// parseUpdate checks a call update: exactly one of url, flexml/twiml or
// status; an inline document must validate.
func parseUpdate(p map[string]string) (*update, error) {
	given := 0
	for _, k := range []string{"url", "flexml", "twiml", "status"} {
		if _, ok := p[k]; ok {
			given++
		}
	}
	if given != 1 {
		return nil, &FieldError{Message: "give exactly one of url, flexml, twiml or status"}
	}
	u := &update{}
	if m, ok := p["method"]; ok {
		if _, hasURL := p["url"]; !hasURL {
			return nil, &FieldError{Field: "method", Message: "method goes with url only"}
		}
		u.method = strings.ToUpper(m)
		if u.method != http.MethodGet && u.method != http.MethodPost {
			return nil, &FieldError{Field: "method", Message: "must be GET or POST"}
		}
	}
	switch {
	case hasKey(p, "status"):
		u.status = p["status"]
		if u.status != "completed" && u.status != "canceled" {
			return nil, &FieldError{Field: "status", Message: `must be "completed" or "canceled"`}
		}
	case hasKey(p, "url"):
		u.url = p["url"]
		pu, err := url.Parse(u.url)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			return nil, &FieldError{Field: "url", Message: "must be an absolute http or https URL"}
		}
	default:
		field := "flexml"
		if hasKey(p, "twiml") {
			field = "twiml"
		}
		doc, err := flexml.Parse(field, []byte(p[field]))
		if err != nil {
			var list flexml.ErrorList
			if errors.As(err, &list) {
				return nil, &documentError{field: field, list: list}
			}
			return nil, &FieldError{Field: field, Message: err.Error()}
		}
		u.doc = doc
	}
	return u, nil
}

func hasKey(p map[string]string, k string) bool {
	_, ok := p[k]
	return ok
}

// parseStream checks a stream to start.
func parseStream(p map[string]string) (StreamRequest, error) {
	s := StreamRequest{URL: p["url"], Name: p["name"], Track: p["track"], StatusCallback: p["statuscallback"]}
	u, err := url.Parse(s.URL)
	switch {
	case s.URL == "":
		return s, &FieldError{Field: "url", Message: "required: the ws:// or wss:// URL of the app"}
	case err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "":
		return s, &FieldError{Field: "url", Message: "must be an absolute ws:// or wss:// URL"}
	}
	switch s.Track {
	case "":
		s.Track = "inbound"
	case "inbound", "outbound", "both":
	case "inbound_track", "outbound_track", "both_tracks":
		// Twilio's spelling.
		s.Track = strings.TrimSuffix(strings.TrimSuffix(s.Track, "_track"), "_tracks")
	default:
		return s, &FieldError{Field: "track", Message: "must be inbound, outbound or both"}
	}
	if len(s.Name) > 64 {
		return s, &FieldError{Field: "name", Message: "at most 64 characters"}
	}
	if strings.ContainsAny(s.Name, "/?#") {
		return s, &FieldError{Field: "name", Message: "may not hold / ? or #"}
	}
	if s.StatusCallback != "" {
		cu, err := url.Parse(s.StatusCallback)
		if err != nil || (cu.Scheme != "http" && cu.Scheme != "https") || cu.Host == "" {
			return s, &FieldError{Field: "status_callback", Message: "must be an absolute http or https URL"}
		}
	}
	return s, nil
}

// Bounds of a call placed through the API.
const (
	// DefaultRingTimeout is how long a placed call rings before it is
	// given up (Twilio's default).
	DefaultRingTimeout = 60 * time.Second
	// MaxRingTimeout is the longest ring timeout a request may ask for.
	MaxRingTimeout = 600 * time.Second
)

// parseNewCall checks a call to place.
func parseNewCall(p map[string]string) (NewCall, error) {
	nc := NewCall{To: p["to"], From: p["from"], URL: p["url"], Method: strings.ToUpper(p["method"]), StatusCallback: p["statuscallback"],
		Timeout: DefaultRingTimeout}
	switch {
	case nc.To == "":
		return nc, &FieldError{Field: "to", Message: "required: a SIP URI (sip:user@host) or a number"}
	case strings.HasPrefix(nc.To, "sip:"):
		if u, err := url.Parse(nc.To); err != nil || !strings.Contains(u.Opaque, "@") || len(nc.To) > 256 {
			return nc, &FieldError{Field: "to", Message: "must be a SIP URI sip:user@host[:port] of at most 256 characters"}
		}
	case !isNumber(nc.To):
		return nc, &FieldError{Field: "to", Message: "must be a SIP URI (sip:user@host) or a number (an optional + and up to 32 digits)"}
	}
	if nc.From != "" && !isNumber(nc.From) && !isToken(nc.From) {
		return nc, &FieldError{Field: "from", Message: "must be a number or a SIP user name (letters, digits, - . _)"}
	}
	u, err := url.Parse(nc.URL)
	switch {
	case nc.URL == "":
		// Required on a FlexML gateway, refused on a scenario one: the
		// backend knows which it is.
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return nc, &FieldError{Field: "url", Message: "must be an absolute http or https URL"}
	}
	switch nc.Method {
	case "":
		nc.Method = http.MethodPost
	case http.MethodGet, http.MethodPost:
	default:
		return nc, &FieldError{Field: "method", Message: "must be GET or POST"}
	}
	if nc.StatusCallback != "" {
		cu, err := url.Parse(nc.StatusCallback)
		if err != nil || (cu.Scheme != "http" && cu.Scheme != "https") || cu.Host == "" {
			return nc, &FieldError{Field: "status_callback", Message: "must be an absolute http or https URL"}
		}
	}
	if t, ok := p["timeout"]; ok {
		n, err := strconv.Atoi(t)
		if err != nil || n < 1 || time.Duration(n)*time.Second > MaxRingTimeout {
			return nc, &FieldError{Field: "timeout", Message: fmt.Sprintf("must be whole seconds from 1 to %d", int(MaxRingTimeout/time.Second))}
		}
		nc.Timeout = time.Duration(n) * time.Second
	}
	return nc, nil
}

// isNumber reports whether s is a phone number: an optional + and 1 to 32
// digits.
func isNumber(s string) bool {
	s = strings.TrimPrefix(s, "+")
	if s == "" || len(s) > 32 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// isToken reports whether s can be a SIP user name as given here.
func isToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}
