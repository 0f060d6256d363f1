package cluster

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callstream/callstream/flexml"
	"github.com/callstream/callstream/internal/api"
	"github.com/callstream/callstream/internal/logtest"
	"github.com/callstream/callstream/internal/nodeid"
)

// testToken is the API token the test fleet shares.
const testToken = "fleet-token-0123456789"

// nodeBackend is one test node's calls.
type nodeBackend struct {
	mu    sync.Mutex
	calls map[string]api.Call
	ended []string
}

func (b *nodeBackend) Calls() []api.Call {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []api.Call
	for _, c := range b.calls {
		out = append(out, c)
	}
	return out
}

func (b *nodeBackend) Call(sid string) (api.Call, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.calls[sid]
	if !ok {
		return api.Call{}, api.NotFound("no live call has this sid")
	}
	return c, nil
}

func (b *nodeBackend) End(sid, status string) error {
	if _, err := b.Call(sid); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ended = append(b.ended, sid+" "+status)
	delete(b.calls, sid)
	return nil
}

func (b *nodeBackend) Place(api.NewCall) (api.Call, error) {
	return api.Call{}, api.Conflict("not in this test")
}
func (b *nodeBackend) Redirect(sid, _, _ string) error { _, err := b.Call(sid); return err }
func (b *nodeBackend) RunDocument(sid string, _ *flexml.Document) error {
	_, err := b.Call(sid)
	return err
}
func (b *nodeBackend) StartStream(sid string, s api.StreamRequest) (api.Stream, error) {
	if _, err := b.Call(sid); err != nil {
		return api.Stream{}, err
	}
	return api.Stream{Sid: "MZ1", Name: s.Name}, nil
}
func (b *nodeBackend) StopStream(sid, _ string) error { _, err := b.Call(sid); return err }

// testNode is one node of a test fleet: a real HTTP server with the API
// behind a bearer token, on its Cluster.
type testNode struct {
	id      string
	srv     *httptest.Server
	backend *nodeBackend
	sid     string // a live call of this node
	logs    *logtest.Buffer

	mu   sync.Mutex
	seen []*http.Request // requests that reached the node
	h    http.Handler
}

// startNodes starts a node per id; peers(node) gives each its --peers.
func startNodes(t *testing.T, ids []string, peers func(n *testNode, all map[string]*testNode) string) map[string]*testNode {
	t.Helper()
	all := map[string]*testNode{}
	for _, id := range ids {
		n := &testNode{id: id, backend: &nodeBackend{calls: map[string]api.Call{}}, sid: nodeid.NewTwilioSid(id)}
		n.backend.calls[n.sid] = api.Call{Sid: n.sid, Node: id, State: "in-progress", StartTime: time.Now(), Streams: []api.Stream{}}
		n.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.mu.Lock()
			n.seen = append(n.seen, r.Clone(r.Context()))
			h := n.h
			n.mu.Unlock()
			h.ServeHTTP(w, r)
		}))
		t.Cleanup(n.srv.Close)
		all[id] = n
	}
	for _, n := range all {
		var log *slog.Logger
		log, n.logs = logtest.JSON(slog.LevelDebug)
		c, err := New(n.id, peers(n, all), log)
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		guard := func(pattern string, h http.Handler) {
			mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer "+testToken {
					http.Error(w, "no token", http.StatusUnauthorized)
					return
				}
				h.ServeHTTP(w, r)
			}))
		}
		var f api.Fleet
		if c != nil {
			f = c
		}
		api.New(n.backend, nil).UseFleet(n.id, f).Register(guard, mux.Handle)
		n.mu.Lock()
		n.h = mux
		n.mu.Unlock()
	}
	return all
}

// listPeers gives every node the whole fleet as id=URL entries, itself
// included.
func listPeers(_ *testNode, all map[string]*testNode) string {
	var e []string
	for id, n := range all {
		e = append(e, id+"="+n.srv.URL)
	}
	return strings.Join(e, ",")
}

