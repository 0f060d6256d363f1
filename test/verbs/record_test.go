package verbs

import (
	"bytes"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipcaller"
)

// recordToken is the API token of the Record tests' gateways.
const recordToken = "record-test-token-0123456789"

// recordEnv is a gateway whose recordings go to a directory of the test.
type recordEnv struct {
	*servetest.Env
	dir string
}

// startRecord starts a gateway with an API token, its recordings in a
// directory of the test and args, whose app answers /app with doc and
// the other paths with docs, and places a call that offers
// telephone-event.
func startRecord(t *testing.T, doc string, docs map[string]string, args ...string) (*recordEnv, *sipcaller.Call) {
	t.Helper()
	dir := t.TempDir()
	args = append([]string{"--api-token", recordToken, "--recordings-dir", dir}, args...)
	env := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{Args: args}})
	env.App.Doc("/app", doc)
	for path, d := range docs {
		env.App.Doc(path, d)
	}
	c, err := env.Dial(t, sipcaller.Config{DTMF: true})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return &recordEnv{Env: env, dir: dir}, c
}

// tone returns d of a 440 Hz tone at about -15 dBFS as 8 kHz µ-law: every
// 20 ms frame of it is sound.
func tone(d time.Duration) []byte {
	n := int(d / time.Second * 8000)
	if d%time.Second != 0 {
		n = int(d.Seconds() * 8000)
	}
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = int16(6000 * math.Sin(2*math.Pi*440*float64(i)/8000))
	}
	return codec.EncodeULaw(nil, pcm)
}

