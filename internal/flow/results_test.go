package flow

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// A verb's results join the request's fields under Twilio's names, as
// top-level JSON fields and form values; a request without them has none.
func TestRequestResults(t *testing.T) {
	r := Request{CallSid: "c1"}
	b, err := json.Marshal(&r)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "Digits") || r.values().Has("Digits") {
		t.Fatalf("a request without results: %s %v", b, r.values())
	}
	for _, digits := range []string{"", "12#"} {
		r.Results = Results{Digits: &digits}
		b, err := json.Marshal(&r)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		if got, ok := m["Digits"]; !ok || got != digits || m["CallSid"] != "c1" {
			t.Fatalf("JSON %s: Digits %v %v", b, got, ok)
		}
		if v := r.values(); !v.Has("Digits") || v.Get("Digits") != digits {
			t.Fatalf("values %v", v)
		}
	}
}

// A Dial's results are strings in JSON, like every other field, and form
// values under the same names, in both app dialects.
func TestDialResults(t *testing.T) {
	status, secs, sid := "completed", "12", "CA1"
	r := Request{CallSid: "c1", Results: Results{DialCallStatus: &status, DialCallDuration: &secs, DialCallSid: &sid}}
	b, err := json.Marshal(&r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("JSON %s: %v", b, err)
	}
	if m["DialCallStatus"] != "completed" || m["DialCallDuration"] != "12" || m["DialCallSid"] != "CA1" {
		t.Fatalf("JSON %s", b)
	}
	for name, v := range map[string]url.Values{"carrierx": r.values(), "twilio": r.twilioValues()} {
		if v.Get("DialCallStatus") != "completed" || v.Get("DialCallDuration") != "12" || v.Get("DialCallSid") != "CA1" {
			t.Errorf("%s values %v", name, v)
		}
	}
}

// A Record's results are sent under Twilio's names in both encodings and
// both app dialects.
func TestRequestRecordResults(t *testing.T) {
	u, dur, sid, key := "http://gw/records/rec-1.wav", "2", "RE1", "#"
	r := Request{CallSid: "c1", Results: Results{RecordingUrl: &u, RecordingDuration: &dur, RecordingSid: &sid, Digits: &key}}
	b, err := json.Marshal(&r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"RecordingUrl": u, "RecordingDuration": dur, "RecordingSid": sid, "Digits": key} {
		if m[name] != want || r.values().Get(name) != want || r.twilioValues().Get(name) != want {
			t.Errorf("%s: JSON %v, form %q, twilio %q; want %q", name, m[name], r.values().Get(name), r.twilioValues().Get(name), want)
		}
	}
}