// requests returns how many requests reached n.
func (n *testNode) requests() []*http.Request {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]*http.Request(nil), n.seen...)
}

// do sends a request to n with the fleet's token.
func do(t *testing.T, n *testNode, method, path, form string, header ...string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, n.srv.URL+path, strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	if form != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// errorMessageOf returns the first message of an errors body.
func errorMessageOf(t *testing.T, body []byte) string {
	t.Helper()
	var e struct {
		Errors []struct{ Message string } `json:"errors"`
	}
	if err := json.Unmarshal(body, &e); err != nil || len(e.Errors) == 0 {
		t.Fatalf("not an errors body: %s", body)
	}
	return e.Errors[0].Message
}

// A request for a call of another node is served by that node, with the
// caller's token and the hop header; the answer comes back as it is.
func TestForwardsToTheCallsNode(t *testing.T) {
	nodes := startNodes(t, []string{"a", "b"}, listPeers)
	a, b := nodes["a"], nodes["b"]

	code, body := do(t, a, "GET", "/calls/"+b.sid, "")
	var c api.Call
	if err := json.Unmarshal(body, &c); code != 200 || err != nil || c.Sid != b.sid || c.Node != "b" {
		t.Fatalf("GET a/calls/<b's call>: %d %s", code, body)
	}
	reqs := b.requests()
	if len(reqs) != 1 || reqs[0].Header.Get(api.ForwardedByHeader) != "a" || reqs[0].Header.Get("Authorization") != "Bearer "+testToken {
		t.Fatalf("node b got %d requests, the first with headers %v", len(reqs), reqs[0].Header)
	}
	// Through b, a call of a: b forwards.
	if code, body := do(t, b, "GET", "/calls/"+a.sid, ""); code != 200 || !strings.Contains(string(body), `"node":"a"`) {
		t.Fatalf("GET b/calls/<a's call>: %d %s", code, body)
	}
	// A change, with its form body.
	if code, body := do(t, a, "POST", "/calls/"+b.sid, "Status=completed"); code != 200 || !strings.Contains(string(body), `"completed"`) {
		t.Fatalf("POST a/calls/<b's call> status=completed: %d %s", code, body)
	}
	if got := b.backend.ended; len(got) != 1 || got[0] != b.sid+" completed" {
		t.Fatalf("node b ended %q, want its call completed", got)
	}
	if len(a.backend.ended) != 0 {
		t.Fatalf("node a ended %q, want nothing", a.backend.ended)
	}
	// The status of b's answer comes back: its call is gone now.
	if code, body := do(t, a, "POST", "/calls/"+b.sid+"/streams", "Url=ws://127.0.0.1:9/x"); code != 404 {
		t.Fatalf("POST a/calls/<b's ended call>/streams: %d %s, want b's 404", code, body)
	}
	// A call of this node is served here.
	before := len(b.requests())
	if code, _ := do(t, a, "GET", "/calls/"+a.sid, ""); code != 200 || len(b.requests()) != before {
		t.Fatalf("GET a/calls/<a's call>: %d, node b asked %d times", code, len(b.requests())-before)
	}
	if rec := a.logs.Find("DEBUG", "api: forwarded", map[string]string{"call_sid": b.sid, "node": "b"}); rec == nil {
		t.Fatalf("no DEBUG line for the forward in node a's log:\n%s", a.logs)
	}
}

// A body over api.MaxBody is refused (413) by the node that received it:
// the node holding the call never sees it, and both serve the next request.
func TestForwardedBodyBound(t *testing.T) {
	nodes := startNodes(t, []string{"a", "b"}, listPeers)
	a, b := nodes["a"], nodes["b"]
	big := "Url=http://app.example/" + strings.Repeat("x", api.MaxBody)
	if code, body := do(t, a, "POST", "/calls/"+b.sid, big); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("a body of %d bytes for b's call through a: %d %s, want 413", len(big), code, body)
	}
	if n := len(b.requests()); n != 0 {
		t.Fatalf("node b got %d requests, want none", n)
	}
	if code, body := do(t, a, "GET", "/calls/"+b.sid, ""); code != 200 || !strings.Contains(string(body), `"node":"b"`) {
		t.Fatalf("the next request through a: %d %s", code, body)
	}
}

