package twilio

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/callstream/callstream/internal/stream"
	"github.com/callstream/callstream/internal/stream/wire"
)

var info = stream.Info{
	CallSid:    "CA0123",
	AccountSid: "AC4567",
	StreamSid:  "MZ89ab",
	Tracks:     []stream.Track{stream.TrackInbound},
	Params:     []stream.Param{{Name: "k", Value: "v"}},
	Encoding:   "audio/x-mulaw",
	SampleRate: 8000,
}

func TestEncode(t *testing.T) {
	d := New()
	if d.Name() != "twilio" || d.FirstSequence() != 1 {
		t.Fatalf("Name %q FirstSequence %d", d.Name(), d.FirstSequence())
	}
	both := info
	both.Params = nil
	both.Tracks = []stream.Track{stream.TrackInbound, stream.TrackOutbound}
	mustOK := func(out []byte, ok bool) []byte {
		if !ok {
			t.Error("ok = false")
		}
		return out
	}
	tests := map[string]struct {
		got  func(dst []byte) []byte
		want string
	}{
		"connected": {func(dst []byte) []byte { return mustOK(d.AppendConnected(dst, &info)) },
			`{"event":"connected","protocol":"Call","version":"1.0.0","streamSid":"MZ89ab"}`},
		"start": {func(dst []byte) []byte { return d.AppendStart(dst, 1, &info) },
			`{"event":"start","sequenceNumber":"1","start":{"accountSid":"AC4567","streamSid":"MZ89ab","callSid":"CA0123","tracks":["inbound"],"customParameters":{"k":"v"},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"streamSid":"MZ89ab"}`},
		"start both tracks no params": {func(dst []byte) []byte { return d.AppendStart(dst, 1, &both) },
			`{"event":"start","sequenceNumber":"1","start":{"accountSid":"AC4567","streamSid":"MZ89ab","callSid":"CA0123","tracks":["inbound","outbound"],"customParameters":{},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"streamSid":"MZ89ab"}`},
		"media": {func(dst []byte) []byte {
			return d.AppendMedia(dst, 2, &info, &stream.Media{Track: stream.TrackInbound, Chunk: 1, Timestamp: 0, Payload: []byte{0xff, 0x7f, 0x00}})
		}, `{"event":"media","sequenceNumber":"2","media":{"track":"inbound","chunk":"1","timestamp":"0","payload":"/38A"},"streamSid":"MZ89ab"}`},
		"media large timestamp": {func(dst []byte) []byte {
			return d.AppendMedia(dst, 18446744073709551615, &info, &stream.Media{Track: stream.TrackOutbound, Chunk: 4294967296, Timestamp: 1766400000000, Payload: []byte("abcd")})
		}, `{"event":"media","sequenceNumber":"18446744073709551615","media":{"track":"outbound","chunk":"4294967296","timestamp":"1766400000000","payload":"YWJjZA=="},"streamSid":"MZ89ab"}`},
		"dtmf": {func(dst []byte) []byte { return mustOK(d.AppendDTMF(dst, 5, &info, '5')) },
			`{"event":"dtmf","streamSid":"MZ89ab","sequenceNumber":"5","dtmf":{"track":"inbound_track","digit":"5"}}`},
		"dtmf star": {func(dst []byte) []byte { return mustOK(d.AppendDTMF(dst, 6, &info, '*')) },
			`{"event":"dtmf","streamSid":"MZ89ab","sequenceNumber":"6","dtmf":{"track":"inbound_track","digit":"*"}}`},
		"mark": {func(dst []byte) []byte { return mustOK(d.AppendMark(dst, 4, &info, "my label")) },
			`{"event":"mark","sequenceNumber":"4","streamSid":"MZ89ab","mark":{"name":"my label"}}`},
		"stop": {func(dst []byte) []byte { return d.AppendStop(dst, 5, &info, &stream.StopInfo{BytesSent: 9}) },
			`{"event":"stop","sequenceNumber":"5","stop":{"accountSid":"AC4567","callSid":"CA0123"},"streamSid":"MZ89ab"}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := tc.got([]byte("prefix"))
			if string(got) != "prefix"+tc.want {
				t.Fatalf("got  %s\nwant prefix%s", got, tc.want)
			}
			if !json.Valid(got[len("prefix"):]) {
				t.Fatalf("not valid JSON: %s", got)
			}
		})
	}
}

func TestEncodeEscaping(t *testing.T) {
	in := info
	in.StreamSid = "MZ\"\\"
	in.Params = []stream.Param{
		{Name: `quote"d`, Value: `back\slash`},
		{Name: "ctl\x1f\r", Value: "nl\nend"},
		{Name: "Zoë", Value: "☎ 😀"},
	}
	got := New().AppendStart(nil, 1, &in)
	want := `{"event":"start","sequenceNumber":"1","start":{"accountSid":"AC4567","streamSid":"MZ\"\\","callSid":"CA0123","tracks":["inbound"],"customParameters":{"quote\"d":"back\\slash","ctl\u001f\r":"nl\nend","Zoë":"☎ 😀"},"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}},"streamSid":"MZ\"\\"}`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	var parsed struct {
		StreamSid string `json:"streamSid"`
		Start     struct {
			CustomParameters map[string]string `json:"customParameters"`
		} `json:"start"`
	}
	if err := json.Unmarshal(got, &parsed); err != nil {
		t.Fatal(err)
	}
	wantParams := map[string]string{}
	for _, p := range in.Params {
		wantParams[p.Name] = p.Value
	}
	if parsed.StreamSid != in.StreamSid || !reflect.DeepEqual(parsed.Start.CustomParameters, wantParams) {
		t.Errorf("parsed %+v", parsed)
	}

	mark, _ := New().AppendMark(nil, 7, &in, "say \"hi\"\t\\ é")
	if want := `{"event":"mark","sequenceNumber":"7","streamSid":"MZ\"\\","mark":{"name":"say \"hi\"\t\\ é"}}`; string(mark) != want {
		t.Fatalf("mark got  %s\nwant %s", mark, want)
	}
	var pm struct{ Mark struct{ Name string } }
	if err := json.Unmarshal(mark, &pm); err != nil || pm.Mark.Name != "say \"hi\"\t\\ é" {
		t.Fatalf("mark parsed %q, %v", pm.Mark.Name, err)
	}
}

func TestAppendMediaNoAlloc(t *testing.T) {
	d := New()
	m := &stream.Media{Track: stream.TrackInbound, Chunk: 7, Timestamp: 1766400000000, Payload: make([]byte, 160)}
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(200, func() { buf = d.AppendMedia(buf[:0], 8, &info, m) }); n != 0 {
		t.Fatalf("AppendMedia allocates %v times", n)
	}
	if n := testing.AllocsPerRun(200, func() { buf, _ = d.AppendDTMF(buf[:0], 8, &info, '#') }); n != 0 {
		t.Fatalf("AppendDTMF allocates %v times", n)
	}
}

func TestDecode(t *testing.T) {
	tests := map[string]struct {
		in   string
		want stream.AppMessage
	}{
		"media": {`{"event":"media","streamSid":"MZ89ab","media":{"payload":"/38A"}}`,
			stream.AppMessage{Kind: stream.MsgMedia, Event: "media", Payload: []byte{0xff, 0x7f, 0}}},
		"media extra fields": {`{"event":"media","sequenceNumber":"3","media":{"track":"outbound","chunk":"2","timestamp":"40","payload":"YWJjZA=="},"streamSid":"MZ89ab"}`,
			stream.AppMessage{Kind: stream.MsgMedia, Event: "media", Payload: []byte("abcd")}},
		"media unpadded": {`{"event":"media","media":{"payload":"YWJjZA"}}`,
			stream.AppMessage{Kind: stream.MsgMedia, Event: "media", Payload: []byte("abcd")}},
		"mark":         {`{"event":"mark","streamSid":"MZ89ab","mark":{"name":"x"}}`, stream.AppMessage{Kind: stream.MsgMark, Event: "mark", Name: "x"}},
		"mark escaped": {`{"event":"mark","mark":{"name":"a\"b\u00e9"}}`, stream.AppMessage{Kind: stream.MsgMark, Event: "mark", Name: "a\"bé"}},
		"clear":        {`{"event":"clear","streamSid":"MZ89ab"}`, stream.AppMessage{Kind: stream.MsgClear, Event: "clear"}},
		"unknown":      {`{"event":"stop","streamSid":"MZ89ab"}`, stream.AppMessage{Kind: stream.MsgUnknown, Event: "stop"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var m stream.AppMessage
			if err := New().Decode([]byte(tc.in), &m); err != nil {
				t.Fatalf("Decode(%s): %v", tc.in, err)
			}
			if m.Kind != tc.want.Kind || m.Event != tc.want.Event || m.Name != tc.want.Name || !bytes.Equal(m.Payload, tc.want.Payload) ||
				m.Tag != "" || m.Encoding != "" || m.SampleRate != 0 || len(m.Params) != 0 || m.Chunk != 0 || m.Timestamp != 0 {
				t.Fatalf("got  %+v\nwant %+v", m, tc.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := map[string]struct {
		in, want string
		is       error
	}{
		"base64":         {`{"event":"media","streamSid":"MZ","media":{"payload":"AAAA!AAA"}}`, "twilio: media payload: illegal base64 data at input byte 4", nil},
		"bad padding":    {`{"event":"media","media":{"payload":"AA=A"}}`, "twilio: media payload: illegal base64 data at input byte 2", nil},
		"not json":       {`{"event":"media",}`, "twilio: invalid JSON: unexpected '}' at offset 17", wire.ErrSyntax},
		"trailing":       {`{"event":"clear"}x`, "twilio: invalid JSON: unexpected 'x' at offset 17", wire.ErrSyntax},
		"no event":       {`{"streamSid":"MZ"}`, `twilio: missing field "event"`, wire.ErrMissing},
		"event null":     {`{"event":null}`, "twilio: event: wrong JSON type: want string, got null", wire.ErrType},
		"no media":       {`{"event":"media","streamSid":"MZ"}`, `twilio: missing field "media"`, wire.ErrMissing},
		"no payload":     {`{"event":"media","media":{}}`, `twilio: media: missing field "payload"`, wire.ErrMissing},
		"payload null":   {`{"event":"media","media":{"payload":null}}`, "twilio: media payload: wrong JSON type: want string, got null", wire.ErrType},
		"mark name bool": {`{"event":"mark","mark":{"name":true}}`, "twilio: mark name: wrong JSON type: want string, got bool", wire.ErrType},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var m stream.AppMessage
			err := New().Decode([]byte(tc.in), &m)
			if err == nil {
				t.Fatalf("Decode(%s) succeeded: %+v", tc.in, m)
			}
			if err.Error() != tc.want {
				t.Fatalf("Decode(%s) error = %q, want %q", tc.in, err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("error %v is not %v", err, tc.is)
			}
		})
	}
}

func TestDecodeReuse(t *testing.T) {
	d := New()
	var m stream.AppMessage
	msg := []byte(`{"event":"media","streamSid":"MZ89ab","media":{"payload":"` + strings.Repeat("AAEC", 53) + `"}}`)
	if err := d.Decode(msg, &m); err != nil {
		t.Fatal(err)
	}
	first := &m.Payload[0]
	if err := d.Decode(msg, &m); err != nil {
		t.Fatal(err)
	}
	if &m.Payload[0] != first || len(m.Payload) != 159 {
		t.Fatalf("payload not decoded into the previous backing array")
	}
	if n := testing.AllocsPerRun(100, func() { _ = d.Decode(msg, &m) }); n != 0 {
		t.Errorf("Decode of a media message allocates %v times", n)
	}
	mark := []byte(`{"event":"mark","streamSid":"MZ89ab","mark":{"name":"label"}}`)
	_ = d.Decode(mark, &m)
	if n := testing.AllocsPerRun(100, func() { _ = d.Decode(mark, &m) }); n != 0 {
		t.Errorf("Decode of a repeated mark allocates %v times", n)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"event":"media","streamSid":"MZ1","media":{"payload":"/38A"}}`,
		`{"event":"mark","streamSid":"MZ1","mark":{"name":"x"}}`,
		`{"event":"clear","streamSid":"MZ1"}`,
		`{"event":"x"}`,
		`{"event":"media","media":{"payload":"AA=A"}}`,
	} {
		f.Add([]byte(s))
	}
	d := New()
	f.Fuzz(func(t *testing.T, msg []byte) {
		var m stream.AppMessage
		err := d.Decode(msg, &m)
		if err == nil && !json.Valid(msg) {
			t.Fatalf("accepted invalid JSON %q", msg)
		}
		if err == nil && m.Kind != stream.MsgMark && m.Name != "" {
			t.Fatalf("%v message with a name", m.Kind)
		}
	})
}

func BenchmarkAppendMedia(b *testing.B) {
	d := New()
	m := &stream.Media{Track: stream.TrackInbound, Chunk: 7, Timestamp: 140, Payload: make([]byte, 160)}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf = d.AppendMedia(buf[:0], uint64(i), &info, m)
	}
}

func BenchmarkDecodeMedia(b *testing.B) {
	d := New()
	msg := []byte(`{"event":"media","streamSid":"MZ89ab","media":{"payload":"` + strings.Repeat("AAEC", 53) + `AA=="}}`)
	var m stream.AppMessage
	if err := d.Decode(msg, &m); err != nil || len(m.Payload) != 160 {
		b.Fatalf("%v, %d bytes", err, len(m.Payload))
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if err := d.Decode(msg, &m); err != nil {
			b.Fatal(err)
		}
	}
}
