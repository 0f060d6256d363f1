package flow

import (
	"net/http"
	"testing"
)

// The header's URL resolves against the document's URL and reaches the
// gateway's function with its method; an answer without it calls nothing.
func TestNoteStatusCallback(t *testing.T) {
	var got []string
	in := New(Config{App: "http://app.example/voice", StatusCallback: func(sid, u, m string) {
		got = append(got, sid+" "+u+" "+m)
	}})
	h := http.Header{}
	in.noteStatusCallback("c1", "http://app.example/ivr/voice?x=1", h)
	h.Set(HeaderStatusCallback, "../status?call=1")
	h.Set(HeaderStatusCallbackMethod, "GET")
	in.noteStatusCallback("c1", "http://app.example/ivr/voice?x=1", h)
	h.Set(HeaderStatusCallback, "https://other.example/s")
	h.Del(HeaderStatusCallbackMethod)
	in.noteStatusCallback("c2", "http://app.example/voice", h)
	want := []string{"c1 http://app.example/status?call=1 GET", "c2 https://other.example/s "}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("got %q, want %q", got, want)
	}
}
