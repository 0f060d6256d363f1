package servetest

import (
	"testing"
	"time"

	"github.com/callstream/callstream/internal/wsapp"
)

// Refusals returns callstream_refusals_total for one limit (a
// limit.Refusal's text).
func (p *Proc) Refusals(t testing.TB, limit string) float64 {
	t.Helper()
	return p.Metrics(t).Get("callstream_refusals_total", "limit="+limit)
}

// WaitLog waits up to 10 s for the gateway's log line at level whose
// message contains msg and whose attributes contain attrs (see
// logtest.Buffer.Find), and returns it. The logs reach the test through
// a pipe, a little after the fact; every line that arrives is checked.
func (p *Proc) WaitLog(t testing.TB, level, msg string, attrs map[string]string) map[string]any {
	t.Helper()
	return p.Logs.WaitFind(t, 10*time.Second, level, msg, attrs)
}

// StreamConn waits up to 10 s for the gateway's WebSocket connection to
// path on the WebSocket app and returns it.
func (e *Env) StreamConn(t testing.TB, path string) *wsapp.Conn {
	t.Helper()
	return ConnTo(t, e.WS, path)
}

// ConnTo waits up to 10 s for the first connection to path on the
// WebSocket app srv and returns it.
func ConnTo(t testing.TB, srv *wsapp.Server, path string) *wsapp.Conn {
	t.Helper()
	var conn *wsapp.Conn
	Eventually(t, 10*time.Second, "the stream to "+path+" connects", func() bool {
		for _, c := range srv.Conns() {
			if c.Path == path {
				conn = c
				return true
			}
		}
		return false
	})
	return conn
}

// CallSid waits up to 5 s for the app's first request for the call to the
// number to and returns its CallSid.
func (e *Env) CallSid(t testing.TB, to string) string {
	t.Helper()
	var sid string
	Eventually(t, 5*time.Second, "the app's request for the call to "+to, func() bool {
		for _, r := range e.App.Requests() {
			if r.To() == to && r.Field("CallSid") != "" {
				sid = r.Field("CallSid")
				return true
			}
		}
		return false
	})
	return sid
}

// Media returns the audio of the media messages conn received so far (any
// dialect's JSON), and how many there were.
func Media(t testing.TB, conn *wsapp.Conn) ([]byte, int) {
	t.Helper()
	audio, n, err := wsapp.Audio(conn.Messages(), "")
	if err != nil {
		t.Fatal(err)
	}
	return audio, n
}

// WaitFrames waits up to 10 s until conn has received at least n media
// messages: a stream may trail the caller by a frame, and a BYE sent the
// moment the last RTP packet leaves can overtake it.
func WaitFrames(t testing.TB, conn *wsapp.Conn, n int) {
	t.Helper()
	if err := conn.WaitMedia(Context(t, 10*time.Second), n); err != nil {
		t.Fatalf("stream %s: %v", conn.Path, err)
	}
}
