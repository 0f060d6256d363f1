package edge

import (
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/gatewaytest"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipcaller"
	"github.com/callstream/callstream/internal/wsapp"
)

// healthz returns the status and body of GET /healthz.
func healthz(t *testing.T, p *servetest.Proc) (int, string) {
	t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get(p.URL("/healthz"))
	if err != nil {
		t.Fatalf("healthz: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitDraining waits until the process answers /healthz with 503 "draining".
func waitDraining(t *testing.T, p *servetest.Proc) {
	t.Helper()
	servetest.Eventually(t, 5*time.Second, "/healthz answers 503 draining", func() bool {
		code, body := healthz(t, p)
		return code == http.StatusServiceUnavailable && strings.Contains(body, "draining")
	})
}

// waitExit waits for the process to exit and checks it exited 0.
func waitExit(t *testing.T, p *servetest.Proc, d time.Duration) {
	t.Helper()
	select {
	case <-p.Exited():
	case <-time.After(d):
		t.Fatalf("callstream serve still running %s later", d)
	}
	if code := p.ExitCode(); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
}

// heldCall places a call whose stream goes to /held and returns it with
// the app's side of its stream, which has got its first frames.
func heldCall(t *testing.T, env *servetest.Env) (*sipcaller.Call, *wsapp.Conn) {
	t.Helper()
	routeStream(env, "held")
	c, err := env.Dial(t, sipcaller.Config{To: "held"})
	if err != nil {
		t.Fatalf("held call: %v", err)
	}
	var conn *wsapp.Conn
	servetest.Eventually(t, 10*time.Second, "the held call's stream connects", func() bool {
		for _, x := range env.WS.Conns() {
			if x.Path == "/held" {
				conn = x
			}
		}
		return conn != nil
	})
	if err := conn.WaitFor(servetest.Context(t, 5*time.Second), 5); err != nil {
		t.Fatal(err)
	}
	return c, conn
}

// checkStreamEnded checks that the app got stop last and a close 1000.
func checkStreamEnded(t *testing.T, conn *wsapp.Conn) {
	t.Helper()
	gatewaytest.WaitClosed(t, conn, 10*time.Second)
	msgs := conn.Messages()
	ev, err := msgs[len(msgs)-1].Parse()
	if err != nil || ev.Event != "stop" {
		t.Fatalf("last message %q (%v), want stop", msgs[len(msgs)-1].Data, err)
	}
	if code, _ := conn.CloseStatus(); code != 1000 {
		t.Fatalf("close code %d, want 1000", code)
	}
}

// bystanderFrames is what a bystander sends (3 s) plus a few frames of the
// silence that follows on its inbound track.
const bystanderFrames = 150 + 5

// settleBystander waits until the bystander's app has all its speech: its
// last RTP packets and the BYE of its Check travel on different sockets, so
// hanging up right after the last packet can end the stream before that
// packet reaches it.
func settleBystander(t *testing.T, b *servetest.Bystander) {
	t.Helper()
	servetest.Eventually(t, 15*time.Second, "the bystander's speech at its app", func() bool { return b.Frames() >= bystanderFrames })
}

// SIGTERM drains: the call in progress goes on streaming, a new INVITE and
// an OPTIONS probe get 503 with Retry-After, /healthz 503, the refusal is
// counted; when the caller hangs up, every frame it sent has reached the
// app and the process exits 0 having released the call.
func TestSIGTERMDrainsLiveCalls(t *testing.T) {
	env := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{Args: []string{"--drain-timeout", "60s"}}})
	b := env.Bystander(t)
	if err := env.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitDraining(t, env.Proc)
	env.Logs.Wait(t, 5*time.Second, `a "draining" log line with calls=1`, func() bool {
		return env.Logs.Find("INFO", "draining", map[string]string{"calls": "1"}) != nil
	})
	// Frames keep arriving after the signal.
	after := b.Frames()
	servetest.Eventually(t, 5*time.Second, "frames after SIGTERM", func() bool { return b.Frames() >= after+25 })

	_, err := env.Dial(t, sipcaller.Config{To: "late"})
	if se := gatewaytest.Refusal(t, err); se.Code != 503 || se.Header["retry-after"] != "60" {
		t.Fatalf("INVITE while draining: %d %q, Retry-After %q; want 503, 60", se.Code, se.Reason, se.Header["retry-after"])
	}
	r, err := env.Caller.Options(servetest.Context(t, 5*time.Second), env.SIPAddr())
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != 503 || r.Header["retry-after"] != "60" {
		t.Fatalf("OPTIONS while draining: %d, Retry-After %q", r.Code, r.Header["retry-after"])
	}
	m := env.Metrics(t)
	if got := m.Get("callstream_refusals_total", "limit=draining"); got != 1 {
		t.Fatalf("refusals{limit=draining} %v, want 1", got)
	}
	if m.Get("callstream_calls_active") != 1 || m.Get("callstream_draining") != 1 {
		t.Fatalf("calls_active %v, draining %v", m.Get("callstream_calls_active"), m.Get("callstream_draining"))
	}
	if !env.Alive() {
		t.Fatal("the process exited with a call live")
	}

	settleBystander(t, b)
	b.Check(t) // every frame intact, stop last; hangs up
	waitExit(t, env.Proc, 15*time.Second)
	if env.Logs.Find("INFO", "drained: every call has ended", nil) == nil ||
		env.Logs.Find("INFO", "call released", map[string]string{"reason": "caller hung up"}) == nil {
		t.Fatal("no drained or call released log line")
	}
	if l := env.Logs.Find("ERROR", "shutdown:", nil); l != nil {
		t.Fatalf("shutdown error: %v", l)
	}
}

// With --drain-timeout 2s, a call that does not end is ended cleanly about
// 2 s after SIGTERM: the app gets stop and close 1000, the caller a BYE,
// and the process exits 0.
func TestDrainTimeoutEndsCalls(t *testing.T) {
	t.Parallel() // mostly waits out a timeout: it overlaps the other such tests
	env := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{Args: []string{"--drain-timeout", "2s"}}})
	c, conn := heldCall(t, env)
	signalled := time.Now()
	if err := env.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Ended():
	case <-time.After(15 * time.Second):
		t.Fatal("no BYE within 15 s of SIGTERM with --drain-timeout 2s")
	}
	if d := time.Since(signalled); d < 2*time.Second {
		t.Fatalf("BYE %v after SIGTERM, before the 2 s drain timeout", d)
	}
	checkStreamEnded(t, conn)
	waitExit(t, env.Proc, 15*time.Second)
	if env.Logs.Find("WARN", "drain timeout: ending the calls left", map[string]string{"calls": "1"}) == nil {
		t.Fatal("no drain-timeout log line")
	}
}

