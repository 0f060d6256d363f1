package carrierx

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
	CallSid:    "7a9a4e28-1631-11ef-a79b-d4ce64f0cdf9",
	Tracks:     []stream.Track{stream.TrackInbound, stream.TrackOutbound},
	Params:     []stream.Param{{Name: "First Name", Value: "John"}, {Name: "Last Name", Value: "Cleese"}},
	Encoding:   "audio/x-mulaw",
	SampleRate: 8000,
}

func TestEncode(t *testing.T) {
	d := New()
	if d.Name() != "carrierx" || d.FirstSequence() != 1 {
		t.Fatalf("Name %q FirstSequence %d", d.Name(), d.FirstSequence())
	}
	noParams := info
	noParams.Params = nil
	noParams.Tracks = []stream.Track{stream.TrackMixed}
	tests := map[string]struct {
		got  func(dst []byte) []byte
		want string
	}{
		"connected": {func(dst []byte) []byte {
			out, ok := d.AppendConnected(dst, &info)
			if !ok {
				t.Error("AppendConnected ok = false")
			}
			return out
		}, `{"event":"connected","protocol":"Call","version":"0.2.0"}`},
		"start": {func(dst []byte) []byte { return d.AppendStart(dst, 1, &info) },
			`{"event":"start","sequenceNumber":1,"start":{"callId":"7a9a4e28-1631-11ef-a79b-d4ce64f0cdf9","tracks":["inbound","outbound"],"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000},"customParameters":{"First Name":"John","Last Name":"Cleese"}}}`},
		"start without params": {func(dst []byte) []byte { return d.AppendStart(dst, 1, &noParams) },
			`{"event":"start","sequenceNumber":1,"start":{"callId":"7a9a4e28-1631-11ef-a79b-d4ce64f0cdf9","tracks":["mixed"],"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000},"customParameters":{}}}`},
		"media": {func(dst []byte) []byte {
			return d.AppendMedia(dst, 2, &info, &stream.Media{Track: stream.TrackInbound, Chunk: 1, Timestamp: 0, Payload: []byte{0xff, 0x7f, 0x00}})
		}, `{"event":"media","sequenceNumber":2,"media":{"track":"inbound","chunk":1,"timestamp":0,"payload":"/38A"}}`},
		"media outbound large timestamp": {func(dst []byte) []byte {
			return d.AppendMedia(dst, 123457, &info, &stream.Media{Track: stream.TrackOutbound, Chunk: 61728, Timestamp: 1766400000000, Payload: []byte("abcd")})
		}, `{"event":"media","sequenceNumber":123457,"media":{"track":"outbound","chunk":61728,"timestamp":1766400000000,"payload":"YWJjZA=="}}`},
		"media empty payload": {func(dst []byte) []byte {
			return d.AppendMedia(dst, 3, &info, &stream.Media{Track: stream.TrackMixed, Chunk: 2, Timestamp: 20})
		}, `{"event":"media","sequenceNumber":3,"media":{"track":"mixed","chunk":2,"timestamp":20,"payload":""}}`},
		"stop": {func(dst []byte) []byte {
			return d.AppendStop(dst, 9, &info, &stream.StopInfo{BytesSent: 1, DurationMs: 2})
		},
			`{"event":"stop","sequenceNumber":9,"stop":{"callId":"7a9a4e28-1631-11ef-a79b-d4ce64f0cdf9"}}`},
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

func TestNoDTMFNoMark(t *testing.T) {
	d := New()
	dst := []byte("keep")
	if out, ok := d.AppendDTMF(dst, 5, &info, '5'); ok || string(out) != "keep" {
		t.Errorf("AppendDTMF = %q, %v", out, ok)
	}
	if out, ok := d.AppendMark(dst, 5, &stream.Info{}, "x"); ok || string(out) != "keep" {
		t.Errorf("AppendMark = %q, %v", out, ok)
	}
}

func TestEncodeEscaping(t *testing.T) {
	in := info
	in.CallSid = "id\"\\"
	in.Params = []stream.Param{
		{Name: `quote"d`, Value: `back\slash`},
		{Name: "ctl\x01\n", Value: "tab\there"},
		{Name: "Zoë", Value: "☎ 😀"},
		{Name: "", Value: ""},
	}
	got := New().AppendStart(nil, 1, &in)
	want := `{"event":"start","sequenceNumber":1,"start":{"callId":"id\"\\","tracks":["inbound","outbound"],"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":8000},"customParameters":{"quote\"d":"back\\slash","ctl\u0001\n":"tab\there","Zoë":"☎ 😀","":""}}}`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	var parsed struct {
		Start struct {
			CallID           string            `json:"callId"`
			CustomParameters map[string]string `json:"customParameters"`
		} `json:"start"`
	}
	if err := json.Unmarshal(got, &parsed); err != nil {
		t.Fatal(err)
	}
	if parsed.Start.CallID != in.CallSid {
		t.Errorf("callId = %q", parsed.Start.CallID)
	}
	wantParams := map[string]string{}
	for _, p := range in.Params {
		wantParams[p.Name] = p.Value
	}
	if !reflect.DeepEqual(parsed.Start.CustomParameters, wantParams) {
		t.Errorf("customParameters = %q, want %q", parsed.Start.CustomParameters, wantParams)
	}
}

func TestAppendMediaNoAlloc(t *testing.T) {
	d := New()
	m := &stream.Media{Track: stream.TrackInbound, Chunk: 7, Timestamp: 1766400000000, Payload: make([]byte, 160)}
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(200, func() { buf = d.AppendMedia(buf[:0], 8, &info, m) }); n != 0 {
		t.Fatalf("AppendMedia allocates %v times", n)
	}
}

func TestDecode(t *testing.T) {
	tests := map[string]struct {
		in   string
		want stream.AppMessage
	}{
		"media": {`{"event":"media","media":{"payload":"/38A"}}`,
			stream.AppMessage{Kind: stream.MsgMedia, Event: "media", Payload: []byte{0xff, 0x7f, 0}}},
		"media with twilio fields": {`{"streamSid":"MZ1","event":"media","sequenceNumber":"3","media":{"track":"outbound","payload":"YWJjZA==","chunk":"2"}}`,
			stream.AppMessage{Kind: stream.MsgMedia, Event: "media", Payload: []byte("abcd")}},
		"media event last": {`{"media":{"payload":"YWJjZA=="},"event":"media"}`,
			stream.AppMessage{Kind: stream.MsgMedia, Event: "media", Payload: []byte("abcd")}},
		"media escaped slash": {`{"event":"media","media":{"payload":"\/38A"}}`,
			stream.AppMessage{Kind: stream.MsgMedia, Event: "media", Payload: []byte{0xff, 0x7f, 0}}},
		"clear":         {`{"event":"clear"}`, stream.AppMessage{Kind: stream.MsgClear, Event: "clear"}},
		"clear spaced":  {" { \"event\" : \"clear\" , \"streamSid\" : null }\n", stream.AppMessage{Kind: stream.MsgClear, Event: "clear"}},
		"mark":          {`{"event":"mark","mark":{"name":"m1"}}`, stream.AppMessage{Kind: stream.MsgMark, Event: "mark", Name: "m1"}},
		"mark bare":     {`{"event":"mark"}`, stream.AppMessage{Kind: stream.MsgMark, Event: "mark"}},
		"unknown":       {`{"event":"dtmf","dtmf":{"digit":"1"}}`, stream.AppMessage{Kind: stream.MsgUnknown, Event: "dtmf"}},
		"unknown empty": {`{"event":""}`, stream.AppMessage{Kind: stream.MsgUnknown, Event: ""}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var m stream.AppMessage
			if err := New().Decode([]byte(tc.in), &m); err != nil {
				t.Fatalf("Decode(%s): %v", tc.in, err)
			}
			checkMessage(t, &m, &tc.want)
		})
	}
}

func checkMessage(t *testing.T, got, want *stream.AppMessage) {
	t.Helper()
	if got.Kind != want.Kind || got.Event != want.Event || got.Name != want.Name || !bytes.Equal(got.Payload, want.Payload) ||
		got.Tag != want.Tag || got.Encoding != want.Encoding || got.SampleRate != want.SampleRate || len(got.Params) != 0 ||
		got.Chunk != 0 || got.Timestamp != 0 {
		t.Fatalf("got  %+v\nwant %+v", *got, *want)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := map[string]struct {
		in, want string
		is       error
	}{
		"base64":          {`{"event":"media","media":{"payload":"AAAA!AAA"}}`, "carrierx: media payload: illegal base64 data at input byte 4", nil},
		"not json":        {`event=media`, "carrierx: invalid JSON: unexpected 'e' at offset 0", wire.ErrSyntax},
		"empty":           {``, "carrierx: invalid JSON: unexpected end of input", wire.ErrSyntax},
		"truncated":       {`{"event":"media","media":{"payload":"AA`, "carrierx: invalid JSON: unexpected end of input", wire.ErrSyntax},
		"array":           {`["media"]`, "carrierx: invalid JSON: unexpected '[' at offset 0", wire.ErrSyntax},
		"no event":        {`{"media":{"payload":""}}`, `carrierx: missing field "event"`, wire.ErrMissing},
		"event not str":   {`{"event":7}`, "carrierx: event: wrong JSON type: want string, got number", wire.ErrType},
		"no media":        {`{"event":"media"}`, `carrierx: missing field "media"`, wire.ErrMissing},
		"media not obj":   {`{"event":"media","media":"AAAA"}`, "carrierx: media: wrong JSON type: want object, got string", wire.ErrType},
		"no payload":      {`{"event":"media","media":{"track":"inbound"}}`, `carrierx: media: missing field "payload"`, wire.ErrMissing},
		"payload number":  {`{"event":"media","media":{"payload":12}}`, "carrierx: media payload: wrong JSON type: want string, got number", wire.ErrType},
		"mark name int":   {`{"event":"mark","mark":{"name":1}}`, "carrierx: mark name: wrong JSON type: want string, got number", wire.ErrType},
		"mark not object": {`{"event":"mark","mark":[]}`, "carrierx: mark: wrong JSON type: want object, got array", wire.ErrType},
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
	if err := d.Decode([]byte(`{"event":"media","media":{"payload":"`+strings.Repeat("AAEC", 60)+`"}}`), &m); err != nil {
		t.Fatal(err)
	}
	first := &m.Payload[:1][0]
	if err := d.Decode([]byte(`{"event":"media","media":{"payload":"YWJjZA=="}}`), &m); err != nil {
		t.Fatal(err)
	}
	if &m.Payload[0] != first || string(m.Payload) != "abcd" {
		t.Fatalf("payload %q not decoded into the previous backing array", m.Payload)
	}
	if err := d.Decode([]byte(`{"event":"clear"}`), &m); err != nil {
		t.Fatal(err)
	}
	if m.Kind != stream.MsgClear || len(m.Payload) != 0 {
		t.Fatalf("after clear: %+v", m)
	}
	msg := []byte(`{"event":"media","media":{"payload":"` + strings.Repeat("AAEC", 53) + `"}}`)
	if n := testing.AllocsPerRun(100, func() { _ = d.Decode(msg, &m) }); n != 0 {
		t.Errorf("Decode of a media message allocates %v times", n)
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"event":"media","media":{"payload":"/38A"}}`,
		`{"event":"clear"}`,
		`{"event":"mark","mark":{"name":"m1"}}`,
		`{"event":"x"}`,
		`{"event":"media","media":{"payload":"AAAA!AAA"}}`,
		`{"event":"\u006dedia","media":{"payload":"\/38A"}}`,
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
		if err == nil && m.Kind != stream.MsgMedia && len(m.Payload) != 0 {
			t.Fatalf("%v message with payload", m.Kind)
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
	msg := New().AppendMedia(nil, 2, &info, &stream.Media{Payload: make([]byte, 160)})
	var m stream.AppMessage
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if err := d.Decode(msg, &m); err != nil {
			b.Fatal(err)
		}
	}
}
