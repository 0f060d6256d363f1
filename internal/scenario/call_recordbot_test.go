package scenario_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/media"
	"github.com/callstream/callstream/internal/scenario"
	"github.com/callstream/callstream/internal/scenario/voxtest"
	"github.com/callstream/callstream/internal/sipcaller"
)

// TestRecordingVoiceBotExample runs examples/scenarios/recording-voice-bot.js
// with an echo bot: the caller hears its speech back, and when it hangs up
// the webhook gets the caller and the recording's URL and duration; the
// recording, fetched with the API token, holds the caller's speech on the
// left channel and the bot's echo of it on the right.
func TestRecordingVoiceBotExample(t *testing.T) {
	bot := wsServer(t, echo)
	type report struct {
		Caller    string  `json:"caller"`
		Recording string  `json:"recording"`
		Duration  float64 `json:"duration"`
	}
	reports := make(chan report, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rep report
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		if err := json.Unmarshal(body, &rep); err != nil {
			t.Errorf("webhook body %q: %v", body, err)
		}
		select {
		case reports <- rep:
		default:
		}
	}))
	t.Cleanup(hook.Close)
	data, _ := json.Marshal(map[string]string{"bot": bot.URL("/bot"), "webhook": hook.URL + "/calls"})
	g := startGateway(t, scenario.Config{File: "../../examples/scenarios/recording-voice-bot.js", CustomData: string(data)})
	c := g.Dial(sipcaller.Config{})
	g.waitText(t, "recording started: *", 10*time.Second)
	speech := bytes.TrimRight(assets.Speech(), "\xff")
	if err := c.SendAudio(g.Context(10*time.Second), speech); err != nil {
		t.Fatal(err)
	}
	waitHeard(t, g, c, speech)
	if err := c.Hangup(g.Context(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var rep report
	select {
	case rep = <-reports:
	case <-time.After(10 * time.Second):
		t.Fatal("the webhook got no report after the hang-up")
	}
	g.waitSessions(t, 5*time.Second)
	if rep.Caller != "15551112222" || rep.Recording == "" || rep.Duration <= 0 {
		t.Fatalf("webhook report %+v", rep)
	}
	resp := apiRequest(t, http.MethodGet, rep.Recording, nil)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", rep.Recording, resp.StatusCode)
	}
	a, err := media.ReadWAV(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if a.Channels != 2 {
		t.Fatalf("recording of %d channels, want 2 (stereo)", a.Channels)
	}
	left, right := channels(a)
	if d := float64(len(left))/8000 - rep.Duration; d < -0.05 || d > 0.05 {
		t.Errorf("recording %.2f s, the webhook says %.2f s", float64(len(left))/8000, rep.Duration)
	}
	said := codec.DecodeULaw(nil, speech)
	if lp, rp, sp := voxtest.MeanPower(left), voxtest.MeanPower(right), voxtest.MeanPower(said); lp < sp/20 || rp < sp/20 {
		t.Fatalf("mean power: caller channel %.0f, bot channel %.0f, speech sent %.0f: both parties should be in the recording", lp, rp, sp)
	}
}