// A request that was forwarded once is answered by the node it reached,
// never passed on again: no loops.
func TestForwardedRequestIsNotForwardedAgain(t *testing.T) {
	nodes := startNodes(t, []string{"a", "b"}, listPeers)
	a, b := nodes["a"], nodes["b"]
	code, body := do(t, a, "GET", "/calls/"+b.sid, "", api.ForwardedByHeader, "c")
	if code != 404 || !strings.Contains(errorMessageOf(t, body), "no live call") {
		t.Fatalf("a forwarded request for b's call at a: %d %s, want a's own 404", code, body)
	}
	if n := len(b.requests()); n != 0 {
		t.Fatalf("node b got %d requests, want none", n)
	}
}

// A CallSid whose tag is no node's is 404, saying so.
func TestSidOfNoNodeIs404(t *testing.T) {
	nodes := startNodes(t, []string{"a", "b"}, listPeers)
	sid := nodeid.NewUUIDSid("elsewhere")
	code, body := do(t, nodes["a"], "GET", "/calls/"+sid, "")
	msg := errorMessageOf(t, body)
	if code != 404 || !strings.Contains(msg, "belongs to no node of this fleet") || !strings.Contains(msg, nodeid.Tag("elsewhere")) {
		t.Fatalf("GET /calls/<sid of no node>: %d %q", code, msg)
	}
	if n := len(nodes["b"].requests()); n != 0 {
		t.Fatalf("node b got %d requests, want none", n)
	}
}

// A node that does not answer makes a request for its call 502, naming
// the node and its URL; the log says so at WARN with the call's sid.
func TestPeerDownIs502(t *testing.T) {
	nodes := startNodes(t, []string{"a", "b"}, listPeers)
	a, b := nodes["a"], nodes["b"]
	b.srv.Close()
	code, body := do(t, a, "POST", "/calls/"+b.sid+"/streams", "Url=ws://127.0.0.1:9/x")
	msg := errorMessageOf(t, body)
	if code != 502 || !strings.HasPrefix(msg, fmt.Sprintf("node b (%s) did not answer", b.srv.URL)) {
		t.Fatalf("a request for a call of a node that is down: %d %q", code, msg)
	}
	if rec := a.logs.Find("WARN", "api: forwarding failed", map[string]string{"call_sid": b.sid, "node": "b"}); rec == nil {
		t.Fatalf("no WARN line for the failed forward in node a's log:\n%s", a.logs)
	}
}

// A cluster-wide listing holds every node's calls with their nodes, and
// lists a node that is down as unreachable instead of failing.
func TestClusterListingWithANodeDown(t *testing.T) {
	nodes := startNodes(t, []string{"a", "b", "c"}, listPeers)
	nodes["c"].srv.Close()
	var list struct {
		Calls       []api.Call        `json:"calls"`
		Unreachable []api.Unreachable `json:"unreachable"`
	}
	code, body := do(t, nodes["a"], "GET", "/calls?scope=cluster", "")
	if err := json.Unmarshal(body, &list); code != 200 || err != nil {
		t.Fatalf("GET /calls?scope=cluster: %d %s", code, body)
	}
	got := map[string]string{}
	for _, c := range list.Calls {
		got[c.Sid] = c.Node
	}
	if len(got) != 2 || got[nodes["a"].sid] != "a" || got[nodes["b"].sid] != "b" {
		t.Fatalf("listed %v, want a's and b's calls", got)
	}
	if len(list.Unreachable) != 1 || list.Unreachable[0].Node != "c" || !strings.Contains(list.Unreachable[0].Message, "did not answer") {
		t.Fatalf("unreachable %+v, want node c", list.Unreachable)
	}
	// Every node answered: an empty unreachable.
	if code, body := do(t, nodes["b"], "GET", "/calls?scope=cluster", ""); code != 200 || !strings.Contains(string(body), `"unreachable":[{"node":"c"`) {
		t.Fatalf("GET /calls?scope=cluster on b: %d %s", code, body)
	}
	// This node's scope: its calls only, no peer asked.
	before := len(nodes["b"].requests())
	code, body = do(t, nodes["a"], "GET", "/calls", "")
	if code != 200 || strings.Contains(string(body), nodes["b"].sid) || strings.Contains(string(body), "unreachable") || len(nodes["b"].requests()) != before {
		t.Fatalf("GET /calls: %d %s", code, body)
	}
	if code, body := do(t, nodes["a"], "GET", "/calls?scope=world", ""); code != 400 || !strings.Contains(string(body), `"scope"`) {
		t.Fatalf("GET /calls?scope=world: %d %s", code, body)
	}
}