// A second SIGTERM cuts the drain short: the call is ended at once (BYE,
// stop, close 1000) and the process exits 0.
func TestSecondSIGTERMCuts(t *testing.T) {
	env := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{Args: []string{"--drain-timeout", "120s"}}})
	c, conn := heldCall(t, env)
	if err := env.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitDraining(t, env.Proc)
	select {
	case <-c.Ended():
		t.Fatal("the call ended on the first SIGTERM")
	default:
	}
	if err := env.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.Ended():
	case <-time.After(10 * time.Second):
		t.Fatal("no BYE within 10 s of the second SIGTERM")
	}
	checkStreamEnded(t, conn)
	waitExit(t, env.Proc, 15*time.Second)
	if env.Logs.Find("WARN", "drain cut short", nil) == nil {
		t.Fatal("no drain-cut-short log line")
	}
}

// An INVITE still waiting for the app's document when the calls are cut
// gets 503 with a generic reason, not 480; while the drain runs it is a
// live call like any other and is neither answered nor refused.
func TestCutRefusesInviteInFlightWith503(t *testing.T) {
	env := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{Args: []string{"--drain-timeout", "120s"}}})
	env.App.Set("/app#to=slow", gatewaytest.Response{Body: streamDoc("/held"), Delay: 60 * time.Second})
	slow := make(chan error, 1)
	ctx := servetest.Context(t, 60*time.Second)
	go func() {
		c, err := env.Caller.Dial(ctx, sipcaller.Config{Target: env.SIPAddr(), From: "15551112222", To: "slow"})
		if err == nil {
			_ = c.Close()
		}
		slow <- err
	}()
	servetest.Eventually(t, 10*time.Second, "the slow call's document request", func() bool {
		for _, r := range env.App.Requests() {
			if r.JSON["To"] == "slow" {
				return true
			}
		}
		return false
	})
	if err := env.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitDraining(t, env.Proc)
	select {
	case err := <-slow:
		t.Fatalf("the INVITE in flight ended on the first SIGTERM: %v", err)
	default:
	}
	if err := env.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-slow:
	case <-time.After(10 * time.Second):
		t.Fatal("no final response within 10 s of the cut")
	}
	se := gatewaytest.Refusal(t, err)
	if se.Code != 503 || se.Reason != "Service Unavailable" || !strings.Contains(se.Header["reason"], `text="Service Unavailable"`) {
		t.Fatalf("INVITE in flight at the cut: %d %q, Reason %q; want 503 Service Unavailable", se.Code, se.Reason, se.Header["reason"])
	}
	waitExit(t, env.Proc, 15*time.Second)
}

