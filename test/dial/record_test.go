package dial

import (
	"bytes"
	"encoding/binary"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/gatewaytest"
	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipcaller"
	"github.com/callstream/callstream/internal/sipp"
)

// recordToken is the API token of the recording Dial tests' gateways.
const recordToken = "dial-record-test-token-0123456789"

// recordedDial runs a Dial with record to a SIPp callee that plays its
// 1.5 s of speech from its answer and hangs up after 6 s; the caller,
// once it heard the callee's speech whole, says its own 1.5 s. It returns
// the caller's and the callee's speech, the action's request, the
// recording as served to the token holder and how long the bridge lasted
// by the gateway's log.
func recordedDial(t *testing.T, record string) (mine, theirs []byte, after gatewaytest.AppRequest, rec *media.Audio, bridged time.Duration) {
	t.Helper()
	speech := assets.Speech()
	mine, theirs = speech[:160*75], speech[160*75:160*150]
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "callee.ulaw"), theirs, 0o644); err != nil {
		t.Fatal(err)
	}
	callee := startSIPp(t, sipp.Options{Scenario: "uas_bye.xml", Dir: dir,
		Params: sipp.Params{File: "callee.ulaw", HoldMs: 6000}})
	env := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{Args: []string{
		"--api-token", recordToken, "--recordings-dir", t.TempDir()}}})
	base := env.Baseline(t)
	env.App.Doc("/app", `<Response><Dial record="`+record+`" action="/after"><Sip>sip:callee@`+callee.Addr()+`</Sip></Dial></Response>`)
	env.App.Doc("/after", `<Response><Hangup/></Response>`)
	c, err := env.Dial(t, sipcaller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	env.WaitLog(t, "INFO", "dial: bridged", nil)
	if err := c.WaitHeard(servetest.Context(t, 10*time.Second), theirs); err != nil {
		t.Fatalf("the caller did not hear the callee's audio whole: %v", err)
	}
	if err := c.SendAudio(servetest.Context(t, 20*time.Second), mine); err != nil {
		t.Fatal(err)
	}
	after = env.WaitRequest(t, "/after", 20*time.Second)
	if got := after.Field("DialCallStatus"); got != "completed" {
		t.Errorf("DialCallStatus %q, want completed", got)
	}
	url := after.Field("RecordingUrl")
	if !strings.HasPrefix(url, "http://"+env.HTTPAddr()+"/records/rec-") {
		t.Fatalf("RecordingUrl %q", url)
	}
	if sid := after.Field("RecordingSid"); !regexp.MustCompile(`^RE[0-9a-f]{32}$`).MatchString(sid) || !strings.Contains(url, sid[2:]) {
		t.Errorf("RecordingSid %q (URL %s)", sid, url)
	}
	ended := env.WaitLog(t, "INFO", "dial: bridge ended", map[string]string{"ended_by": "callee hung up"})
	s, _ := ended["bridged"].(string)
	if bridged, err = time.ParseDuration(s); err != nil {
		t.Fatalf("bridged %q in the log: %v", s, err)
	}
	if code, _ := servetest.Get(t, url, ""); code != http.StatusUnauthorized {
		t.Errorf("GET the recording without the token: %d, want 401", code)
	}
	code, body := servetest.Get(t, url, recordToken)
	if code != http.StatusOK {
		t.Fatalf("GET the recording: %d %s", code, body)
	}
	if rec, err = media.ReadWAV(bytes.NewReader(body)); err != nil {
		t.Fatalf("the recording is no WAV file: %v", err)
	}
	seconds := float64(len(rec.Data)) / float64(rec.SampleRate*rec.Channels*bytesPerSample(rec.Encoding))
	if d := math.Abs(seconds - bridged.Seconds()); d > 0.1 {
		t.Errorf("the recording lasts %.3f s, the bridge %v: %.3f s apart, want at most 0.1", seconds, bridged, d)
	}
	if got, want := after.Field("RecordingDuration"), strconv.Itoa(int(math.Round(seconds))); got != want {
		t.Errorf("RecordingDuration %q, want %q (the file's %.3f s)", got, want, seconds)
	}
	calleeDone(t, callee)
	waitEnded(t, c)
	env.Settled(t, base, 15*time.Second)
	return mine, theirs, after, rec, bridged
}

func bytesPerSample(e media.Encoding) int {
	if e == media.EncodingPCM16 {
		return 2
	}
	return 1
}

