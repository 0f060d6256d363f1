package scenario_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/gatewaytest"
	"github.com/callstream/callstream/internal/scenario"
	"github.com/callstream/callstream/internal/sipcaller"
)

// toneServer serves toneWAV (one second of 440 Hz) at /tone.wav and
// returns the scenario's customData naming it.
func toneServer(t *testing.T) string {
	t.Helper()
	wav := toneWAV()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(wav) }))
	t.Cleanup(srv.Close)
	cfg, _ := json.Marshal(map[string]string{"tone": srv.URL + "/tone.wav"})
	return string(cfg)
}

// progressCodes records the provisional responses a call got.
type progressCodes struct {
	mu    sync.Mutex
	codes []int
}

func (p *progressCodes) add(code int) {
	p.mu.Lock()
	p.codes = append(p.codes, code)
	p.mu.Unlock()
}

func (p *progressCodes) has(code int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.codes {
		if c == code {
			return true
		}
	}
	return false
}

// sdpLines returns the m= and c= lines and rtpmaps of an SDP body.
func sdpLines(body []byte) []string {
	var out []string
	for _, l := range strings.Split(string(body), "\r\n") {
		if strings.HasPrefix(l, "m=") || strings.HasPrefix(l, "c=") || strings.HasPrefix(l, "a=rtpmap:") {
			out = append(out, l)
		}
	}
	return out
}

// TestCallEarlyMedia: a scenario starts early media on CallAlerting, plays
// a one-second tone and answers 1.5 s later. The caller gets 183 with SDP
// and hears the tone before the 200 OK, whose SDP is the 183's; the media
// goes on after the answer on the same stream (SSRC, sequence).
func TestCallEarlyMedia(t *testing.T) {
	g := startGateway(t, scenario.Config{CustomData: toneServer(t), Source: `
VoxEngine.addEventListener(AppEvents.CallAlerting, function (e) {
  var call = e.call;
  call.addEventListener(CallEvents.PlaybackFinished, function (ev) {
    Logger.write('played' + (ev.error ? ' error ' + ev.error : ''));
  });
  call.addEventListener(CallEvents.Connected, function () { Logger.write('connected ' + call.state()); });
  call.addEventListener(CallEvents.Disconnected, function () { VoxEngine.terminate(); });
  call.startEarlyMedia();
  call.startEarlyMedia(); // a no-op
  Logger.write('early ' + call.state());
  call.startPlayback(JSON.parse(VoxEngine.customData()).tone);
  setTimeout(function () { call.answer(); }, 1500);
});`})
	var progress progressCodes
	c := g.Dial(sipcaller.Config{DTMF: true, OnProgress: progress.add})
	if !progress.has(183) {
		t.Fatalf("no 183 before the answer: %v", progress.codes)
	}
	if got := g.waitText(t, "early *", time.Second); got != "early ALERTING" {
		t.Errorf("state after startEarlyMedia: %q", got)
	}
	if got := g.waitText(t, "connected *", 5*time.Second); got != "connected CONNECTED" {
		t.Errorf("%q", got)
	}
	early, answer := c.EarlySDP(), c.AnswerSDP()
	if early == nil {
		t.Fatal("the 183 carried no SDP")
	}
	if !bytes.Equal(early, answer) {
		t.Errorf("200 OK SDP differs from the 183's:\n183:\n%s\n200:\n%s", early, answer)
	}
	if lines := sdpLines(early); len(lines) < 3 || !strings.HasPrefix(lines[0], "c=IN IP4 ") ||
		!strings.HasPrefix(lines[1], "m=audio ") || !strings.HasSuffix(lines[1], " RTP/AVP 0 101") || lines[2] != "a=rtpmap:0 PCMU/8000" {
		t.Errorf("183 SDP lines %q, want PCMU and telephone-event", lines)
	}

	// The tone was heard before the 200 OK: nearly all of its second.
	pre := audioPackets(c.EarlyPackets())
	loud := audible(pre)
	if len(loud) < 45 {
		t.Fatalf("%d audible packets of %d before the answer, want the tone's 50", len(loud), len(pre))
	}
	if rms := rmsOf(codec.DecodeULaw(nil, sipcaller.Payloads(loud))); rms < 3000 {
		t.Errorf("early tone RMS %.0f, want about 5600", rms)
	}
	// The stream goes on through the answer: one SSRC, no sequence gap.
	if err := c.WaitPackets(g.Context(5*time.Second), len(c.EarlyPackets())+25); err != nil {
		t.Fatal(err)
	}
	all := audioPackets(c.Received())
	for i := 1; i < len(all); i++ {
		if all[i].SSRC != all[0].SSRC {
			t.Fatalf("packet %d: SSRC %08x, the stream began with %08x", i, all[i].SSRC, all[0].SSRC)
		}
		if all[i].Seq != all[i-1].Seq+1 {
			t.Fatalf("packet %d (%d before the answer): sequence %d after %d", i, len(pre), all[i].Seq, all[i-1].Seq)
		}
	}
	if got := g.waitText(t, "played*", time.Second); got != "played" {
		t.Errorf("%q", got)
	}
	if !strings.Contains(g.Logs.String(), `"msg":"early media started"`) {
		t.Error("no early media log line")
	}
	_ = c.Hangup(g.Context(5 * time.Second))
	g.waitSessions(t, 5*time.Second)
}

