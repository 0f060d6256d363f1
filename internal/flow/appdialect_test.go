package flow

import (
	"net/url"
	"testing"

	"github.com/callstream/callstream/internal/webhook"
)

func TestTwilioValues(t *testing.T) {
	r := Request{
		CallSid: "CA0123456789abcdef0123456789abcdef", AccountSid: webhook.DefaultAccountSid, ApiVersion: webhook.APIVersion,
		From: "15551112222", To: "alice", CallerName: "Bob", Direction: "inbound", CallStatus: "ringing",
		OriginalFrom: "sip:15551112222@10.0.0.1", OriginalTo: "sip:alice@example.com", RequestUrl: "http://app/x",
	}
	got := r.twilioValues()
	want := url.Values{
		"CallSid": {r.CallSid}, "AccountSid": {webhook.DefaultAccountSid}, "ApiVersion": {"2010-04-01"},
		"From": {"+15551112222"}, "Caller": {"+15551112222"}, "To": {"sip:alice@example.com"}, "Called": {"sip:alice@example.com"},
		"CallerName": {"Bob"}, "Direction": {"inbound"}, "CallStatus": {"ringing"},
	}
	if got.Encode() != want.Encode() {
		t.Fatalf("twilio fields\n got %s\nwant %s", got.Encode(), want.Encode())
	}
	r.ForwardedFrom = "15550000000"
	if v := r.twilioValues().Get("ForwardedFrom"); v != "15550000000" {
		t.Fatalf("ForwardedFrom %q", v)
	}
}

func TestStreamHeader(t *testing.T) {
	in := &Interpreter{cfg: Config{AppDialect: webhook.Twilio, AuthToken: "tok"}}
	h := in.streamHeader("wss://app.example/media?x=1")
	if got, want := h.Get(webhook.SignatureHeader), webhook.Sign("tok", "wss://app.example/media?x=1", nil); got != want {
		t.Fatalf("upgrade signature %q, want %q", got, want)
	}
	for _, cfg := range []Config{{AppDialect: webhook.Twilio}, {AuthToken: "tok"}} {
		if h := (&Interpreter{cfg: cfg}).streamHeader("wss://app.example/media"); h != nil {
			t.Fatalf("%+v: upgrade headers %v, want none", cfg, h)
		}
	}
}
