package fleet

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/api"
	"github.com/callstream/callstream/internal/gatewaytest"
	"github.com/callstream/callstream/internal/nodeid"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipcaller"
	"github.com/callstream/callstream/internal/wsapp"
)

// apiCalls is how many calls the API test may place through Kamailio to
// have one up on each node (round-robin: two do).
const apiCalls = 4

// apiDoc keeps a call up, streaming to the WebSocket app, until it is
// hung up.
const apiDoc = `<Response><Start><Stream url="{{.WS}}/held/%d"/></Start><Pause length="60"/></Response>`

// With a call up on each node, API requests for either call succeed
// through either node: reading a call of the other node, the cluster-wide
// listing, starting a stream on a call of the other node (a second
// WebSocket app gets its frames), and hanging up a call of the other node
// (its caller gets a BYE).
func TestAPIThroughEitherNode(t *testing.T) {
	f := startFleet(t, fleetOptions{}, func(app *gatewaytest.App) {
		for i := range apiCalls {
			app.DocTo("/app", number(100+i), fmt.Sprintf(apiDoc, i))
		}
	})
	// Calls until each node holds one.
	held := map[string]*sipcaller.Call{} // by node
	sids := map[string]string{}
	for i := 0; i < apiCalls && len(held) < len(f.ids); i++ {
		c, err := f.caller.Dial(servetest.Context(t, 20*time.Second), sipcaller.Config{Target: f.proxy.Addr(),
			From: "15551112222", To: number(100 + i), NoRecord: true})
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		t.Cleanup(func() { c.Close() })
		servetest.ConnTo(t, f.ws, fmt.Sprintf("/held/%d", i))
		sid, err := callSid(f.app, number(100+i))
		if err != nil {
			t.Fatal(err)
		}
		node, ok := nodeid.NodeOf(sid, f.ids)
		if !ok {
			t.Fatalf("call %d: CallSid %q carries no node of the fleet", i, sid)
		}
		if _, dup := held[node]; !dup {
			held[node], sids[node] = c, sid
		}
	}
	if len(held) != len(f.ids) {
		t.Fatalf("%d calls through Kamailio reached nodes %v only", apiCalls, sids)
	}
	other := map[string]string{"a": "b", "b": "a"}

	// A call of each node, read through the other.
	for _, id := range f.ids {
		through := f.nodes[other[id]]
		code, body := servetest.Get(t, through.URL("/calls/"+sids[id]), fleetToken)
		var c api.Call
		if err := json.Unmarshal(body, &c); code != 200 || err != nil || c.Sid != sids[id] || c.Node != id || c.State != "in-progress" {
			t.Fatalf("GET /calls/<node %s's call> through node %s: %d %s", id, other[id], code, body)
		}
	}
	// Either node lists both calls.
	for _, id := range f.ids {
		code, body := servetest.Get(t, f.nodes[id].URL("/calls?scope=cluster"), fleetToken)
		var list struct {
			Calls       []api.Call        `json:"calls"`
			Unreachable []api.Unreachable `json:"unreachable"`
		}
		if err := json.Unmarshal(body, &list); code != 200 || err != nil || len(list.Unreachable) != 0 {
			t.Fatalf("GET /calls?scope=cluster on node %s: %d %s", id, code, body)
		}
		listed := map[string]string{}
		for _, c := range list.Calls {
			listed[c.Sid] = c.Node
		}
		for _, n := range f.ids {
			if listed[sids[n]] != n {
				t.Fatalf("GET /calls?scope=cluster on node %s: node %s's call %s missing (listed %v)", id, n, sids[n], listed)
			}
		}
	}

	// A stream started on node a's call through node b reaches a second
	// WebSocket app with the call's audio frames.
	ws2, err := wsapp.Listen(wsapp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws2.Close() })
	form := "Url=" + ws2.URL("/api-stream") + "&Name=fleet"
	code, body := servetest.Post(t, f.nodes["b"].URL("/calls/"+sids["a"]+"/streams"), fleetToken, "application/x-www-form-urlencoded", form)
	if code != 201 || !strings.Contains(string(body), `"name":"fleet"`) {
		t.Fatalf("POST /calls/<node a's call>/streams through node b: %d %s", code, body)
	}
	conn := servetest.ConnTo(t, ws2, "/api-stream")
	if err := held["a"].SendAudio(servetest.Context(t, 10*time.Second), silenceFrames(25)); err != nil {
		t.Fatal(err)
	}
	servetest.WaitFrames(t, conn, 10)

	// Node b's call, hung up through node a: its caller gets a BYE.
	code, body = servetest.Post(t, f.nodes["a"].URL("/calls/"+sids["b"]), fleetToken, "application/x-www-form-urlencoded", "Status=completed")
	if code != 200 || !strings.Contains(string(body), `"completed"`) {
		t.Fatalf("POST /calls/<node b's call> status=completed through node a: %d %s", code, body)
	}
	select {
	case <-held["b"].Ended():
	case <-time.After(10 * time.Second):
		t.Fatal("node b's call still up 10 s after it was hung up through node a")
	}
	// Node a's call is still up.
	select {
	case <-held["a"].Ended():
		t.Fatal("node a's call ended too")
	default:
	}
	// The changes were made by the nodes that hold the calls, not by the
	// nodes that passed the requests on.
	f.nodes["b"].WaitLog(t, "INFO", "api: call updated", map[string]string{"call_sid": sids["b"]})
	f.nodes["a"].WaitLog(t, "INFO", "api: stream started", map[string]string{"call_sid": sids["a"]})
	if rec := f.nodes["b"].Logs.Find("INFO", "api: stream started", nil); rec != nil {
		t.Fatalf("node b started a stream itself: %v", rec)
	}
}

// silenceFrames is n frames of µ-law silence.
func silenceFrames(n int) []byte {
	return []byte(strings.Repeat("\xff", 160*n))
}
