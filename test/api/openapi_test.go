package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/callstream/callstream/internal/servetest"
)

// conformance sends requests to a running gateway and holds every answer
// to the OpenAPI document the gateway serves: its status must be one the
// document lists for the route, and its body must match that status's
// schema. Requests that are meant to be valid are held to it too.
type conformance struct {
	t      *testing.T
	e      *servetest.Env
	router routers.Router
	seen   map[string]bool // "METHOD path status" checked
}

// newConformance fetches /openapi.json from the gateway (no token), checks
// that it is a valid OpenAPI 3 document, and routes by it.
func newConformance(t *testing.T, e *servetest.Env) *conformance {
	t.Helper()
	code, body := servetest.Get(t, e.URL("/openapi.json"), "")
	if code != 200 {
		t.Fatalf("GET /openapi.json: %d %s", code, body)
	}
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(body)
	if err != nil {
		t.Fatalf("/openapi.json does not load as OpenAPI: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("/openapi.json is not a valid OpenAPI document: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: e.URL("")}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("routing by /openapi.json: %v", err)
	}
	return &conformance{t: t, e: e, router: router, seen: map[string]bool{}}
}

// do sends a request (body JSON when v is not nil, or form when form is
// not empty) with tok, and returns its status and body after checking the
// answer against the document. validRequest says whether the request
// itself must conform.
func (c *conformance) do(method, path, tok string, v any, validRequest bool) (int, []byte) {
	c.t.Helper()
	var body []byte
	if v != nil {
		body, _ = json.Marshal(v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.e.URL(path), bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if v != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	route, params, err := c.router.FindRoute(req)
	if err != nil {
		c.t.Fatalf("%s %s is not a route of /openapi.json: %v", method, path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true, SkipSettingDefaults: true}}
	if validRequest {
		if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
			c.t.Fatalf("%s %s: the request does not match /openapi.json: %v", method, path, err)
		}
		req.Body = io.NopCloser(bytes.NewReader(body)) // the validator read it
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(got)), Options: in.Options}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		c.t.Fatalf("%s %s answered %d %s, which does not match /openapi.json: %v", method, path, resp.StatusCode, got, err)
	}
	c.seen[route.Method+" "+route.Path+" "+http.StatusText(resp.StatusCode)] = true
	return resp.StatusCode, got
}

// TestAnswersMatchOpenAPI: the document the gateway serves is a valid
// OpenAPI 3 document, and the answers of a real gateway to real calls —
// successes and every kind of error — are the ones it describes, body and
// status.
func TestAnswersMatchOpenAPI(t *testing.T) {
	e := startEnv(t)
	c := newConformance(t, e)
	caller, sid := loopCall(t, e, "15550007001")

	want := func(what string, code, wantCode int, body []byte) {
		t.Helper()
		if code != wantCode {
			t.Fatalf("%s: %d %s, want %d", what, code, body, wantCode)
		}
	}
	code, body := c.do("GET", "/node", "", nil, true)
	want("GET /node", code, 200, body)
	code, body = c.do("GET", "/calls", token, nil, true)
	want("GET /calls", code, 200, body)
	if !strings.Contains(string(body), sid) {
		t.Fatalf("GET /calls does not list %s: %s", sid, body)
	}
	code, body = c.do("GET", "/calls?scope=cluster", token, nil, true)
	want("GET /calls?scope=cluster", code, 200, body)
	code, body = c.do("GET", "/calls?scope=everywhere", token, nil, false)
	want("GET /calls?scope=everywhere", code, 400, body)
	code, body = c.do("GET", "/calls", "", nil, false)
	want("GET /calls without a token", code, 401, body)
	code, body = c.do("GET", "/calls/"+sid, token, nil, true)
	want("GET /calls/{sid}", code, 200, body)
	code, body = c.do("GET", "/calls/CA0123", token, nil, true)
	want("GET an unknown call", code, 404, body)

	code, body = c.do("POST", "/calls/"+sid+"/streams", token, map[string]string{"url": e.WS.URL("/fork"), "name": "tap"}, true)
	want("POST /calls/{sid}/streams", code, 201, body)
	code, body = c.do("POST", "/calls/"+sid+"/streams", token, map[string]string{"url": "http://not-a-socket"}, false)
	want("POST /calls/{sid}/streams with an http URL", code, 400, body)
	code, body = c.do("GET", "/calls/"+sid, token, nil, true)
	want("GET /calls/{sid} with a stream", code, 200, body)
	code, body = c.do("POST", "/calls/"+sid+"/streams/tap", token, map[string]string{"status": "stopped"}, true)
	want("POST /calls/{sid}/streams/{name} stopped", code, 200, body)
	code, body = c.do("POST", "/calls/"+sid+"/streams/nosuch", token, map[string]string{"status": "stopped"}, true)
	want("stop an unknown stream", code, 404, body)

	code, body = c.do("POST", "/calls/"+sid, token, map[string]string{"url": e.App.URL("/next")}, true)
	want("POST /calls/{sid} url", code, 200, body)
	code, body = c.do("POST", "/calls/"+sid, token, map[string]string{"flexml": "<Response><Pause></Response>"}, false)
	want("POST /calls/{sid} with a broken document", code, 400, body)
	code, body = c.do("POST", "/calls/"+sid, token, map[string]string{"status": "completed"}, true)
	want("POST /calls/{sid} status completed", code, 200, body)
	waitEnded(t, caller, "status completed")
	code, body = c.do("POST", "/calls/"+sid, token, map[string]string{"status": "completed"}, true)
	want("hang up an ended call", code, 409, body)

	code, body = c.do("POST", "/calls", token, map[string]string{"to": "sip:nobody@127.0.0.1:9", "url": e.App.URL("/next"), "timeout": "1"}, true)
	if code != 201 && code != 200 {
		t.Fatalf("POST /calls: %d %s", code, body)
	}
	code, body = c.do("POST", "/calls", token, map[string]string{"url": e.App.URL("/next")}, false)
	want("POST /calls without to", code, 400, body)
	code, body = c.do("POST", "/calls", token, map[string]string{"to": "sip:nobody@127.0.0.1:9"}, true)
	want("POST /calls without url on a FlexML gateway", code, 400, body)
	t.Logf("answers checked against /openapi.json: %d (route and status)", len(c.seen))
}
