package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/callstream/callstream/flexml"
)

// fakeBackend records what the API asked of it.
type fakeBackend struct {
	calls     map[string]Call
	ended     map[string]bool
	redirects []string
	docs      []*flexml.Document
	ends      []string
	streams   []StreamRequest
	stopped   []string
	placed    []NewCall
}

func newFake() *fakeBackend {
	return &fakeBackend{calls: map[string]Call{"CA1": {Sid: "CA1", State: "in-progress", Streams: []Stream{}}}, ended: map[string]bool{"CA0": true}}
}

func (f *fakeBackend) find(sid string) (Call, error) {
	if f.ended[sid] {
		return Call{}, Conflict("the call has ended")
	}
	c, ok := f.calls[sid]
	if !ok {
		return Call{}, NotFound("no live call has this sid")
	}
	return c, nil
}

func (f *fakeBackend) Calls() []Call {
	var out []Call
	for _, c := range f.calls {
		out = append(out, c)
	}
	return out
}
func (f *fakeBackend) Call(sid string) (Call, error) { return f.find(sid) }
func (f *fakeBackend) Place(nc NewCall) (Call, error) {
	f.placed = append(f.placed, nc)
	return Call{Sid: "CA2", State: "ringing", To: nc.To}, nil
}
func (f *fakeBackend) Redirect(sid, url, method string) error {
	if _, err := f.find(sid); err != nil {
		return err
	}
	f.redirects = append(f.redirects, method+" "+url)
	return nil
}
func (f *fakeBackend) RunDocument(sid string, doc *flexml.Document) error {
	if _, err := f.find(sid); err != nil {
		return err
	}
	f.docs = append(f.docs, doc)
	return nil
}
func (f *fakeBackend) End(sid, status string) error {
	if _, err := f.find(sid); err != nil {
		return err
	}
	f.ends = append(f.ends, status)
	return nil
}
func (f *fakeBackend) StartStream(sid string, s StreamRequest) (Stream, error) {
	if _, err := f.find(sid); err != nil {
		return Stream{}, err
	}
	f.streams = append(f.streams, s)
	return Stream{Sid: "MZ1", Name: s.Name}, nil
}
func (f *fakeBackend) StopStream(sid, name string) error {
	if _, err := f.find(sid); err != nil {
		return err
	}
	if name != "fork" {
		return NotFound("no live stream of this call has this name")
	}
	f.stopped = append(f.stopped, name)
	return nil
}

// serve mounts the API on a mux (no token guard) and runs one request.
func serve(t *testing.T, b Backend, method, path, contentType, body string) (int, []byte) {
	t.Helper()
	mux := http.NewServeMux()
	New(b, nil).Register(mux.Handle, mux.Handle)
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, req)
	return w.Code, w.Body.Bytes()
}

// errorsOf decodes an error answer, failing unless it has the errors shape.
func errorsOf(t *testing.T, body []byte) []errorEntry {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal(body, &e); err != nil || len(e.Errors) == 0 {
		t.Fatalf("not an errors body: %s (%v)", body, err)
	}
	for _, x := range e.Errors {
		if x.Message == "" {
			t.Fatalf("an error without a message: %s", body)
		}
	}
	return e.Errors
}

func TestUpdateCallParsesJSONAndForms(t *testing.T) {
	f := newFake()
	code, body := serve(t, f, "POST", "/calls/CA1", "application/json", `{"url":"http://app.example/next","method":"get"}`)
	if code != 200 {
		t.Fatalf("json url: %d %s", code, body)
	}
	// Twilio's client sends a form with its own names.
	code, body = serve(t, f, "POST", "/calls/CA1", "application/x-www-form-urlencoded", "Url=https%3A%2F%2Fapp.example%2Fb")
	if code != 200 {
		t.Fatalf("form url: %d %s", code, body)
	}
	want := []string{"GET http://app.example/next", " https://app.example/b"}
	if fmt.Sprint(f.redirects) != fmt.Sprint(want) {
		t.Fatalf("redirects %q, want %q", f.redirects, want)
	}
	code, body = serve(t, f, "POST", "/calls/CA1", "application/x-www-form-urlencoded", "Twiml=%3CResponse%3E%3CHangup%2F%3E%3C%2FResponse%3E")
	if code != 200 || len(f.docs) != 1 || len(f.docs[0].Verbs) != 1 {
		t.Fatalf("inline twiml: %d %s, docs %d", code, body, len(f.docs))
	}
	code, body = serve(t, f, "POST", "/calls/CA1", "application/json", `{"Status":"completed"}`)
	if code != 200 || fmt.Sprint(f.ends) != "[completed]" {
		t.Fatalf("status: %d %s, ends %q", code, body, f.ends)
	}
}

