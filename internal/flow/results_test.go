package flow

import (
	"encoding/json"
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

// A Record's results are sent under Twilio's names in both encodings.
func TestRequestRecordResults(t *testing.T) {
	url, dur, sid, key := "http://gw/records/rec-1.wav", "2", "RE1", "#"
	r := Request{CallSid: "c1", Results: Results{RecordingUrl: &url, RecordingDuration: &dur, RecordingSid: &sid, Digits: &key}}
	b, err := json.Marshal(&r)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	v := r.values()
	for name, want := range map[string]string{"RecordingUrl": url, "RecordingDuration": dur, "RecordingSid": sid, "Digits": key} {
		if m[name] != want || v.Get(name) != want {
			t.Errorf("%s: JSON %v, form %q; want %q", name, m[name], v.Get(name), want)
		}
	}
}
