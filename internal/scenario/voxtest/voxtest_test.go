package voxtest

import (
	"bytes"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/wsapp"
)

// A pure tone holds all its power at its frequency and none elsewhere.
func TestTonePower(t *testing.T) {
	x := Tone(8000, 8000, 1000, 8000)
	if f := Power(x, 8000, 1000) / MeanPower(x); f < 0.99 || f > 1.01 {
		t.Fatalf("share at 1 kHz %.4f, want 1", f)
	}
	if f := Power(x, 8000, 2000) / MeanPower(x); f > 0.001 {
		t.Fatalf("share at 2 kHz %.4f, want 0", f)
	}
}

// The clip has no silence code, and no two frames alike.
func TestClip(t *testing.T) {
	c := Clip(8000)
	if bytes.IndexByte(c, 0xFF) >= 0 || bytes.IndexByte(c, 0x7F) >= 0 {
		t.Fatal("the clip holds a silence code")
	}
	seen := map[string]bool{}
	for i := 0; i < len(c); i += 160 {
		f := string(c[i : i+160])
		if seen[f] {
			t.Fatalf("frame %d repeats an earlier one", i/160)
		}
		seen[f] = true
	}
}

// Parse takes every message and fails on one that is not JSON; Stream
// skips those and the messages without an event.
func TestParseAndStream(t *testing.T) {
	at := time.Unix(10, 0)
	msgs := []wsapp.Message{
		{Data: []byte(`{"event":"start","sequenceNumber":0,"start":{"tag":"a","mediaFormat":{"encoding":"ULAW","sampleRate":8000}}}`), At: at},
		{Data: []byte(`{"type":"hello"}`)},
		{Data: []byte(`{"event":"media","media":{"tag":"a","chunk":1,"payload":"AAAA"}}`)},
		{Data: []byte(`{"event":"stop","stop":{"tag":"a","mediaInfo":{"bytesSent":3}}}`)},
	}
	got, err := Parse(msgs)
	if err != nil || len(got) != 4 || got[0].Start.MediaFormat.Encoding != "ULAW" || !got[0].At.Equal(at) || got[2].Media.Payload != "AAAA" {
		t.Fatalf("Parse: %+v, %v", got, err)
	}
	s := Stream(append(msgs, wsapp.Message{Data: []byte("not json")}))
	if len(s) != 3 || s[0].Event != "start" || s[1].Event != "media" || s[2].Stop.Tag != "a" {
		t.Fatalf("Stream: %+v", s)
	}
	if _, err := Parse(append(msgs, wsapp.Message{Data: []byte("not json")})); err == nil {
		t.Fatal("Parse took a message that is not JSON")
	}
}
