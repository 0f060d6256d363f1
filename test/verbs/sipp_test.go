package verbs

import (
	"testing"
	"time"

	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipp"
)

// A third-party caller's RFC 4733 DTMF — SIPp playing the digit 1 from
// its pcap — answers a Gather: the action gets Digits=1.
func TestGatherSIPpPcap(t *testing.T) {
	sipp.Require(t)
	pcap := sipp.DTMFPcap(t)
	env := servetest.StartEnv(t, servetest.EnvOptions{})
	env.App.Doc("/app", `<Response><Gather numDigits="1" timeout="10" action="/pressed"/><Hangup/></Response>`)
	env.App.Doc("/pressed", `<Response><Pause length="1"/><Hangup/></Response>`) // SIPp waits for the BYE after its pause
	res, err := sipp.Run(servetest.Context(t, 30*time.Second), sipp.Options{
		Scenario: "uac_stream.xml", Target: env.SIPAddr(),
		Params: sipp.Params{PT: 0, Codec: "PCMU", Pcap: pcap, PauseMs: 10, WaitBye: true},
	})
	if err != nil {
		out := ""
		if res != nil {
			out = res.Output
		}
		t.Fatalf("%v\n%s", err, out)
	}
	r := env.WaitRequest(t, "/pressed", 10*time.Second)
	if d, ok := field(r, "Digits"); !ok || d != "1" {
		t.Fatalf("Digits %q %v, want 1", d, ok)
	}
}
