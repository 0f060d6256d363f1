package main

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/servetest"
)

// `call --say` against a real serve whose document forks the caller's
// audio to a stream app: the app hears the text spoken (a second or more
// of audio that is not silent), the caller sent it as RTP, and hung up
// once it was sent and --linger passed.
func TestCallSay(t *testing.T) {
	if _, err := exec.LookPath("espeak-ng"); err != nil {
		t.Fatal("espeak-ng is not installed: the project's setup installs it")
	}
	env := servetest.StartEnv(t, servetest.EnvOptions{})
	env.App.Doc("/app", `<Response><Start><Stream url="{{.WS}}/said"/></Start><Pause length="20"/></Response>`)
	code, out, errOut := runCmd(t, servetest.Context(t, 60*time.Second), "call",
		"--say", "Hello, I would like to check my balance please.", "--voice", "woman", "--linger", "1s", "sip:say@"+env.SIPAddr())
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if errOut != "" {
		t.Errorf("stderr: %q", errOut)
	}
	if v := summaryValue(t, out, "hangup"); v != "caller (audio sent, --linger passed)" {
		t.Errorf("hangup: %q", v)
	}
	sent := firstInt(t, summaryValue(t, out, "rtp sent"))
	if sent < 75 {
		t.Errorf("rtp sent: %d packets, want the speech's 1.5 s or more", sent)
	}
	conn := env.StreamConn(t, "/said")
	select {
	case <-conn.Closed():
	case <-time.After(20 * time.Second):
		t.Fatal("the stream did not end with the call")
	}
	heard, _ := servetest.Media(t, conn)
	if n := nonSilentFrames(heard); n < 50 {
		t.Errorf("the stream app heard %d frames that are not silent, want a second of speech or more", n)
	} else {
		t.Logf("%d packets sent, the app heard %d frames that are not silent", sent, n)
	}
}

// --say refuses --wav beside it, empty or overlong text, and --voice or
// --language without it; without espeak-ng it names the package to
// install. All exit 2 before any call is placed.
func TestCallSayUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--say", "hi", "--wav", "x.wav", "sip:127.0.0.1:9"}, "--say and --wav: give one of them"},
		{[]string{"--say", "  ", "sip:127.0.0.1:9"}, "--say: no text"},
		{[]string{"--say", strings.Repeat("a", 4097), "sip:127.0.0.1:9"}, "--say: 4097 characters, at most 4096"},
		{[]string{"--voice", "woman", "sip:127.0.0.1:9"}, "give --say too"},
	} {
		code, out, errOut := runCmd(t, t.Context(), append([]string{"call"}, tc.args...)...)
		if code != 2 || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("call %.60q: exit %d, stderr %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}

	t.Setenv("PATH", t.TempDir())
	addr := servetest.FreeSIPAddr(t)
	code, out, errOut := runCmd(t, t.Context(), "call", "--say", "hello", "sip:"+addr)
	want := "callstream call: --say needs espeak-ng: install the espeak-ng package"
	if code != 2 || out != "" || !strings.HasPrefix(errOut, want) {
		t.Errorf("without espeak-ng: exit %d, stdout %q, stderr %q; want 2 and %q", code, out, errOut, want)
	}
}
