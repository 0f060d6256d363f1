package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/logtest"
	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipcaller"
)

// examplesDir is the repository's examples folder, seen from this
// package's folder (where go test runs).
const examplesDir = "../../examples"

// frameOf20ms is the number of samples of 20 ms at 8 kHz.
const frameOf20ms = 160

// nonSilentFrames counts the 20 ms frames of 8 kHz µ-law audio that the
// caller's statistics count as not silent.
func nonSilentFrames(ulaw []byte) int {
	var packets []sipcaller.Packet
	for i := 0; i+frameOf20ms <= len(ulaw); i += frameOf20ms {
		packets = append(packets, sipcaller.Packet{Payload: ulaw[i : i+frameOf20ms]})
	}
	st := sipcaller.Summarize(codec.PCMU, 0, 0, 0, packets)
	return st.Audio - st.Silent
}

// readRecording reads a WAV file call --record wrote: 8 kHz 16-bit PCM,
// returned as µ-law for nonSilentFrames.
func readRecording(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a, err := media.ReadWAV(f)
	if err != nil {
		t.Fatal(err)
	}
	if a.Encoding != media.EncodingPCM16 || a.SampleRate != 8000 || a.Channels != 1 {
		t.Fatalf("recording: %v at %d Hz, %d channels; want mono pcm16 at 8000 Hz", a.Encoding, a.SampleRate, a.Channels)
	}
	ulaw, err := a.ULaw8k()
	if err != nil {
		t.Fatal(err)
	}
	return ulaw
}