// waitBeep waits until the caller has heard the beep and five quiet
// packets after it, and returns how many loud packets the beep took.
func waitBeep(t *testing.T, c *sipcaller.Call) int {
	t.Helper()
	beep := 0
	err := c.WaitReceived(servetest.Context(t, 10*time.Second), "the beep", func(packets []sipcaller.Packet) bool {
		beep, last := 0, -1
		for i, p := range packets {
			if loud(p) {
				beep++
				last = i
			}
		}
		return last >= 0 && len(packets)-1-last >= 5
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range c.Received() {
		if loud(p) {
			beep++
		}
	}
	return beep
}

// get fetches url with the bearer token (none: "") and returns the status
// and body.
func get(t *testing.T, url, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
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

// recordingOf checks the action request's recording fields and returns
// its URL.
func recordingOf(t *testing.T, env *recordEnv, path, wantDuration string) string {
	t.Helper()
	r := env.Env.WaitRequest(t, path, 20*time.Second)
	url, _ := field(r, "RecordingUrl")
	if !strings.HasPrefix(url, "http://"+env.HTTPAddr()+"/records/rec-") {
		t.Fatalf("RecordingUrl %q", url)
	}
	if d, _ := field(r, "RecordingDuration"); d != wantDuration {
		t.Fatalf("RecordingDuration %q, want %q", d, wantDuration)
	}
	if sid, _ := field(r, "RecordingSid"); !regexp.MustCompile(`^RE[0-9a-f]{32}$`).MatchString(sid) || !strings.Contains(url, sid[2:]) {
		t.Fatalf("RecordingSid %q (URL %s)", sid, url)
	}
	return url
}

// wavOf fetches a recording with the API token and decodes it.
func wavOf(t *testing.T, url string) *media.Audio {
	t.Helper()
	code, body := get(t, url, recordToken)
	if code != http.StatusOK {
		t.Fatalf("GET the recording: %d %s", code, body)
	}
	a, err := media.ReadWAV(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("the recording is no WAV file: %v", err)
	}
	return a
}

// The caller speaks 2 s after the beep, then is silent: a second of
// silence ends the recording, the action gets its URL and duration, and
// the recording, served to token holders only, is what the caller said,
// byte for byte, within 100 ms of its length.
func TestRecordEndsBySilence(t *testing.T) {
	env, c := startRecord(t, `<Response><Record timeout="1" action="/done"/></Response>`,
		map[string]string{"/done": `<Response><Hangup/></Response>`})
	if beep := waitBeep(t, c); beep < 13 || beep > 17 {
		t.Fatalf("the beep took %d loud packets, want about 15 (300 ms)", beep)
	}
	spoken := tone(2 * time.Second)
	if err := c.SendAudio(servetest.Context(t, 10*time.Second), spoken); err != nil {
		t.Fatal(err)
	}
	url := recordingOf(t, env, "/done", "2")
	env.WaitLog(t, "INFO", "record ended", map[string]string{"ended_by": "timeout"})
	waitEnded(t, c)

	for _, token := range []string{"", "wrong-token-0123456789"} {
		if code, _ := get(t, url, token); code != http.StatusUnauthorized {
			t.Fatalf("GET the recording with token %q: %d, want 401", token, code)
		}
	}
	a := wavOf(t, url)
	if a.Encoding != media.EncodingULaw || a.SampleRate != 8000 || a.Channels != 1 {
		t.Fatalf("recording %v %d Hz %d channels, want µ-law 8000 Hz mono", a.Encoding, a.SampleRate, a.Channels)
	}
	length := time.Duration(len(a.Data)) * time.Second / 8000
	if d := length - 2*time.Second; d < -100*time.Millisecond || d > 100*time.Millisecond {
		t.Fatalf("recording of %s, want 2s within 100ms", length)
	}
	if inner := spoken[160 : len(spoken)-160]; !bytes.Contains(a.Data, inner) {
		t.Fatalf("the recording does not hold what the caller said: %s", servetest.Divergence(a.Data, spoken))
	}
	entries, err := os.ReadDir(env.dir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("recordings directory: %v %v", entries, err)
	}
}

// A finishOnKey key ends the recording at once and is reported as Digits
// (other keys are not); the recording is deleted when --recordings-ttl
// is over and no longer served.
func TestRecordFinishOnKeyAndTTL(t *testing.T) {
	env, c := startRecord(t, `<Response><Record timeout="0" finishOnKey="#" action="/done"/></Response>`,
		map[string]string{"/done": `<Response><Pause length="30"/></Response>`}, "--recordings-ttl", "1s")
	waitBeep(t, c)
	if err := c.SendAudio(servetest.Context(t, 10*time.Second), tone(time.Second)); err != nil {
		t.Fatal(err)
	}
	sendKeys(t, c, "5#")
	r := env.Env.WaitRequest(t, "/done", 20*time.Second)
	if d, _ := field(r, "Digits"); d != "#" {
		t.Fatalf("Digits %q, want #", d)
	}
	url := recordingOf(t, env, "/done", "1")
	env.WaitLog(t, "INFO", "record ended", map[string]string{"ended_by": "finishOnKey"})
	name := url[strings.LastIndex(url, "/")+1:]
	env.WaitLog(t, "INFO", "recording deleted: its time to live is over", map[string]string{"name": name})
	if code, _ := get(t, url, recordToken); code != http.StatusNotFound {
		t.Fatalf("GET after the TTL: %d, want 404", code)
	}
	if entries, _ := os.ReadDir(env.dir); len(entries) != 0 {
		t.Fatalf("files left after the TTL: %v", entries)
	}
	noDigitsLogged(t, env.Env)
}

// maxLength ends a recording of a caller who goes on speaking; without
// trim the recording is exactly maxLength long.
func TestRecordMaxLength(t *testing.T) {
	env, c := startRecord(t, `<Response><Record maxLength="1" timeout="0" trim="do-not-trim" action="/done"/></Response>`,
		map[string]string{"/done": `<Response><Hangup/></Response>`})
	waitBeep(t, c)
	go func() { _ = c.SendAudio(servetest.Context(t, 10*time.Second), tone(3*time.Second)) }()
	url := recordingOf(t, env, "/done", "1")
	env.WaitLog(t, "INFO", "record ended", map[string]string{"ended_by": "maxLength"})
	if a := wavOf(t, url); len(a.Data) != 8000 {
		t.Fatalf("recording of %d bytes, want 8000 (1 s)", len(a.Data))
	}
}

// A recording of nothing but silence is not kept and its action is not
// requested: the document goes on.
func TestRecordSilenceOnly(t *testing.T) {
	env, c := startRecord(t, `<Response><Record timeout="1" action="/done"/><Redirect>/after</Redirect></Response>`,
		map[string]string{"/done": `<Response><Hangup/></Response>`, "/after": `<Response><Hangup/></Response>`})
	env.Env.WaitRequest(t, "/after", 20*time.Second)
	waitEnded(t, c)
	if env.Env.Requested("/done") {
		t.Fatal("the action was requested for an empty recording")
	}
	env.WaitLog(t, "INFO", "record ended: nothing but silence, no recording kept", map[string]string{"ended_by": "timeout"})
	if entries, _ := os.ReadDir(env.dir); len(entries) != 0 {
		t.Fatalf("files left: %v", entries)
	}
}

// A caller who hangs up while recording ends it: the recording is kept
// (there is no call left to request the action for).
func TestRecordHangupKeepsRecording(t *testing.T) {
	env, c := startRecord(t, `<Response><Record timeout="0" action="/done"/></Response>`,
		map[string]string{"/done": `<Response><Hangup/></Response>`})
	waitBeep(t, c)
	if err := c.SendAudio(servetest.Context(t, 10*time.Second), tone(time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := c.Hangup(servetest.Context(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	line := env.WaitLog(t, "INFO", "record ended", map[string]string{"ended_by": "hangup"})
	name, _ := line["recording"].(string)
	if _, err := os.Stat(filepath.Join(env.dir, name)); name == "" || err != nil {
		t.Fatalf("the recording %q is not kept: %v", name, err)
	}
	if env.Env.Requested("/done") {
		t.Fatal("the action was requested after the caller hung up")
	}
}
