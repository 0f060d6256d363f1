package voximplant

import (
	"errors"
	"strings"
	"testing"

	"github.com/callstream/callstream/internal/codec"
	"github.com/callstream/callstream/internal/stream"
)

// PCM16 at 8 kHz is the default and is written "PCM16" with sampleRate
// 8000; the other formats carry their own names.
func TestWireFormats(t *testing.T) {
	d := New()
	for _, tc := range []struct {
		want codec.Format
		ok   bool
		wire codec.Format
		enc  string
		rate int
	}{
		{codec.Format{}, true, codec.L16(8000), "PCM16", 8000},
		{codec.L16(8000), true, codec.L16(8000), "PCM16", 8000},
		{codec.L16(16000), true, codec.L16(16000), "PCM16", 16000},
		{codec.PCMU, true, codec.PCMU, "ULAW", 8000},
		{codec.PCMA, true, codec.PCMA, "ALAW", 8000},
		{codec.Opus, true, codec.Opus, "OPUS", 48000},
		{codec.G722, false, codec.L16(8000), "PCM16", 8000},
	} {
		wf, ok := d.Wire(tc.want)
		if ok != tc.ok || wf != (stream.WireFormat{Format: tc.wire, Encoding: tc.enc, SampleRate: tc.rate}) {
			t.Errorf("Wire(%v) = %+v, %v", tc.want, wf, ok)
		}
	}
	in := stream.Info{Tag: "t", Encoding: "PCM16", SampleRate: 8000}
	want := `{"event":"start","sequenceNumber":0,"start":{"tag":"t","mediaFormat":{"encoding":"PCM16","sampleRate":8000},"customParameters":{}}}`
	if got := string(d.AppendStart(nil, 0, &in)); got != want {
		t.Errorf("start:\n got %s\nwant %s", got, want)
	}
}

// An app's mediaFormat: "PCM16" at 8000 is 8 kHz PCM (what the gateway
// writes), at 16000 (or without a rate) 16 kHz; PCM8 and the API's names
// are accepted; a rate the encoding does not have is refused by name.
func TestParseFormat(t *testing.T) {
	for _, tc := range []struct {
		enc  string
		rate int
		want codec.Format
	}{
		{"PCM16", 8000, codec.L16(8000)},
		{"pcm16", 16000, codec.L16(16000)},
		{"PCM16", 0, codec.L16(16000)},
		{"PCM8", 8000, codec.L16(8000)},
		{"PCM8", 0, codec.L16(8000)},
		{"PCM16_8KHZ", 8000, codec.L16(8000)},
		{"PCM16_16KHZ", 16000, codec.L16(16000)},
		{"ULAW", 8000, codec.PCMU},
		{"audio/x-mulaw", 0, codec.PCMU},
		{"ALAW", 8000, codec.PCMA},
		{"audio/x-alaw", 8000, codec.PCMA},
		{"OPUS", 48000, codec.Opus},
	} {
		got, err := ParseFormat(tc.enc, tc.rate)
		if err != nil || got != tc.want {
			t.Errorf("ParseFormat(%q, %d) = %v, %v; want %v", tc.enc, tc.rate, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		enc  string
		rate int
		msg  string
	}{
		{"PCM16", 48000, "PCM16 at 48000 Hz"},
		{"PCM8", 16000, "PCM8 is 8000 Hz, not 16000 Hz"},
		{"ULAW", 16000, "ULAW is 8000 Hz, not 16000 Hz"},
		{"MP3", 8000, `encoding "MP3"`},
	} {
		_, err := ParseFormat(tc.enc, tc.rate)
		if !errors.Is(err, ErrEncoding) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("ParseFormat(%q, %d): %v; want an error naming %q", tc.enc, tc.rate, err, tc.msg)
		}
	}
	// Round trip: what the gateway writes, it reads back as the same format.
	for _, f := range []codec.Format{codec.L16(8000), codec.L16(16000), codec.PCMU, codec.PCMA, codec.Opus} {
		wf, _ := New().Wire(f)
		if got, err := ParseFormat(wf.Encoding, wf.SampleRate); err != nil || got != f {
			t.Errorf("%v written as %s/%d reads back as %v, %v", f, wf.Encoding, wf.SampleRate, got, err)
		}
	}
}