func TestUpdateCallRefusals(t *testing.T) {
	cases := []struct {
		name, ct, body string
		code           int
		field, msg     string
	}{
		{"nothing", "application/json", `{}`, 400, "", "exactly one of"},
		{"two actions", "application/json", `{"url":"http://a.example/","status":"completed"}`, 400, "", "exactly one of"},
		{"bad status", "application/json", `{"status":"done"}`, 400, "status", "completed"},
		{"relative url", "application/json", `{"url":"/next"}`, 400, "url", "absolute"},
		{"bad method", "application/json", `{"url":"http://a.example/","method":"PUT"}`, 400, "method", "GET or POST"},
		{"method alone", "application/json", `{"method":"GET","status":"completed"}`, 400, "method", "url only"},
		{"unknown field", "application/json", `{"url":"http://a.example/","color":"red"}`, 400, "color", "unknown parameter"},
		{"not a string", "application/json", `{"url":5}`, 400, "url", "string"},
		{"not an object", "application/json", `[1]`, 400, "", "JSON object"},
		{"twice in a form", "application/x-www-form-urlencoded", "Url=http%3A%2F%2Fa.example%2F&Url=http%3A%2F%2Fb.example%2F", 400, "Url", "more than once"},
		{"content type", "text/plain", "url=x", 400, "", "Content-Type"},
		{"too large", "application/json", `{"flexml":"` + strings.Repeat("a", MaxBody) + `"}`, 413, "", "over"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFake()
			code, body := serve(t, f, "POST", "/calls/CA1", c.ct, c.body)
			if code != c.code {
				t.Fatalf("status %d, want %d: %s", code, c.code, body)
			}
			e := errorsOf(t, body)
			if e[0].Field != c.field || !strings.Contains(e[0].Message, c.msg) {
				t.Fatalf("error %+v, want field %q and a message with %q", e[0], c.field, c.msg)
			}
			if len(f.redirects)+len(f.docs)+len(f.ends) != 0 {
				t.Fatal("a refused update reached the backend")
			}
		})
	}
}

func TestInlineDocumentErrorsNameLineAndColumn(t *testing.T) {
	f := newFake()
	doc := "<Response>\n  <Play>a.wav</Play>\n  <Bogus/>\n</Response>"
	b, _ := json.Marshal(map[string]string{"flexml": doc})
	code, body := serve(t, f, "POST", "/calls/CA1", "application/json", string(b))
	if code != 400 {
		t.Fatalf("status %d: %s", code, body)
	}
	e := errorsOf(t, body)
	if e[0].Field != "flexml" || !strings.HasPrefix(e[0].Message, "flexml:3:3:") {
		t.Fatalf("error %+v: want field flexml and a message starting flexml:3:3:", e[0])
	}
	if len(f.docs) != 0 {
		t.Fatal("an invalid document reached the backend")
	}
}

func TestStatusCodesOfTheBackend(t *testing.T) {
	f := newFake()
	for _, c := range []struct {
		method, path, body string
		code               int
	}{
		{"GET", "/calls/CA9", "", 404},
		{"GET", "/calls/CA0", "", 409},
		{"POST", "/calls/CA0", `{"status":"completed"}`, 409},
		{"POST", "/calls/CA9/streams", `{"url":"ws://a.example/s"}`, 404},
		{"POST", "/calls/CA1/streams/other", `{"status":"stopped"}`, 404},
	} {
		code, body := serve(t, f, c.method, c.path, "application/json", c.body)
		if code != c.code {
			t.Errorf("%s %s: %d, want %d: %s", c.method, c.path, code, c.code, body)
			continue
		}
		errorsOf(t, body)
	}
}

func TestStreamsParse(t *testing.T) {
	f := newFake()
	code, body := serve(t, f, "POST", "/calls/CA1/streams", "application/x-www-form-urlencoded",
		"Url=wss%3A%2F%2Fapp.example%2Fs&Name=fork&Track=both_tracks&StatusCallback=https%3A%2F%2Fapp.example%2Fcb")
	if code != 201 {
		t.Fatalf("start: %d %s", code, body)
	}
	want := StreamRequest{URL: "wss://app.example/s", Name: "fork", Track: "both", StatusCallback: "https://app.example/cb"}
	if len(f.streams) != 1 || f.streams[0] != want {
		t.Fatalf("stream %+v, want %+v", f.streams, want)
	}
	var got struct{ Sid, Name, CallSid string }
	if err := json.Unmarshal(body, &got); err != nil || got.Sid != "MZ1" || got.Name != "fork" {
		t.Fatalf("answer %s (%v)", body, err)
	}
	for _, c := range []struct{ body, field string }{
		{`{}`, "url"},
		{`{"url":"http://app.example/s"}`, "url"},
		{`{"url":"ws://app.example/s","track":"left"}`, "track"},
		{`{"url":"ws://app.example/s","name":"a/b"}`, "name"},
		{`{"url":"ws://app.example/s","status_callback":"ftp://x"}`, "status_callback"},
	} {
		code, body := serve(t, f, "POST", "/calls/CA1/streams", "application/json", c.body)
		if code != 400 || errorsOf(t, body)[0].Field != c.field {
			t.Errorf("%s: %d %s, want 400 naming %s", c.body, code, body, c.field)
		}
	}
	code, body = serve(t, f, "POST", "/calls/CA1/streams/fork", "application/json", `{"status":"running"}`)
	if code != 400 || errorsOf(t, body)[0].Field != "status" {
		t.Fatalf("stop with a bad status: %d %s", code, body)
	}
	code, body = serve(t, f, "POST", "/calls/CA1/streams/fork", "application/x-www-form-urlencoded", "Status=stopped")
	if code != 200 || fmt.Sprint(f.stopped) != "[fork]" {
		t.Fatalf("stop: %d %s, stopped %q", code, body, f.stopped)
	}
}

