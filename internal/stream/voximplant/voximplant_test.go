package voximplant

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
	Tag:        "t1",
	Tracks:     []stream.Track{stream.TrackInbound},
	Params:     []stream.Param{{Name: "k", Value: "v"}},
	Encoding:   "PCM16",
	SampleRate: 16000,
}

func TestEncode(t *testing.T) {
	d := New()
	if d.Name() != "voximplant" || d.FirstSequence() != 0 {
		t.Fatalf("Name %q FirstSequence %d", d.Name(), d.FirstSequence())
	}
	ulaw := info
	ulaw.Params = nil
	ulaw.Encoding = "ULAW"
	ulaw.SampleRate = 8000
	tests := map[string]struct {
		got  func(dst []byte) []byte
		want string
	}{
		"start": {func(dst []byte) []byte { return d.AppendStart(dst, 0, &info) },
			`{"event":"start","sequenceNumber":0,"start":{"tag":"t1","mediaFormat":{"encoding":"PCM16","sampleRate":16000},"customParameters":{"k":"v"}}}`},
		"start no params": {func(dst []byte) []byte { return d.AppendStart(dst, 0, &ulaw) },
			`{"event":"start","sequenceNumber":0,"start":{"tag":"t1","mediaFormat":{"encoding":"ULAW","sampleRate":8000},"customParameters":{}}}`},
		"media": {func(dst []byte) []byte {
			return d.AppendMedia(dst, 1, &info, &stream.Media{Chunk: 1, Timestamp: 320, Payload: []byte{0xff, 0x7f, 0x00}})
		}, `{"event":"media","sequenceNumber":1,"media":{"tag":"t1","chunk":1,"timestamp":320,"payload":"/38A"}}`},
		"media large": {func(dst []byte) []byte {
			return d.AppendMedia(dst, 70000, &info, &stream.Media{Chunk: 65537, Timestamp: 1766400000000, Payload: []byte("abcd")})
		}, `{"event":"media","sequenceNumber":70000,"media":{"tag":"t1","chunk":65537,"timestamp":1766400000000,"payload":"YWJjZA=="}}`},
		"stop": {func(dst []byte) []byte {
			return d.AppendStop(dst, 2, &info, &stream.StopInfo{BytesSent: 21100, DurationMs: 124})
		}, `{"event":"stop","sequenceNumber":2,"stop":{"tag":"t1","mediaInfo":{"bytesSent":21100,"duration":124}}}`},
		"stop nil info": {func(dst []byte) []byte { return d.AppendStop(dst, 3, &info, nil) },
			`{"event":"stop","sequenceNumber":3,"stop":{"tag":"t1","mediaInfo":{"bytesSent":0,"duration":0}}}`},
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

func TestNoConnectedDTMFMark(t *testing.T) {
	d := New()
	dst := []byte("keep")
	if out, ok := d.AppendConnected(dst, &info); ok || string(out) != "keep" {
		t.Errorf("AppendConnected = %q, %v", out, ok)
	}
	if out, ok := d.AppendDTMF(dst, 5, &info, '5'); ok || string(out) != "keep" {
		t.Errorf("AppendDTMF = %q, %v", out, ok)
	}
	if out, ok := d.AppendMark(dst, 5, &stream.Info{}, "x"); ok || string(out) != "keep" {
		t.Errorf("AppendMark = %q, %v", out, ok)
	}
}

func TestEncodeEscaping(t *testing.T) {
	in := info
	in.Tag = "t\"1\\"
	in.Params = []stream.Param{
		{Name: `quote"d`, Value: `back\slash`},
		{Name: "ctl\x00\b\f", Value: "cr\r"},
		{Name: "Zoë", Value: "☎ 😀"},
	}
	got := New().AppendStart(nil, 0, &in)
	want := `{"event":"start","sequenceNumber":0,"start":{"tag":"t\"1\\","mediaFormat":{"encoding":"PCM16","sampleRate":16000},"customParameters":{"quote\"d":"back\\slash","ctl\u0000\b\f":"cr\r","Zoë":"☎ 😀"}}}`
	if string(got) != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	var parsed struct {
		Start struct {
			Tag              string            `json:"tag"`
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
	if parsed.Start.Tag != in.Tag || !reflect.DeepEqual(parsed.Start.CustomParameters, wantParams) {
		t.Errorf("parsed %+v", parsed)
	}
	// What the gateway sends, it reads back the same.
	var m stream.AppMessage
	if err := New().Decode(got, &m); err != nil {
		t.Fatal(err)
	}
	if m.Tag != in.Tag || !reflect.DeepEqual(m.Params, in.Params) {
		t.Errorf("decoded tag %q params %q", m.Tag, m.Params)
	}
}

func TestAppendMediaNoAlloc(t *testing.T) {
	d := New()
	m := &stream.Media{Chunk: 7, Timestamp: 1766400000000, Payload: make([]byte, 160)}
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
		"start": {`{"event":"start","sequenceNumber":0,"start":{"tag":"t1","mediaFormat":{"encoding":"PCM16","sampleRate":16000},"customParameters":{"k":"v","a b":"c"}}}`,
			stream.AppMessage{Kind: stream.MsgStart, Event: "start", Tag: "t1", Encoding: "PCM16", SampleRate: 16000, Params: []stream.Param{{Name: "k", Value: "v"}, {Name: "a b", Value: "c"}}}},
		"start params as string": {`{"event":"start","sequenceNumber":"0","start":{"tag":"t1","mediaFormat":{"encoding":"ULAW","sampleRate":8000},"customParameters":"{\"test\":\"123\",\"q\":\"a\\\"b\"}"}}`,
			stream.AppMessage{Kind: stream.MsgStart, Event: "start", Tag: "t1", Encoding: "ULAW", SampleRate: 8000, Params: []stream.Param{{Name: "test", Value: "123"}, {Name: "q", Value: `a"b`}}}},
		"start mulaw alias": {`{"event":"start","start":{"mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":"8000","channels":1}}}`,
			stream.AppMessage{Kind: stream.MsgStart, Event: "start", Encoding: "ULAW", SampleRate: 8000}},
		"start alaw alias": {`{"event":"start","start":{"tag":"x","mediaFormat":{"encoding":"audio/x-alaw","sampleRate":8000}}}`,
			stream.AppMessage{Kind: stream.MsgStart, Event: "start", Tag: "x", Encoding: "ALAW", SampleRate: 8000}},
		"start other encoding as sent": {`{"event":"start","start":{"mediaFormat":{"encoding":"pcm8","sampleRate":8000}}}`,
			stream.AppMessage{Kind: stream.MsgStart, Event: "start", Encoding: "pcm8", SampleRate: 8000}},
		"start odd params": {`{"event":"start","start":{"customParameters":{"n":12,"b":true,"z":null,"o":{"x":1},"\u00e9":"\u00e9"}}}`,
			stream.AppMessage{Kind: stream.MsgStart, Event: "start", Params: []stream.Param{{Name: "n", Value: "12"}, {Name: "b", Value: "true"}, {Name: "z"}, {Name: "o", Value: `{"x":1}`}, {Name: "é", Value: "é"}}}},
		"start null params": {`{"event":"start","start":{"customParameters":null}}`,
			stream.AppMessage{Kind: stream.MsgStart, Event: "start"}},
		"start empty string params": {`{"event":"start","start":{"customParameters":""}}`,
			stream.AppMessage{Kind: stream.MsgStart, Event: "start"}},
		"media numbers": {`{"event":"media","sequenceNumber":1,"media":{"tag":"t1","chunk":1,"timestamp":320,"payload":"/38A"}}`,
			stream.AppMessage{Kind: stream.MsgMedia, Event: "media", Tag: "t1", Chunk: 1, Timestamp: 320, Payload: []byte{0xff, 0x7f, 0}}},
		"media strings": {`{"event":"media","sequenceNumber":"7","media":{"tag":"t1","chunk":"18446744073709551615","timestamp":"1766400000000","payload":"YWJjZA=="}}`,
			stream.AppMessage{Kind: stream.MsgMedia, Event: "media", Tag: "t1", Chunk: 18446744073709551615, Timestamp: 1766400000000, Payload: []byte("abcd")}},
		"media untagged": {`{"media":{"payload":"YWJjZA=="},"event":"media"}`,
			stream.AppMessage{Kind: stream.MsgMedia, Event: "media", Payload: []byte("abcd")}},
		"stop":         {`{"event":"stop","sequenceNumber":9,"stop":{"tag":"t1","mediaInfo":{"bytesSent":1,"duration":2}}}`, stream.AppMessage{Kind: stream.MsgStop, Event: "stop", Tag: "t1"}},
		"stop no body": {`{"event":"stop"}`, stream.AppMessage{Kind: stream.MsgStop, Event: "stop"}},
		"unknown":      {`{"event":"clear"}`, stream.AppMessage{Kind: stream.MsgUnknown, Event: "clear"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			// A previous message leaves state that Decode must reset.
			m := stream.AppMessage{Kind: stream.MsgMark, Name: "old", Tag: "old", Encoding: "old", SampleRate: 1, Chunk: 1, Timestamp: 1,
				Params: []stream.Param{{Name: "old"}}, Payload: []byte("old")}
			if err := New().Decode([]byte(tc.in), &m); err != nil {
				t.Fatalf("Decode(%s): %v", tc.in, err)
			}
			if m.Kind != tc.want.Kind || m.Event != tc.want.Event || m.Name != "" || m.Tag != tc.want.Tag ||
				m.Encoding != tc.want.Encoding || m.SampleRate != tc.want.SampleRate || m.Chunk != tc.want.Chunk ||
				m.Timestamp != tc.want.Timestamp || !bytes.Equal(m.Payload, tc.want.Payload) ||
				len(m.Params) != len(tc.want.Params) || (len(m.Params) > 0 && !reflect.DeepEqual(m.Params, tc.want.Params)) {
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
		"not json":             {`{"event":"start"`, "voximplant: invalid JSON: unexpected end of input", wire.ErrSyntax},
		"no event":             {`{"start":{}}`, `voximplant: missing field "event"`, wire.ErrMissing},
		"event array":          {`{"event":["start"]}`, "voximplant: event: wrong JSON type: want string, got array", wire.ErrType},
		"no start":             {`{"event":"start"}`, `voximplant: missing field "start"`, wire.ErrMissing},
		"start not object":     {`{"event":"start","start":1}`, "voximplant: start: wrong JSON type: want object, got number", wire.ErrType},
		"tag number":           {`{"event":"start","start":{"tag":1}}`, "voximplant: start tag: wrong JSON type: want string, got number", wire.ErrType},
		"format not object":    {`{"event":"start","start":{"mediaFormat":"ULAW"}}`, "voximplant: start mediaFormat: wrong JSON type: want object, got string", wire.ErrType},
		"encoding number":      {`{"event":"start","start":{"mediaFormat":{"encoding":0}}}`, "voximplant: start mediaFormat: encoding: wrong JSON type: want string, got number", wire.ErrType},
		"rate negative":        {`{"event":"start","start":{"mediaFormat":{"sampleRate":-8000}}}`, "voximplant: start mediaFormat: sampleRate: not an unsigned integer: -8000", wire.ErrNotUint},
		"rate too large":       {`{"event":"start","start":{"mediaFormat":{"sampleRate":4294967296}}}`, "voximplant: start mediaFormat: sampleRate: out of range: 4294967296", wire.ErrRange},
		"params array":         {`{"event":"start","start":{"customParameters":["a"]}}`, "voximplant: start customParameters: wrong JSON type: want object, got array", wire.ErrType},
		"params string no obj": {`{"event":"start","start":{"customParameters":"abc"}}`, "voximplant: start customParameters: invalid JSON: unexpected 'a' at offset 0", wire.ErrSyntax},
		"params string broken": {`{"event":"start","start":{"customParameters":"{\"a\":}"}}`, "voximplant: start customParameters: invalid JSON: unexpected '}' at offset 5", wire.ErrSyntax},
		"no media":             {`{"event":"media"}`, `voximplant: missing field "media"`, wire.ErrMissing},
		"media not object":     {`{"event":"media","media":null}`, "voximplant: media: wrong JSON type: want object, got null", wire.ErrType},
		"chunk negative":       {`{"event":"media","media":{"chunk":-1,"payload":""}}`, "voximplant: media chunk: not an unsigned integer: -1", wire.ErrNotUint},
		"chunk text":           {`{"event":"media","media":{"chunk":"one","payload":""}}`, `voximplant: media chunk: not an unsigned integer: "one"`, wire.ErrNotUint},
		"timestamp fraction":   {`{"event":"media","media":{"timestamp":1.5,"payload":""}}`, "voximplant: media timestamp: not an unsigned integer: 1.5", wire.ErrNotUint},
		"timestamp overflow":   {`{"event":"media","media":{"timestamp":"18446744073709551616","payload":""}}`, `voximplant: media timestamp: not an unsigned integer: "18446744073709551616"`, wire.ErrNotUint},
		"no payload":           {`{"event":"media","media":{"tag":"t1","chunk":1}}`, `voximplant: media: missing field "payload"`, wire.ErrMissing},
		"base64":               {`{"event":"media","media":{"tag":"t1","payload":"AAAA!AAA"}}`, "voximplant: media payload: illegal base64 data at input byte 4", nil},
		"stop tag number":      {`{"event":"stop","stop":{"tag":5}}`, "voximplant: stop tag: wrong JSON type: want string, got number", wire.ErrType},
		"stop not object":      {`{"event":"stop","stop":"t1"}`, "voximplant: stop: wrong JSON type: want object, got string", wire.ErrType},
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
	msg := mediaMessage()
	if err := d.Decode(msg, &m); err != nil {
		t.Fatal(err)
	}
	first := &m.Payload[0]
	if err := d.Decode(msg, &m); err != nil {
		t.Fatal(err)
	}
	if &m.Payload[0] != first || len(m.Payload) != 160 || m.Tag != "t1" {
		t.Fatalf("payload not decoded into the previous backing array")
	}
	if n := testing.AllocsPerRun(100, func() { _ = d.Decode(msg, &m) }); n != 0 {
		t.Errorf("Decode of a media message allocates %v times", n)
	}
}

func mediaMessage() []byte {
	return New().AppendMedia(nil, 1, &info, &stream.Media{Chunk: 1, Timestamp: 320, Payload: bytes.Repeat([]byte{0x55}, 160)})
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"event":"start","sequenceNumber":0,"start":{"tag":"t1","mediaFormat":{"encoding":"PCM16","sampleRate":16000},"customParameters":{"k":"v"}}}`,
		`{"event":"start","start":{"customParameters":"{\"test\":\"123\"}","mediaFormat":{"encoding":"audio/x-mulaw","sampleRate":"8000"}}}`,
		`{"event":"media","sequenceNumber":"1","media":{"tag":"t1","chunk":"1","timestamp":320,"payload":"/38A"}}`,
		`{"event":"stop","stop":{"tag":"t1"}}`,
		`{"event":"x"}`,
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
		if err == nil && m.Kind != stream.MsgStart && (len(m.Params) != 0 || m.Encoding != "" || m.SampleRate != 0) {
			t.Fatalf("%v message with start fields: %+v", m.Kind, m)
		}
		if err == nil && m.Kind == stream.MsgStart && strings.Contains(m.Encoding, "/x-") {
			if e := strings.ToLower(m.Encoding); e == "audio/x-mulaw" || e == "audio/x-alaw" {
				t.Fatalf("alias %q not normalised", m.Encoding)
			}
		}
	})
}

func BenchmarkAppendMedia(b *testing.B) {
	d := New()
	m := &stream.Media{Chunk: 7, Timestamp: 1120, Payload: make([]byte, 160)}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf = d.AppendMedia(buf[:0], uint64(i), &info, m)
	}
}

func BenchmarkDecodeMedia(b *testing.B) {
	d := New()
	msg := mediaMessage()
	var m stream.AppMessage
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if err := d.Decode(msg, &m); err != nil {
			b.Fatal(err)
		}
	}
}
