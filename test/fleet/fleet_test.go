package fleet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/gatewaytest"
	"github.com/callstream/callstream/internal/kamailio"
	"github.com/callstream/callstream/internal/nodeid"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipcaller"
	"github.com/callstream/callstream/internal/wsapp"
)

// Figures of the fleet test.
const (
	fleetCalls  = 40 // calls placed through Kamailio
	atOnce      = 4  // calls in progress at a time
	drainAfter  = 24 // calls finished before node b is drained
	minPerNode  = 10 // calls each node must take
	speechBytes = 16000
)

// fleetDoc forks the call's audio to the WebSocket app at a path of its
// own and keeps the call up until the caller hangs up.
const fleetDoc = `<Response><Start><Stream url="{{.WS}}/s/%d"/></Start><Pause length="30"/></Response>`

// callResult is how one call through Kamailio went.
type callResult struct {
	index       int
	sid         string
	node        string // from the CallSid's tag
	afterDrain  bool   // dialled once node b had begun to drain
	err         error
	mediaFrames int
}

// Forty calls through Kamailio to two nodes, four at a time: both nodes
// take calls, every stream carries the caller's audio intact, and a node
// drained mid-run finishes its calls while every new call goes to the
// other one; no call fails.
func TestKamailioSpreadsCallsAndDrainsANode(t *testing.T) {
	f := startFleet(t, fleetOptions{}, func(app *gatewaytest.App) {
		for i := range fleetCalls {
			app.DocTo("/app", number(i), fmt.Sprintf(fleetDoc, i))
		}
	})
	fleet, nodes, app, ws, caller, proxy := f.ids, f.nodes, f.app, f.ws, f.caller, f.proxy
	speech := assets.Speech()[:speechBytes]

	var (
		draining atomic.Bool // node b logged that it drains
		done     atomic.Int32
		mu       sync.Mutex
		results  []callResult
	)
	next := make(chan int)
	var wg sync.WaitGroup
	for range atOnce {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r := callResult{index: i, afterDrain: draining.Load()}
				r.err = placeCall(proxy.Addr(), caller, ws, i, speech, &r)
				if r.err == nil {
					r.sid, r.err = callSid(app, number(i))
					r.node, _ = nodeid.NodeOf(r.sid, fleet)
				}
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
				done.Add(1)
			}
		}()
	}

	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for i := range fleetCalls {
			next <- i
		}
		close(next)
	}()
	// Drain node b once enough calls have ended and it holds a call.
	b := nodes["b"]
	servetest.Eventually(t, 60*time.Second, fmt.Sprintf("%d calls done and a call in progress on node b", drainAfter), func() bool {
		return done.Load() >= drainAfter && b.Metrics(t).Get("callstream_calls_active") >= 1
	})
	if err := b.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	rec := b.WaitLog(t, "INFO", "draining", nil)
	draining.Store(true)
	if n, _ := rec["calls"].(float64); n < 1 {
		t.Fatalf("node b drained with %v calls in progress, want at least one: %v", rec["calls"], rec)
	}
	<-drained
	wg.Wait()

	// Node b finished its calls and stopped cleanly.
	select {
	case <-b.Exited():
	case <-time.After(20 * time.Second):
		t.Fatal("node b still running 20 s after its last call")
	}
	if code := b.ExitCode(); code != 0 {
		t.Fatalf("node b exit code %d, want 0", code)
	}
	b.WaitLog(t, "INFO", "drained: every call has ended", nil)

	perNode := map[string]int{}
	after := 0
	for _, r := range results {
		if r.afterDrain {
			after++
		}
		if r.err != nil {
			t.Errorf("call %d: %v", r.index, r.err)
			continue
		}
		if r.node == "" {
			t.Errorf("call %d: CallSid %q carries no node of the fleet", r.index, r.sid)
			continue
		}
		perNode[r.node]++
		if r.afterDrain && r.node == "b" {
			t.Errorf("call %d, dialled after node b began to drain, went to node b (CallSid %s)", r.index, r.sid)
		}
	}
	if len(results) != fleetCalls {
		t.Fatalf("%d calls placed, want %d", len(results), fleetCalls)
	}
	if after == 0 {
		t.Errorf("no call was dialled after node b began to drain")
	}
	for _, id := range fleet {
		if perNode[id] < minPerNode {
			t.Errorf("node %s took %d calls, want at least %d (a: %d, b: %d)", id, perNode[id], minPerNode, perNode["a"], perNode["b"])
		}
	}
	// Node a counted the calls the CallSids say it took.
	if got := nodes["a"].Metrics(t).Get("callstream_calls_total"); int(got) != perNode["a"] {
		t.Errorf("node a: calls_total %v, CallSids tagged a: %d", got, perNode["a"])
	}
	t.Logf("calls per node: a %d, b %d; %d dialled after node b began to drain", perNode["a"], perNode["b"], after)
}

// fleetToken is the API token every node of the test fleet shares.
const fleetToken = "fleet-api-token-0123456789"