// TestOpenAPIMatchesRoutes: the document describes every route the API
// registers, with its method and path, and nothing else.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Info    struct{ Title, Version string }       `json:"info"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.0.") || doc.Info.Title == "" || doc.Info.Version == "" || len(doc.Paths) == 0 {
		t.Fatalf("openapi.json lacks required fields: openapi %q, info %+v, %d paths", doc.OpenAPI, doc.Info, len(doc.Paths))
	}
	var registered []string
	mux := func(pattern string, _ http.Handler) { registered = append(registered, pattern) }
	New(newFake(), nil).Register(mux, mux)
	var described []string
	for path, ops := range doc.Paths {
		for m, op := range ops {
			if m == "parameters" {
				continue
			}
			described = append(described, strings.ToUpper(m)+" "+path)
			var o struct {
				Responses map[string]json.RawMessage `json:"responses"`
			}
			if err := json.Unmarshal(op, &o); err != nil || len(o.Responses) == 0 {
				t.Errorf("%s %s: no responses", m, path)
			}
		}
	}
	sort.Strings(registered)
	sort.Strings(described)
	if fmt.Sprint(registered) != fmt.Sprint(described) {
		t.Fatalf("routes registered:\n  %q\ndescribed:\n  %q", registered, described)
	}
}

func TestPlaceCallParses(t *testing.T) {
	f := newFake()
	code, body := serve(t, f, "POST", "/calls", "application/x-www-form-urlencoded",
		"To=sip%3Abob%40127.0.0.1%3A5080&From=%2B15551230000&Url=http%3A%2F%2Fapp.example%2Fout&Method=GET&Timeout=20")
	if code != 201 {
		t.Fatalf("place: %d %s", code, body)
	}
	want := NewCall{To: "sip:bob@127.0.0.1:5080", From: "+15551230000", URL: "http://app.example/out", Method: "GET", Timeout: 20e9}
	if len(f.placed) != 1 || f.placed[0] != want {
		t.Fatalf("placed %+v, want %+v", f.placed, want)
	}
	code, _ = serve(t, f, "POST", "/calls", "application/json", `{"to":"+4930123","url":"https://app.example/x"}`)
	if code != 201 || f.placed[1].Method != "POST" || f.placed[1].Timeout != DefaultRingTimeout {
		t.Fatalf("defaults: %d %+v", code, f.placed[1])
	}
	for _, c := range []struct{ body, field string }{
		{`{"url":"http://a.example/"}`, "to"},
		{`{"to":"bob","url":"http://a.example/"}`, "to"},
		{`{"to":"sip:host-only","url":"http://a.example/"}`, "to"},
		{`{"to":"123","url":"/rel"}`, "url"},
		{`{"to":"123","url":"http://a.example/","from":"a b"}`, "from"},
		{`{"to":"123","url":"http://a.example/","method":"PUT"}`, "method"},
		{`{"to":"123","url":"http://a.example/","timeout":"0"}`, "timeout"},
		{`{"to":"123","url":"http://a.example/","timeout":"601"}`, "timeout"},
		{`{"to":"123","url":"http://a.example/","status_callback":"x"}`, "status_callback"},
	} {
		code, body := serve(t, f, "POST", "/calls", "application/json", c.body)
		if code != 400 || errorsOf(t, body)[0].Field != c.field {
			t.Errorf("%s: %d %s, want 400 naming %s", c.body, code, body, c.field)
		}
	}
	if len(f.placed) != 2 {
		t.Fatalf("refused calls were placed: %d", len(f.placed))
	}
	// Without url the backend decides (a scenario gateway runs its
	// scenario; a FlexML one refuses).
	if code, body := serve(t, f, "POST", "/calls", "application/json", `{"to":"123"}`); code != 201 || f.placed[2].URL != "" {
		t.Fatalf("without url: %d %s", code, body)
	}
}