// With a DNS name, the nodes are its addresses and their ids come from
// GET /node.
func TestDNSNameFindsTheNodes(t *testing.T) {
	nodes := startNodes(t, []string{"a", "b"}, func(n *testNode, all map[string]*testNode) string {
		if n.id == "a" {
			u, _ := url.Parse(all["b"].srv.URL)
			return "dns:localhost:" + u.Port()
		}
		return ""
	})
	a, b := nodes["a"], nodes["b"]
	code, body := do(t, a, "GET", "/calls/"+b.sid, "")
	if code != 200 || !strings.Contains(string(body), `"node":"b"`) {
		t.Fatalf("GET a/calls/<b's call> with dns:localhost: %d %s", code, body)
	}
	var asked bool
	for _, r := range b.requests() {
		asked = asked || r.URL.Path == api.NodePath
	}
	if !asked {
		t.Fatal("node b was never asked its id")
	}
}

// --peers is checked at start-up with errors that name the problem.
func TestParseRefusals(t *testing.T) {
	// Two ids with one tag.
	seen := map[string]string{}
	var x, y string
	for i := 0; x == ""; i++ {
		id := fmt.Sprintf("n%d", i)
		if o, ok := seen[nodeid.Tag(id)]; ok {
			x, y = o, id
		}
		seen[nodeid.Tag(id)] = id
	}
	for spec, want := range map[string]string{
		x + "=http://10.0.0.2:8080," + y + "=http://10.0.0.3:8080": fmt.Sprintf("%q and %q share", x, y),
		"b=http://10.0.0.2:8080,b=http://10.0.0.3:8080":            `"b" is given twice`,
		"b=10.0.0.2:8080":        "want http:// or https://",
		"b":                      "want id=URL",
		"B=http://10.0.0.2:8080": `node id "B"`,
		"b=http://10.0.0.2:8080,,c=http://10.0.0.3:8080": "entry 2 is empty",
		"b=http://u:p@10.0.0.2:8080":                     "holds credentials",
		"b=http://10.0.0.2:8080?x=1":                     "no query",
		"dns:callstream":                                 "want dns:NAME:PORT",
		"dns:callstream:http":                            `port "http"`,
		"b=http://10.0.0.2:8080,dns:callstream:8080":     "a DNS name is the whole fleet",
	} {
		if _, err := New("a", spec, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("--peers %s: %v, want an error with %q", spec, err, want)
		}
	}
	peers, err := Parse("a", "a=http://10.0.0.1:8080, b=http://10.0.0.2:8080/")
	if err != nil || len(peers) != 1 || peers[0] != (Peer{ID: "b", URL: "http://10.0.0.2:8080"}) {
		t.Fatalf("Parse: %+v %v, want node b alone (a is this node)", peers, err)
	}
	if c, err := New("a", "", nil); c != nil || err != nil {
		t.Fatalf("New with no peers: %v %v, want nil, nil", c, err)
	}
}
