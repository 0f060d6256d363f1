package fleet

import (
	"fmt"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/gatewaytest"
	"github.com/callstream/callstream/internal/nodeid"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipcaller"
)

// With Kamailio's WEIGHTED variant a new call goes to the node with the
// fewest calls in progress, not to the next in turn: after a call on each
// node and the end of the second one, the third call goes to the node of
// the second again (round-robin would send it to the first).
func TestWeightedSendsTheNextCallToTheLessLoadedNode(t *testing.T) {
	f := startFleet(t, fleetOptions{Weighted: true}, func(app *gatewaytest.App) {
		for i := range 3 {
			app.DocTo("/app", number(200+i), `<Response><Pause length="60"/></Response>`)
		}
	})
	dial := func(i int) (*sipcaller.Call, string) {
		t.Helper()
		c, err := f.caller.Dial(servetest.Context(t, 20*time.Second), sipcaller.Config{Target: f.proxy.Addr(),
			From: "15551112222", To: number(200 + i), NoRecord: true})
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		t.Cleanup(func() { c.Close() })
		sid, err := callSid(f.app, number(200+i))
		if err != nil {
			t.Fatal(err)
		}
		node, ok := nodeid.NodeOf(sid, f.ids)
		if !ok {
			t.Fatalf("call %d: CallSid %q carries no node of the fleet", i, sid)
		}
		return c, node
	}
	active := func(node string, want float64) {
		t.Helper()
		servetest.Eventually(t, 10*time.Second, fmt.Sprintf("node %s: callstream_calls_active %v", node, want), func() bool {
			return f.nodes[node].Metrics(t).Get("callstream_calls_active") == want
		})
	}
	_, first := dial(0)
	second, node2 := dial(1)
	if node2 == first {
		t.Fatalf("the second call went to node %s, which holds the first: want the other node", first)
	}
	if err := second.Hangup(servetest.Context(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	active(node2, 0)
	active(first, 1)
	_, node3 := dial(2)
	if node3 != node2 {
		t.Fatalf("the third call went to node %s (1 call in progress), want node %s (none)", node3, node2)
	}
	active(node2, 1)
	active(first, 1)
}