// testFleet is Kamailio in front of two `callstream serve` nodes, a and
// b, that know each other (--peers) and share an API token, with the
// FlexML app and the WebSocket app their calls use, and a SIP caller.
type testFleet struct {
	ids    []string
	nodes  map[string]*servetest.Proc
	app    *gatewaytest.App
	ws     *wsapp.Server
	proxy  *kamailio.Proxy
	caller *sipcaller.Client
}

// fleetOptions vary a test fleet.
type fleetOptions struct {
	// Weighted runs Kamailio's WEIGHTED variant (call-load distribution).
	Weighted bool
}

// startFleet starts a fleet whose app serves the documents docs gives it
// (WS in a document is the WebSocket app's base URL).
func startFleet(t *testing.T, opts fleetOptions, docs func(app *gatewaytest.App)) *testFleet {
	t.Helper()
	kamailio.Require(t)
	ws, err := wsapp.Listen(wsapp.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	f := &testFleet{ids: []string{"a", "b"}, nodes: map[string]*servetest.Proc{}, ws: ws,
		app: gatewaytest.NewApp(t, map[string]string{"WS": strings.TrimSuffix(ws.URL(""), "/")})}
	docs(f.app)
	// Each node's HTTP address is chosen first: every node's --peers
	// names them all.
	httpAddr := map[string]string{}
	var peers []string
	for _, id := range f.ids {
		httpAddr[id] = servetest.FreeTCPAddr(t)
		peers = append(peers, id+"=http://"+httpAddr[id])
	}
	for _, id := range f.ids {
		f.nodes[id] = servetest.Start(t, servetest.Options{Args: []string{"--app", f.app.URL("/app"),
			"--node-id", id, "--drain-timeout", "60s", "--http", httpAddr[id],
			"--peers", strings.Join(peers, ","), "--api-token", fleetToken}})
		if got := f.nodes[id].Metrics(t).Get("callstream_node_info", "node="+id); got != 1 {
			t.Fatalf(`node %s: callstream_node_info{node=%q} = %v, want 1`, id, id, got)
		}
		f.nodes[id].WaitLog(t, "INFO", "callstream listening", map[string]string{"node": id})
	}
	f.proxy = kamailio.Start(t, kamailio.Options{Nodes: []string{f.nodes["a"].SIPAddr(), f.nodes["b"].SIPAddr()}, Weighted: opts.Weighted})
	f.caller, err = sipcaller.NewClient(sipcaller.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.caller.Close() })
	return f
}

// placeCall makes call i through the proxy: the caller says speech, the
// call's stream must carry it intact, then the caller hangs up and the
// stream must stop.
func placeCall(proxy string, caller *sipcaller.Client, ws *wsapp.Server, i int, speech []byte, r *callResult) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := caller.Dial(ctx, sipcaller.Config{Target: proxy, From: "15551112222", To: number(i), NoRecord: true})
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	path := fmt.Sprintf("/s/%d", i)
	conn, err := waitConn(ctx, ws, path)
	if err != nil {
		return err
	}
	if err := c.SendAudio(ctx, speech); err != nil {
		return fmt.Errorf("sending audio: %w", err)
	}
	// The last frames may still be on their way when the caller is done.
	_ = conn.WaitUntil(ctx, "the caller's speech", func(msgs []wsapp.Message) bool {
		audio, _, err := wsapp.Audio(msgs, "")
		return err == nil && bytes.Contains(audio, speech)
	})
	if err := c.Hangup(ctx); err != nil {
		return fmt.Errorf("hangup: %w", err)
	}
	select {
	case <-conn.Closed():
	case <-ctx.Done():
		return errors.New("stream not closed after the hangup")
	}
	msgs := conn.Messages()
	audio, n, err := wsapp.Audio(msgs, "")
	if err != nil {
		return fmt.Errorf("stream %s: %w", path, err)
	}
	r.mediaFrames = n
	if !bytes.Contains(audio, speech) {
		return fmt.Errorf("stream %s: %d frames that do not hold the caller's %d intact: %s",
			path, n, len(speech)/160, servetest.Divergence(audio, speech))
	}
	last, err := msgs[len(msgs)-1].Parse()
	if err != nil || last.Event != "stop" {
		return fmt.Errorf("stream %s: last message %q, want stop", path, msgs[len(msgs)-1].Data)
	}
	return nil
}

// waitConn waits for the gateway's stream to path on the WebSocket app.
func waitConn(ctx context.Context, ws *wsapp.Server, path string) (*wsapp.Conn, error) {
	for {
		for _, c := range ws.Conns() {
			if c.Path == path {
				return c, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("the stream to %s never connected: %w", path, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// callSid returns the CallSid of the app's request for the call to to.
func callSid(app *gatewaytest.App, to string) (string, error) {
	for _, r := range app.Requests() {
		if r.To() == to && r.Field("CallSid") != "" {
			return r.Field("CallSid"), nil
		}
	}
	return "", fmt.Errorf("no app request for the call to %s", to)
}

// number is the dialled number of call i.
func number(i int) string { return fmt.Sprintf("1555000%04d", i) }