// Metrics move while a call streams: frames in and media sent grow between
// two scrapes and the latency, queue-depth, connect and fetch histograms
// have observations; the process returns to its baseline after the call.
func TestLiveMetricsMoveDuringCall(t *testing.T) {
	env := servetest.StartEnv(t, servetest.EnvOptions{})
	base := env.Baseline(t)
	b := env.Bystander(t)
	first := env.Metrics(t)
	var second servetest.Metrics
	servetest.Eventually(t, 5*time.Second, "frames and media counted while the call runs", func() bool {
		second = env.Metrics(t)
		return second.Get("callstream_inbound_frames_total") >= first.Get("callstream_inbound_frames_total")+10 &&
			second.Get("callstream_stream_media_sent_total") >= first.Get("callstream_stream_media_sent_total")+10 &&
			second.Get("callstream_stream_frame_latency_seconds_count") > 0 &&
			second.Get("callstream_stream_queue_frames_count") > 0
	})
	for _, name := range []string{"callstream_ws_connect_seconds_count", "callstream_app_fetch_seconds_count"} {
		if second.Get(name) < 1 {
			t.Errorf("%s = %v, want observations", name, second.Get(name))
		}
	}
	if second.Get("callstream_calls_active") != 1 || second.Get("callstream_streams_active", "dialect=carrierx") != 1 {
		t.Errorf("calls_active %v, streams_active{carrierx} %v", second.Get("callstream_calls_active"),
			second.Get("callstream_streams_active", "dialect=carrierx"))
	}
	if mean := second.Get("callstream_stream_frame_latency_seconds_sum") / second.Get("callstream_stream_frame_latency_seconds_count"); mean > 1 {
		t.Errorf("mean gateway-added latency %v s", mean)
	}
	settleBystander(t, b)
	env.Survived(t, b, base, 10*time.Second)
	after := env.Metrics(t)
	if after.Get("callstream_inbound_frames_total") < second.Get("callstream_inbound_frames_total") {
		t.Fatalf("inbound frames went down at the call's end: %v -> %v",
			second.Get("callstream_inbound_frames_total"), after.Get("callstream_inbound_frames_total"))
	}
	if got := after.Get("callstream_calls_ended_total", "outcome=remote_hangup"); got != 1 {
		t.Fatalf("calls_ended_total{remote_hangup} %v, want 1", got)
	}
}