// framesFound counts the 20 ms frames of speech (8 kHz µ-law) found whole
// in pcm, a track of the recording, sample for sample.
func framesFound(speech []byte, pcm []int16) int {
	at := map[string]bool{}
	for i := 0; i+160 <= len(pcm); i++ {
		at[pcmKey(pcm[i:i+160])] = true
	}
	n := 0
	for i := 0; i+160 <= len(speech); i += 160 {
		if at[pcmKey(codec.DecodeULaw(nil, speech[i:i+160]))] {
			n++
		}
	}
	return n
}

func pcmKey(s []int16) string {
	b := make([]byte, 0, 2*len(s))
	for _, v := range s {
		b = binary.LittleEndian.AppendUint16(b, uint16(v))
	}
	return string(b)
}

// With record-from-answer-dual the action gets the recording, served to
// token holders only: a two-channel 16-bit WAV of the bridge's length,
// the caller's speech, sample for sample, on the first channel and the
// callee's on the second, neither on the other's.
func TestDialRecordDual(t *testing.T) {
	mine, theirs, _, rec, _ := recordedDial(t, "record-from-answer-dual")
	if rec.Channels != 2 || rec.Encoding != media.EncodingPCM16 || rec.SampleRate != 8000 {
		t.Fatalf("recording: %d channels of %v at %d Hz, want 2 of 16-bit PCM at 8000", rec.Channels, rec.Encoding, rec.SampleRate)
	}
	var left, right []int16
	for i := 0; i+4 <= len(rec.Data); i += 4 {
		left = append(left, int16(binary.LittleEndian.Uint16(rec.Data[i:])))
		right = append(right, int16(binary.LittleEndian.Uint16(rec.Data[i+2:])))
	}
	const frames = 75
	for _, tc := range []struct {
		channel string
		pcm     []int16
		own     []byte
		other   []byte
	}{{"first (caller)", left, mine, theirs}, {"second (callee)", right, theirs, mine}} {
		if n := framesFound(tc.own, tc.pcm); n < frames-2 {
			t.Errorf("the %s channel holds %d of its party's %d frames, want at least %d", tc.channel, n, frames, frames-2)
		}
		if n := framesFound(tc.other, tc.pcm); n != 0 {
			t.Errorf("the %s channel holds %d frames of the other party", tc.channel, n)
		}
	}
}

// With record-from-answer the recording is one channel of µ-law (the
// caller's codec) holding both parties: each one's speech, said while the
// other was silent, is in it sample for sample.
func TestDialRecordMono(t *testing.T) {
	mine, theirs, _, rec, _ := recordedDial(t, "record-from-answer")
	if rec.Channels != 1 || rec.Encoding != media.EncodingULaw || rec.SampleRate != 8000 {
		t.Fatalf("recording: %d channels of %v at %d Hz, want 1 of µ-law at 8000", rec.Channels, rec.Encoding, rec.SampleRate)
	}
	pcm := codec.DecodeULaw(nil, rec.Data)
	const frames = 75
	for who, speech := range map[string][]byte{"caller": mine, "callee": theirs} {
		if n := framesFound(speech, pcm); n < frames-2 {
			t.Errorf("the recording holds %d of the %s's %d frames, want at least %d", n, who, frames, frames-2)
		}
	}
}

// A Dial whose callee never answers records nothing: its action gets no
// Recording fields.
func TestDialRecordNotAnswered(t *testing.T) {
	callee := startCallee(t, "uas_cancel.xml", sipp.Params{})
	dir := t.TempDir()
	env := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{Args: []string{
		"--api-token", recordToken, "--recordings-dir", dir}}})
	env.App.Doc("/app", `<Response><Dial timeout="2" record="true" action="/after"><Sip>sip:bob@`+callee.Addr()+`</Sip></Dial></Response>`)
	env.App.Doc("/after", `<Response><Hangup/></Response>`)
	c, err := env.Dial(t, sipcaller.Config{})
	if err != nil {
		t.Fatal(err)
	}
	after := env.WaitRequest(t, "/after", 20*time.Second)
	if got := after.Field("DialCallStatus"); got != "no-answer" {
		t.Errorf("DialCallStatus %q, want no-answer", got)
	}
	for _, f := range []string{"RecordingUrl", "RecordingDuration", "RecordingSid"} {
		if v := after.Field(f); v != "" {
			t.Errorf("%s %q for a Dial never answered", f, v)
		}
	}
	calleeDone(t, callee)
	waitEnded(t, c)
	if files, _ := os.ReadDir(dir); len(files) != 0 {
		t.Errorf("%d files in the recordings directory, want none", len(files))
	}
}
