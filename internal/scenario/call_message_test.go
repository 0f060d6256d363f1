package scenario_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/scenario"
	"github.com/callstream/callstream/internal/sip"
	"github.com/callstream/callstream/internal/sipcaller"
)

// TestCallSendMessage checks call.sendMessage and call.sendInfo over real
// SIP: the caller receives a MESSAGE (text/plain) and an INFO (the given
// MIME type) in the call's dialog with the bodies byte for byte (700
// bytes, the bound, too); a text over the bound throws a clear error. The
// caller's MESSAGE and INFO fire MessageReceived and InfoReceived.
func TestCallSendMessage(t *testing.T) {
	g := startGateway(t, scenario.Config{Source: `
VoxEngine.addEventListener(AppEvents.CallAlerting, function (e) {
  var call = e.call;
  call.addEventListener(CallEvents.Connected, function () {
    call.sendMessage('hello from the scenario: ünïcode');
    call.sendInfo('application/json', '{"event":"hold"}');
    try { call.sendMessage(new Array(702).join('x')); } catch (err) { Logger.write('long: ' + err.message); }
    call.sendMessage(new Array(701).join('y'));
  });
  call.addEventListener(CallEvents.MessageReceived, function (ev) {
    Logger.write('message ' + ev.text + ' ' + ev.headers['x-tag'] + ' ' + (ev.call === call));
  });
  call.addEventListener(CallEvents.InfoReceived, function (ev) {
    Logger.write('info ' + ev.mimeType + ' ' + ev.body);
  });
  call.addEventListener(CallEvents.Disconnected, function () { VoxEngine.terminate(); });
  call.answer();
});`})
	c := g.Dial(sipcaller.Config{})
	msgs, err := c.WaitMessages(g.Context(5*time.Second), 3)
	if err != nil {
		t.Fatal(err)
	}
	byMethod := map[string][]sipcaller.Message{}
	for _, m := range msgs {
		byMethod[m.Method] = append(byMethod[m.Method], m)
	}
	// The requests leave at once: they may arrive in any order.
	ms := byMethod["MESSAGE"]
	if len(ms) == 2 && len(ms[0].Body) > len(ms[1].Body) {
		ms[0], ms[1] = ms[1], ms[0]
	}
	if len(ms) != 2 || !strings.HasPrefix(ms[0].ContentType, "text/plain") || !strings.HasPrefix(ms[1].ContentType, "text/plain") ||
		string(ms[0].Body) != "hello from the scenario: ünïcode" || string(ms[1].Body) != strings.Repeat("y", 700) {
		t.Errorf("%d MESSAGE requests: %q", len(ms), ms)
	}
	if is := byMethod["INFO"]; len(is) != 1 || is[0].ContentType != "application/json" || string(is[0].Body) != `{"event":"hold"}` {
		t.Errorf("INFO requests %+v", is)
	}
	if got := g.waitText(t, "long: *", 5*time.Second); !strings.Contains(got, "701 bytes, at most 700") {
		t.Errorf("long text: %q", got)
	}
	// The caller's MESSAGE and INFO reach the scenario.
	for _, r := range []struct {
		method, ct, body string
		code             int
	}{
		{"MESSAGE", "text/plain", "hi gateway", 200},
		{"INFO", "application/dtmf-relay", "Signal=5", 200},
	} {
		code, err := c.SendInDialog(g.Context(5*time.Second), r.method, r.ct, []byte(r.body), "X-Tag", "t1")
		if err != nil || code != r.code {
			t.Errorf("%s of %d bytes: %d %v, want %d", r.method, len(r.body), code, err, r.code)
		}
	}
	g.waitText(t, "message hi gateway t1 true", 5*time.Second)
	g.waitText(t, "info application/dtmf-relay Signal=5", 5*time.Second)
	if err := c.Hangup(g.Context(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	g.waitSessions(t, 5*time.Second)
}

// TestCallMembersResolve walks the API table's Call members on a real
// call: each is a function, and each refused one throws an error naming it.
func TestCallMembersResolve(t *testing.T) {
	members, refused := scenario.APIMembersOf("Call")
	list, _ := json.Marshal(members)
	bad, _ := json.Marshal(refused)
	g := startGateway(t, scenario.Config{Source: `
var members = ` + string(list) + `, refused = ` + string(bad) + `;
VoxEngine.addEventListener(AppEvents.CallAlerting, function (e) {
  var call = e.call, wrong = [];
  members.forEach(function (m) { if (typeof call[m] !== 'function') wrong.push(m + ' is ' + typeof call[m]); });
  refused.forEach(function (m) {
    try { call[m](); wrong.push(m + ' did not throw'); } catch (err) {
      if (err.message.indexOf('call.' + m) !== 0 && err.message.indexOf('Call.' + m + ' is not supported by callstream: ') !== 0) wrong.push(m + ': ' + err.message);
    }
  });
  Logger.write('wrong=' + wrong.join(';'));
  call.hangup();
  VoxEngine.terminate();
});`})
	if len(members) < 20 || len(refused) == 0 {
		t.Fatalf("%d Call members, %d refused: the table lost them", len(members), len(refused))
	}
	c, err := g.Caller.Dial(g.Context(5*time.Second), sipcaller.Config{Target: g.GW.SIPAddr(), From: "1", To: "2"})
	if err == nil {
		_ = c.Hangup(g.Context(5 * time.Second))
	}
	if got := g.waitText(t, "wrong=*", 5*time.Second); got != "wrong=" {
		t.Errorf("Call members: %s", got)
	}
	g.waitSessions(t, 5*time.Second)
}

// TestIncomingMessageBound: over TCP (a UDP request of that size would
// not fit a datagram), a caller's MESSAGE whose body is over
// sip.MaxInDialogBody is answered 413 and never reaches the scenario; the
// next one, within the bound, does, and the call goes on.
func TestIncomingMessageBound(t *testing.T) {
	g := startGateway(t, scenario.Config{Source: `
VoxEngine.addEventListener(AppEvents.CallAlerting, function (e) {
  var call = e.call;
  call.addEventListener(CallEvents.MessageReceived, function (ev) {
    Logger.write('message of ' + ev.text.length);
  });
  call.addEventListener(CallEvents.Disconnected, function () { VoxEngine.terminate(); });
  call.answer();
});`})
	tcp, err := sipcaller.NewClient(sipcaller.ClientConfig{Transport: "tcp"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tcp.Close() })
	c, err := tcp.Dial(g.Context(5*time.Second), sipcaller.Config{Target: g.GW.SIPAddr(), From: "1", To: "2"})
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", sip.MaxInDialogBody+1)
	if code, err := c.SendInDialog(g.Context(5*time.Second), "MESSAGE", "text/plain", []byte(big)); err != nil || code != 413 {
		t.Fatalf("MESSAGE of %d bytes: %d %v, want 413", len(big), code, err)
	}
	fits := strings.Repeat("y", sip.MaxInDialogBody)
	if code, err := c.SendInDialog(g.Context(5*time.Second), "MESSAGE", "text/plain", []byte(fits)); err != nil || code != 200 {
		t.Fatalf("MESSAGE of %d bytes: %d %v, want 200", len(fits), code, err)
	}
	if got := g.waitText(t, "message of *", 5*time.Second); got != fmt.Sprintf("message of %d", sip.MaxInDialogBody) {
		t.Fatalf("the scenario got %q: the refused MESSAGE reached it, or the next one did not", got)
	}
	select {
	case <-c.Ended():
		t.Fatal("the refused MESSAGE ended the call")
	default:
	}
	if err := c.Hangup(g.Context(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	g.waitSessions(t, 5*time.Second)
}
