package api

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/gatewaytest"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipcaller"
	"github.com/callstream/callstream/internal/sipp"
)

// TestAPIRedirectEndsDial: the leg a <Dial> placed is listed beside its
// caller and cannot be redirected itself (409); redirecting the caller
// ends the bridge (the callee, SIPp, gets its BYE), the Dial's action is
// not requested, and the caller hears the new document.
func TestAPIRedirectEndsDial(t *testing.T) {
	callee := startCallee(t)
	e := startEnv(t)
	e.App.DocTo("/app", "dial", `<Response><Dial action="/after"><Sip>sip:bob@`+callee.Addr()+`</Sip></Dial></Response>`)
	c, err := e.Dial(t, sipcaller.Config{To: "dial"})
	if err != nil {
		t.Fatal(err)
	}
	sid := e.CallSid(t, "dial")
	e.WaitLog(t, "INFO", "dial: bridged", nil)

	code, body := servetest.Get(t, e.URL("/calls"), token)
	var list struct{ Calls []call }
	if code != 200 || json.Unmarshal(body, &list) != nil || len(list.Calls) != 2 {
		t.Fatalf("GET /calls while bridged: %d %s", code, body)
	}
	var leg call
	for _, lc := range list.Calls {
		if lc.Sid != sid {
			leg = lc
		}
	}
	if leg.Direction != "outbound-dial" || leg.State != "in-progress" {
		t.Fatalf("the Dial's leg: %+v", leg)
	}
	code, body = postJSON(t, e, "/calls/"+leg.Sid, map[string]string{"url": e.App.URL("/next")})
	wantError(t, "redirect the Dial's leg", code, body, 409, "<Dial>")

	code, body = postJSON(t, e, "/calls/"+sid, map[string]string{"url": e.App.URL("/next")})
	if code != 200 {
		t.Fatalf("redirect: %d %s", code, body)
	}
	waitCalleeBye(t, callee, "the callee (SIPp) did not end its call with a BYE")
	e.WaitLog(t, "INFO", "dial: bridge ended", map[string]string{"ended_by": "redirected"})
	prompt := bytes.Trim(gatewaytest.PromptULaw(t), "\xff\x7f")
	if err := c.WaitHeard(servetest.Context(t, 10*time.Second), prompt); err != nil {
		t.Fatalf("the caller does not hear the new document: %v", err)
	}
	if e.Requested("/after") {
		t.Fatal("the Dial's action was requested after the redirect")
	}
	select {
	case <-c.Ended():
		t.Fatal("the redirect ended the caller's call")
	default:
	}
}

// TestAPIPlaceCall: POST /calls places a call to a SIP URI (SIPp, echoing
// what it hears); once answered it runs the document at url: its request
// names the call, its fork hears the callee echo the prompt the call
// plays, its Hangup sends the callee a BYE, and the status callback hears
// the call complete.
func TestAPIPlaceCall(t *testing.T) {
	callee := startCallee(t)
	e := startEnv(t)
	e.App.Doc("/outbound", `<Response><Start><Stream url="{{.WS}}/placed"/></Start><Play>{{.App}}/prompt.wav</Play><Pause length="1"/><Hangup/></Response>`)
	code, body := postJSON(t, e, "/calls", map[string]string{"to": "sip:bob@" + callee.Addr(), "from": "+15550001111",
		"url": e.App.URL("/outbound"), "status_callback": e.App.URL("/status"), "timeout": "10"})
	var placed call
	if code != 201 || json.Unmarshal(body, &placed) != nil || placed.Sid == "" || placed.Direction != "outbound-api" {
		t.Fatalf("POST /calls: %d %s", code, body)
	}
	req := e.WaitRequest(t, "/outbound", 10*time.Second)
	if req.Field("CallSid") != placed.Sid || req.Field("Direction") != "outbound-api" || req.Field("From") != "+15550001111" {
		t.Fatalf("the document's request: CallSid %q Direction %q From %q", req.Field("CallSid"), req.Field("Direction"), req.Field("From"))
	}
	fork := servetest.ConnTo(t, e.WS, "/placed")
	prompt := bytes.Trim(gatewaytest.PromptULaw(t), "\xff\x7f")
	if err := fork.WaitAudio(servetest.Context(t, 10*time.Second), "inbound", prompt[2000:3600]); err != nil {
		t.Fatalf("the fork does not hear the callee echo the prompt: %v", err)
	}
	waitCalleeBye(t, callee, "the callee (SIPp)")
	servetest.Eventually(t, 10*time.Second, "the status callback of the completed call", func() bool {
		for _, r := range e.App.Requests() {
			if r.Path == "/status" && r.Field("CallSid") == placed.Sid && r.Field("CallStatus") == "completed" {
				return true
			}
		}
		return false
	})
	code, body = servetest.Get(t, e.URL("/calls/"+placed.Sid), token)
	wantError(t, "GET the ended placed call", code, body, 409, "ended")
}

// startCallee starts SIPp as a callee that answers and echoes what it
// hears, stopped in t's cleanup.
func startCallee(t *testing.T) *sipp.Process {
	t.Helper()
	sipp.Require(t)
	callee, err := sipp.Start(context.Background(), sipp.Options{Scenario: "uas_echo.xml", Extra: []string{"-rtp_echo"}, Timeout: 40 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(callee.Stop)
	return callee
}

// waitCalleeBye waits until the callee's call has ended with a BYE.
func waitCalleeBye(t *testing.T, callee *sipp.Process, what string) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := callee.Wait()
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: no BYE within 20 s", what)
	}
}