// TestCallEarlyMediaRejected: a call in early media that the scenario
// rejects ends with the rejection (no BYE), after the caller heard the
// tone, and its RTP port is released.
func TestCallEarlyMediaRejected(t *testing.T) {
	g := startGateway(t, scenario.Config{CustomData: toneServer(t), Source: `
VoxEngine.addEventListener(AppEvents.CallAlerting, function (e) {
  var call = e.call;
  call.addEventListener(CallEvents.Disconnected, function (ev) {
    Logger.write('disconnected ' + ev.internalCode);
    VoxEngine.terminate();
  });
  call.startEarlyMedia();
  call.startPlayback(JSON.parse(VoxEngine.customData()).tone, {loop: true});
  setTimeout(function () { call.reject(486); }, 800);
});`})
	_, err := g.Caller.Dial(g.Context(10*time.Second), sipcaller.Config{Target: g.GW.SIPAddr(), From: "15551112222", To: "15553334444"})
	se := gatewaytest.Refusal(t, err)
	if se.Code != 486 {
		t.Fatalf("refused with %d %s, want 486", se.Code, se.Reason)
	}
	if se.EarlySDP == nil {
		t.Fatal("no 183 with SDP before the refusal")
	}
	if n := len(audible(audioPackets(se.Early))); n < 20 {
		t.Errorf("%d audible packets before the refusal, want about 40", n)
	}
	if got := g.waitText(t, "disconnected *", 5*time.Second); got != "disconnected 487" {
		t.Errorf("%q", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for g.GW.PortsInUse() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d RTP ports still in use after the refusal", g.GW.PortsInUse())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Contains(g.Logs.String(), `"msg":"hangup: BYE failed"`) {
		t.Error("the gateway tried a BYE on a call it never answered")
	}
	g.waitSessions(t, 5*time.Second)
}

// TestCallEarlyMediaLateOffer: on a call whose INVITE has no SDP,
// startEarlyMedia throws an error naming the reason; the scenario catches
// it and answers the call as usual.
func TestCallEarlyMediaLateOffer(t *testing.T) {
	g := startGateway(t, scenario.Config{Source: `
VoxEngine.addEventListener(AppEvents.CallAlerting, function (e) {
  var call = e.call;
  call.addEventListener(CallEvents.Disconnected, function () { VoxEngine.terminate(); });
  try { call.startEarlyMedia(); Logger.write('early started'); }
  catch (err) { Logger.write('early refused: ' + err.message); }
  call.answer();
});`})
	var progress progressCodes
	c := g.Dial(sipcaller.Config{LateOffer: true, OnProgress: progress.add})
	got := g.waitText(t, "early *", 5*time.Second)
	if !strings.HasPrefix(got, "early refused: call.startEarlyMedia: the caller's INVITE carried no SDP offer") {
		t.Errorf("%q", got)
	}
	if progress.has(183) || c.EarlySDP() != nil {
		t.Error("a 183 went out for a late offer")
	}
	if err := c.WaitPackets(g.Context(5*time.Second), 5); err != nil {
		t.Fatal(err)
	}
	_ = c.Hangup(g.Context(5 * time.Second))
	g.waitSessions(t, 5*time.Second)
}