// summaryValue returns the value of the summary line "name:  value".
func summaryValue(t *testing.T, out, name string) string {
	t.Helper()
	for _, l := range lines(out) {
		if v, ok := strings.CutPrefix(l, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %q line in:\n%s", name, out)
	return ""
}

// firstInt returns the first whole number in s.
func firstInt(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(regexp.MustCompile(`\d+`).FindString(s))
	if err != nil {
		t.Fatalf("no number in %q", s)
	}
	return n
}

// The quick start's hello.xml played to `callstream call`: answered,
// packets both ways, the far end hangs up after the clip, and the
// recording holds the clip's speech.
func TestCallHelloExample(t *testing.T) {
	app, err := filepath.Abs(filepath.Join(examplesDir, "hello.xml"))
	if err != nil {
		t.Fatal(err)
	}
	p := servetest.Start(t, servetest.Options{Args: []string{"--app", app}})
	rec := filepath.Join(t.TempDir(), "heard.wav")
	ctx := servetest.Context(t, 60*time.Second)
	code, out, errOut := runCmd(t, ctx, "call", "--record", rec, "--linger", "20s", "sip:hello@"+p.SIPAddr())
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if v := summaryValue(t, out, "answered"); !strings.HasPrefix(v, "200 OK") {
		t.Errorf("answered: %q", v)
	}
	if v := summaryValue(t, out, "codec"); v != "PCMU/8000" {
		t.Errorf("codec: %q", v)
	}
	if v := summaryValue(t, out, "hangup"); v != "far end (BYE)" {
		t.Errorf("hangup: %q", v)
	}
	if v := summaryValue(t, out, "recorded"); v != rec {
		t.Errorf("recorded: %q", v)
	}
	// The built-in clip is 3 s: 150 packets, all sent before the gateway
	// hangs up 4 s after the answer.
	if n := firstInt(t, summaryValue(t, out, "rtp sent")); n != 150 {
		t.Errorf("rtp sent: %d packets, want 150", n)
	}
	heard := firstInt(t, summaryValue(t, out, "rtp heard"))
	if heard < 150 {
		t.Errorf("rtp heard: %d packets, want the 1 s pause and 3 s clip", heard)
	}

	want := nonSilentFrames(assets.Speech())
	got := nonSilentFrames(readRecording(t, rec))
	if got < want*9/10 || got > want+5 {
		t.Errorf("recording: %d non-silent frames, want about the clip's %d", got, want)
	}
	if v := summaryValue(t, out, "heard"); !strings.Contains(v, strconv.FormatFloat(float64(got)*0.02, 'f', 2, 64)+"s not silent") {
		t.Errorf("heard: %q, want %d frames not silent", v, got)
	}
}

// A port where nothing answers: exit 1 with a clear message once --timeout
// has passed, and not much later.
func TestCallNothingListens(t *testing.T) {
	addr := servetest.FreeSIPAddr(t)
	start := time.Now()
	code, out, errOut := runCmd(t, servetest.Context(t, 30*time.Second), "call", "--timeout", "1s", "sip:"+addr)
	took := time.Since(start)
	if code != 1 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if want := "callstream call: no answer from " + addr + " within 1s (--timeout)"; strings.TrimSpace(errOut) != want {
		t.Errorf("stderr %q, want %q", errOut, want)
	}
	if out != "" {
		t.Errorf("stdout %q", out)
	}
	if took < time.Second || took > 10*time.Second {
		t.Errorf("took %s with --timeout 1s", took)
	}
}

// Bad flags and arguments are usage errors (exit 2) named in the message,
// found before any call is placed.
func TestCallUsage(t *testing.T) {
	dir := t.TempDir()
	notWAV := writeFile(t, dir, "not.wav", "hello")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "want one SIP URI"},
		{[]string{"--digits", "12x", "sip:127.0.0.1"}, `--digits: sipcaller: not a DTMF digit: invalid digits: 'x' at 3`},
		{[]string{"--duration", "2h", "sip:127.0.0.1"}, "--duration 2h0m0s: want more than 0 and at most 1h0m0s"},
		{[]string{"--wav", filepath.Join(dir, "none.wav"), "sip:127.0.0.1"}, "no such file"},
		{[]string{"--wav", notWAV, "sip:127.0.0.1"}, `not WAV or MP3 audio: the file is text`},
		{[]string{"sips:127.0.0.1"}, "sips (TLS) is not supported"},
		{[]string{"sip:127.0.0.1:99999"}, `bad port "99999"`},
		{[]string{"--codec", "GSM", "--timeout", "1s", "sip:127.0.0.1:9"}, `--codec: `},
	} {
		code, _, errOut := runCmd(t, t.Context(), append([]string{"call"}, tc.args...)...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("call %q: exit %d, stderr %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
	code, _, errOut := runCmd(t, t.Context(), "call", "-h")
	if code != 0 || !strings.Contains(errOut, "1  the call was refused, not answered within --timeout, or failed") {
		t.Errorf("-h: exit %d, help %q", code, errOut)
	}
}

func TestParseSIPURI(t *testing.T) {
	for in, want := range map[string][3]string{
		"sip:127.0.0.1:5070":                {"127.0.0.1:5070", "callstream", ""},
		"sip:ivr@127.0.0.1":                 {"127.0.0.1:5060", "ivr", ""},
		"SIP:+15551234567@gw.example:5080":  {"gw.example:5080", "+15551234567", ""},
		"bob@[::1]:5062;transport=TCP":      {"[::1]:5062", "bob", "tcp"},
		"10.0.0.5":                          {"10.0.0.5:5060", "callstream", ""},
		"sip:alice:secret@10.0.0.5;lr":      {"10.0.0.5:5060", "alice", ""},
		"sip:[2001:db8::1]":                 {"[2001:db8::1]:5060", "callstream", ""},
		"sip:@127.0.0.1:5060;transport=udp": {"127.0.0.1:5060", "callstream", "udp"},
	} {
		target, user, transport, err := parseSIPURI(in)
		if err != nil || [3]string{target, user, transport} != want {
			t.Errorf("%q: %q %q %q %v; want %q", in, target, user, transport, err, want)
		}
	}
	for _, in := range []string{"", "sip:", "http://x/y", "sip:x;transport=tls", "sip:x:0"} {
		if _, _, _, err := parseSIPURI(in); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

// The quick start's tiny WebSocket app, built and run as a user runs it,
// behind echo.xml: it logs the stream's events and echoes the caller's
// audio, which `callstream call` hears and records.
func TestCallEchoExampleApp(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "wsapp")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/callstream/callstream/examples/wsapp").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	addr := servetest.FreeTCPAddr(t)
	logs := &logtest.Buffer{}
	app := exec.Command(bin, "-addr", addr)
	app.Stdout, app.Stderr = logs, logs
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = app.Process.Kill()
		_ = app.Wait()
		if t.Failed() {
			t.Logf("wsapp:\n%s", logs.String())
		}
	})
	servetest.Eventually(t, 10*time.Second, "the example app listens", func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	doc, err := os.ReadFile(filepath.Join(examplesDir, "echo.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(doc, []byte("ws://127.0.0.1:8770/")) {
		t.Fatalf("echo.xml no longer streams to the app's default address:\n%s", doc)
	}
	docPath := writeFile(t, t.TempDir(), "echo.xml", strings.ReplaceAll(string(doc), "127.0.0.1:8770", addr))
	p := servetest.Start(t, servetest.Options{Args: []string{"--app", docPath}})

	rec := filepath.Join(t.TempDir(), "heard.wav")
	code, out, errOut := runCmd(t, servetest.Context(t, 60*time.Second), "call", "--record", rec, "--linger", "1s", "sip:"+p.SIPAddr())
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if v := summaryValue(t, out, "hangup"); v != "caller (audio sent, --linger passed)" {
		t.Errorf("hangup: %q", v)
	}
	want := nonSilentFrames(assets.Speech())
	if got := nonSilentFrames(readRecording(t, rec)); got < want*8/10 {
		t.Errorf("the echo: %d non-silent frames heard, want about the clip's %d", got, want)
	}
	logs.WaitContains(t, 10*time.Second, "msg=stop")
	for _, s := range []string{"msg=start path=/echo", "parameters=map[greeting:hello]", "msg=closed"} {
		logs.WaitContains(t, 5*time.Second, s)
	}
}

// A gateway that rejects the call: exit 1, the status named.
func TestCallRefused(t *testing.T) {
	doc := writeFile(t, t.TempDir(), "busy.xml", `<Response><Reject reason="busy-here"/></Response>`)
	p := servetest.Start(t, servetest.Options{Args: []string{"--app", doc}})
	code, out, errOut := runCmd(t, servetest.Context(t, 30*time.Second), "call", "sip:"+p.SIPAddr())
	if code != 1 || out != "" {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if want := "callstream call: refused by " + p.SIPAddr() + ": 486 "; !strings.HasPrefix(errOut, want) {
		t.Errorf("stderr %q, want %q…", errOut, want)
	}
}
