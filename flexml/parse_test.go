package flexml

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func mustParse(t *testing.T, in string) *Document {
	t.Helper()
	doc, err := Parse("t.xml", []byte(in))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return doc
}

func TestParseDocument(t *testing.T) {
	in := `<?xml version="1.0" encoding="UTF-8"?>
<!-- a comment before the root -->
<Response>
  <!-- start recording -->
  <Start>
    <Stream url="wss://rec.example.com/audio" name="rec" track="both_tracks" maxLength="90.25"
            timestampStart="absolute" encoding="Audio/L16; rate = 16000" statusCallback="/status" statusCallbackMethod="get">
      <Parameter name="First Name" value="John"/>
      <Parameter name="Empty"/>
    </Stream>
    <Stream url="/side" audio_track="outbound_track"/>
  </Start>
  <Pause length="0.5"/>
  <Pause/>
  <Play loop="0">  https://example.com/hello.wav  </Play>
  <Play>audio/beep.ulaw</Play>
  <Stop>
    <Stream name="rec"/>
    <Stream/>
  </Stop>
  <Connect>
    <Stream url="wss://bot.example.com/"><Parameter name="lang" value="en"/></Stream>
  </Connect>
  <Redirect method="get">next.xml</Redirect>
</Response>
`
	want := &Document{
		Name: "t.xml",
		Verbs: []Verb{
			&Start{Pos: Pos{5, 3}, Streams: []*Stream{
				{
					Pos: Pos{6, 5}, URL: "wss://rec.example.com/audio", Name: "rec", Track: TrackBoth,
					MaxLength: 90*time.Second + 250*time.Millisecond, TimestampStart: "absolute",
					Encoding: EncodingL16, SampleRate: 16000,
					StatusCallback: "/status", StatusCallbackMethod: "GET",
					Parameters: []Parameter{
						{Pos: Pos{8, 7}, Name: "First Name", Value: "John"},
						{Pos: Pos{9, 7}, Name: "Empty", Value: ""},
					},
				},
				{
					Pos: Pos{11, 5}, URL: "/side", Track: TrackOutbound,
					TimestampStart: "relative", Encoding: EncodingMulaw, SampleRate: 8000, StatusCallbackMethod: "POST",
				},
			}},
			&Pause{Pos: Pos{13, 3}, Length: 500 * time.Millisecond},
			&Pause{Pos: Pos{14, 3}, Length: time.Second},
			&Play{Pos: Pos{15, 3}, URL: "https://example.com/hello.wav", Loop: 0},
			&Play{Pos: Pos{16, 3}, URL: "audio/beep.ulaw", Loop: 1},
			&Stop{Pos: Pos{17, 3}, Streams: []*Stream{
				{Pos: Pos{18, 5}, Name: "rec"},
				{Pos: Pos{19, 5}},
			}},
			&Connect{Pos: Pos{21, 3}, Stream: &Stream{
				Pos: Pos{22, 5}, URL: "wss://bot.example.com/", Track: TrackInbound,
				TimestampStart: "relative", Encoding: EncodingMulaw, SampleRate: 8000, StatusCallbackMethod: "POST",
				Parameters: []Parameter{{Pos: Pos{22, 42}, Name: "lang", Value: "en"}},
			}},
			&Redirect{Pos: Pos{24, 3}, Method: "GET", URL: "next.xml"},
		},
	}
	got := mustParse(t, in)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %s\nwant %s", dump(got), dump(want))
	}
}

func dump(d *Document) string {
	var b strings.Builder
	for _, v := range d.Verbs {
		fmt.Fprintf(&b, "\n  %T%+v", v, v)
		var streams []*Stream
		switch v := v.(type) {
		case *Start:
			streams = v.Streams
		case *Stop:
			streams = v.Streams
		case *Connect:
			streams = []*Stream{v.Stream}
		}
		for _, s := range streams {
			fmt.Fprintf(&b, "\n    %+v", s)
		}
	}
	for _, w := range d.Warnings {
		fmt.Fprintf(&b, "\n  warning: %v", w)
	}
	return b.String()
}

func TestParseDefaults(t *testing.T) {
	doc := mustParse(t, resp(
		`  <Start><Stream url="wss://a/"/></Start>`,
		`  <Reject/>`,
	))
	s := doc.Verbs[0].(*Start).Streams[0]
	if s.Track != TrackInbound || s.TimestampStart != "relative" || s.StatusCallbackMethod != "POST" ||
		s.MaxLength != 0 || s.Name != "" || s.StatusCallback != "" || s.Parameters != nil {
		t.Errorf("stream defaults: %+v", s)
	}
	if r := doc.Verbs[1].(*Reject); r.Reason != "rejected" || r.Code != 403 {
		t.Errorf("reject defaults: %+v", r)
	}
	if len(doc.Warnings) != 0 {
		t.Errorf("warnings: %v", doc.Warnings)
	}
}

func TestParseEmptyResponse(t *testing.T) {
	doc := mustParse(t, "<Response>\n  <!-- nothing to do -->\n</Response>")
	if len(doc.Verbs) != 0 || doc.Name != "t.xml" {
		t.Errorf("got %+v", doc)
	}
}

func TestParseNamespaceDeclarationsIgnored(t *testing.T) {
	doc := mustParse(t, `<Response xmlns="urn:flexml" xmlns:x="urn:x"><Hangup/></Response>`)
	if len(doc.Verbs) != 1 || doc.Verbs[0].VerbName() != "Hangup" {
		t.Errorf("got %+v", doc.Verbs)
	}
}

func TestTrackValues(t *testing.T) {
	for in, want := range map[string]Track{
		"inbound": TrackInbound, "inbound_track": TrackInbound,
		"outbound": TrackOutbound, "outbound_track": TrackOutbound,
		"both": TrackBoth, "both_tracks": TrackBoth,
		"mixed": TrackMixed, " mixed ": TrackMixed,
	} {
		for _, attr := range []string{"track", "audio_track"} {
			doc := mustParse(t, resp(`<Start><Stream url="wss://a/" `+attr+`="`+in+`"/></Start>`))
			if got := doc.Verbs[0].(*Start).Streams[0].Track; got != want {
				t.Errorf("%s=%q: got %q, want %q", attr, in, got, want)
			}
		}
	}
}

func TestStreamURLs(t *testing.T) {
	for _, u := range []string{"wss://a.example.com/x", "ws://127.0.0.1:8080/", "WSS://A/", "/media", "media/x", "//h/x"} {
		doc := mustParse(t, resp(`<Connect><Stream url="`+u+`"/></Connect>`))
		if got := doc.Verbs[0].(*Connect).Stream.URL; got != u {
			t.Errorf("url %q: got %q", u, got)
		}
	}
}

func TestPlayBodies(t *testing.T) {
	for _, u := range []string{"http://h/a.wav", "HTTPS://h/a.wav?x=1", "/var/audio/a.wav", "a.wav", `C:\audio\a.wav`, "a b.wav"} {
		doc := mustParse(t, resp(`<Play>`+u+`</Play>`))
		if got := doc.Verbs[0].(*Play).URL; got != u {
			t.Errorf("body %q: got %q", u, got)
		}
	}
	// Comments may split a body.
	doc := mustParse(t, resp("<Play>\n  http://h/<!-- x -->a.wav\n</Play>"))
	if got := doc.Verbs[0].(*Play).URL; got != "http://h/a.wav" {
		t.Errorf("split body: got %q", got)
	}
	doc = mustParse(t, resp("<Play><![CDATA[http://h/a.wav?x=1&y=2]]></Play>"))
	if got := doc.Verbs[0].(*Play).URL; got != "http://h/a.wav?x=1&y=2" {
		t.Errorf("CDATA body: got %q", got)
	}
}

func TestPauseLengths(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"0": 0, "2": 2 * time.Second, "1.5": 1500 * time.Millisecond, ".25": 250 * time.Millisecond,
		"007": 7 * time.Second, "0.000000001": 1, "0.0000000019": 1, " 3 ": 3 * time.Second,
		"9223372036": 9223372036 * time.Second,
	} {
		doc := mustParse(t, resp(`<Pause length="`+in+`"/>`))
		if got := doc.Verbs[0].(*Pause).Length; got != want {
			t.Errorf("length=%q: got %v, want %v", in, got, want)
		}
	}
	for _, in := range []string{"", ".", "1.", "+1", "1e3", "1,5", "1.2.3", "9223372037", "9223372036.9", "0x10"} {
		if _, err := Parse("t.xml", []byte(resp(`<Pause length="`+in+`"/>`))); err == nil {
			t.Errorf("length=%q: no error", in)
		}
	}
}

func TestRedirectMethod(t *testing.T) {
	for in, want := range map[string]string{"get": "GET", "Post": "POST", "GET": "GET"} {
		doc := mustParse(t, resp(`<Redirect method="`+in+`">https://h/next</Redirect>`))
		if r := doc.Verbs[0].(*Redirect); r.Method != want || r.URL != "https://h/next" {
			t.Errorf("method=%q: got %+v", in, r)
		}
	}
	doc := mustParse(t, resp(`<Redirect>/next</Redirect>`))
	if r := doc.Verbs[0].(*Redirect); r.Method != "POST" {
		t.Errorf("default method: %q", r.Method)
	}
}

func TestRejectCode(t *testing.T) {
	want := map[string]int{
		"redirect": 302, "forbidden": 403, "rejected": 403, "not-found": 404, "busy-here": 486,
		"bad-gateway": 502, "unavailable": 503, "busy": 600, "decline": 603, "does-not-exist": 604,
		"unwanted": 607, "intermediary-rejected": 608,
	}
	for reason, code := range want {
		got, ok := RejectCode(reason)
		if !ok || got != code {
			t.Errorf("RejectCode(%q) = %d, %v; want %d", reason, got, ok, code)
		}
		doc := mustParse(t, resp(`<Reject reason="`+reason+`"/>`))
		if r := doc.Verbs[0].(*Reject); r.Reason != reason || r.Code != code {
			t.Errorf("<Reject reason=%q>: got %+v", reason, r)
		}
		if !strings.Contains(rejectReasons, reason) {
			t.Errorf("rejectReasons lacks %q", reason)
		}
	}
	for _, reason := range []string{"", "Busy", "ok", "486"} {
		if code, ok := RejectCode(reason); ok {
			t.Errorf("RejectCode(%q) = %d, true", reason, code)
		}
	}
}

func TestDuplicateParameter(t *testing.T) {
	doc := mustParse(t, resp(
		`<Start><Stream url="wss://a/">`,
		`  <Parameter name="a" value="1"/>`,
		`  <Parameter name="b" value="2"/>`,
		`  <Parameter name="a" value="3"/>`,
		`  <Parameter name="a" value="4"/>`,
		`</Stream></Start>`,
	))
	got := doc.Verbs[0].(*Start).Streams[0].Parameters
	want := []Parameter{{Pos: Pos{3, 3}, Name: "a", Value: "4"}, {Pos: Pos{4, 3}, Name: "b", Value: "2"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parameters: %+v", got)
	}
	wantWarn := []string{
		`t.xml:5:3: <Parameter>: duplicate parameter name "a"; the last value wins`,
		`t.xml:6:3: <Parameter>: duplicate parameter name "a"; the last value wins`,
	}
	if w := errStrings(doc.Warnings); !reflect.DeepEqual(w, wantWarn) {
		t.Errorf("warnings:\n%s", strings.Join(w, "\n"))
	}
}

func TestUnreachable(t *testing.T) {
	doc := mustParse(t, resp(
		`  <Pause/>`,
		`  <Hangup/>`,
		`  <Play>a.wav</Play>`,
		`  <Redirect>/x</Redirect>`,
		`  <Reject/>`,
	))
	if len(doc.Verbs) != 5 {
		t.Fatalf("verbs: %d", len(doc.Verbs))
	}
	want := []string{
		`t.xml:4:3: <Play>: unreachable: follows <Hangup> at 3:3`,
		`t.xml:5:3: <Redirect>: unreachable: follows <Hangup> at 3:3`,
		`t.xml:6:3: <Reject>: unreachable: follows <Hangup> at 3:3`,
	}
	if w := errStrings(doc.Warnings); !reflect.DeepEqual(w, want) {
		t.Errorf("warnings:\n%s", strings.Join(w, "\n"))
	}
	for _, end := range []string{`<Reject reason="busy"/>`, `<Redirect>/x</Redirect>`} {
		doc := mustParse(t, resp(`  `+end, `  <Pause/>`))
		if len(doc.Warnings) != 1 || !strings.Contains(doc.Warnings[0].Msg, "unreachable") ||
			doc.Warnings[0].Line != 3 {
			t.Errorf("after %s: warnings %v", end, doc.Warnings)
		}
	}
	// Connect blocks but is not the end: no warning.
	doc = mustParse(t, resp(`  <Connect><Stream url="/a"/></Connect>`, `  <Hangup/>`))
	if len(doc.Warnings) != 0 {
		t.Errorf("after Connect: %v", doc.Warnings)
	}
}

func errStrings(errs []*Error) []string {
	s := make([]string, len(errs))
	for i, e := range errs {
		s[i] = e.Error()
	}
	return s
}

func TestNotSupported(t *testing.T) {
	for _, in := range []string{
		`<Dial><Conference>x</Conference></Dial>`, `<Dial><Queue>support</Queue></Dial>`, `<Record transcribe="true"/>`, `<Sms>x</Sms>`, `<Override/>`,
		`<Play><File/></Play>`, `<Gather input="speech"/>`,
	} {
		_, err := Parse("t.xml", []byte(resp(`<Pause/>`, in, `<Foo/>`)))
		if !errors.Is(err, ErrNotSupported) {
			t.Errorf("%s: errors.Is(err, ErrNotSupported) is false: %v", in, err)
		}
	}
	_, err := Parse("t.xml", []byte(resp(`<Foo/>`)))
	if errors.Is(err, ErrNotSupported) {
		t.Errorf("unknown verb wraps ErrNotSupported: %v", err)
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		e    *Error
		want string
	}{
		{&Error{File: "app.xml", Line: 4, Col: 5, Element: "Stream", Attr: "url", Msg: `attribute "url" is required in <Start>`},
			`app.xml:4:5: <Stream>: attribute "url" is required in <Start>`},
		{&Error{File: "https://h/a.xml", Line: 1, Col: 2, Msg: "XML syntax error: x"},
			`https://h/a.xml:1:2: XML syntax error: x`},
		{&Error{Line: 3, Col: 1, Element: "Say", Msg: "m"}, `3:1: <Say>: m`},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
	list := ErrorList{tests[0].e, tests[1].e}
	if got := list.Error(); got != tests[0].want+"\n"+tests[1].want {
		t.Errorf("ErrorList.Error() = %q", got)
	}
	var target *Error
	if !errors.As(error(list), &target) || target != tests[0].e {
		t.Errorf("errors.As did not find the first *Error")
	}
	if u := list.Unwrap(); len(u) != 2 || u[1] != error(tests[1].e) {
		t.Errorf("Unwrap = %v", u)
	}
}

func TestErrorFields(t *testing.T) {
	_, err := Parse("app.xml", []byte(resp(`  <Start>`, `    <Stream url="wss://a/?x" />`, `  </Start>`)))
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 1 {
		t.Fatalf("err = %v", err)
	}
	want := Error{File: "app.xml", Line: 3, Col: 5, Element: "Stream", Attr: "url",
		Msg: `attribute "url" takes no parameters (found "?"); use <Parameter> children instead`}
	got := *list[0]
	got.cause = nil
	if got != want {
		t.Errorf("got %+v", got)
	}
}

func TestPositions(t *testing.T) {
	tests := map[string]struct {
		in   string
		want []Pos
	}{
		"LF":         {"<Response>\n  <Hangup/>\n\t<Pause/></Response>", []Pos{{2, 3}, {3, 2}}},
		"CRLF":       {"<Response>\r\n  <Hangup/>\r\n\r\n <Pause/></Response>", []Pos{{2, 3}, {4, 2}}},
		"lone CR":    {"<Response>\r  <Hangup/>\r<Pause/></Response>", []Pos{{2, 3}, {3, 1}}},
		"BOM":        {"\ufeff<Response><Hangup/>\n<Pause/></Response>", []Pos{{1, 11}, {2, 1}}},
		"multibyte":  {"<Response><!-- été ☎ 😀 --><Hangup/><Pause/></Response>", []Pos{{1, 27}, {1, 36}}},
		"same line":  {"<Response><Hangup/><Pause/></Response>", []Pos{{1, 11}, {1, 20}}},
		"after decl": {"<?xml version=\"1.0\"?><Response>\n<Hangup/>\n<Pause/></Response>", []Pos{{2, 1}, {3, 1}}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			doc, err := Parse("t.xml", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			var got []Pos
			for _, v := range doc.Verbs {
				got = append(got, v.Position())
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestVerbNames(t *testing.T) {
	verbs := []Verb{&Start{}, &Stop{}, &Connect{}, &Pause{}, &Play{}, &Hangup{}, &Reject{}, &Redirect{}}
	want := []string{"Start", "Stop", "Connect", "Pause", "Play", "Hangup", "Reject", "Redirect"}
	for i, v := range verbs {
		if v.VerbName() != want[i] {
			t.Errorf("%T: %q", v, v.VerbName())
		}
	}
}

func TestLeadingWhitespaceBeforeDeclaration(t *testing.T) {
	_, err := Parse("a.xml", []byte("\n\n<?xml version=\"1.0\"?>\n<Response>\n  <Start><Stream/></Start>\n</Response>\n"))
	want := `a.xml:5:10: <Stream>: attribute "url" is required in <Start>`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
	if _, err := Parse("a.xml", []byte("\n <?xml version=\"1.0\"?><Response><Hangup/></Response>")); err != nil {
		t.Fatal(err)
	}
}

// The seed's own examples, as CarrierX prints them (their <Stream ...> inside
// <Start> and <Stop> is never closed), parse to what they mean, with a
// warning for each unclosed Stream; <Connect><Stream name> keeps its name.
func TestSeedExamplesVerbatim(t *testing.T) {
	in := `<Response>
<Start>
<Stream url="wss://example.com" name="myStream">
</Start>
<Stop>
<Stream name="myStream">
</Stop>
<Connect>
<Stream url="wss://example.com" name="myStream">
</Stream>
</Connect>
</Response>`
	doc := mustParse(t, in)
	want := []Verb{
		&Start{Pos: Pos{2, 1}, Streams: []*Stream{{Pos: Pos{3, 1}, URL: "wss://example.com", Name: "myStream",
			Track: TrackInbound, TimestampStart: "relative", Encoding: EncodingMulaw, SampleRate: 8000, StatusCallbackMethod: "POST"}}},
		&Stop{Pos: Pos{5, 1}, Streams: []*Stream{{Pos: Pos{6, 1}, Name: "myStream"}}},
		&Connect{Pos: Pos{8, 1}, Stream: &Stream{Pos: Pos{9, 1}, URL: "wss://example.com", Name: "myStream",
			Track: TrackInbound, TimestampStart: "relative", Encoding: EncodingMulaw, SampleRate: 8000, StatusCallbackMethod: "POST"}},
	}
	if !reflect.DeepEqual(doc.Verbs, want) {
		t.Errorf("got %s", dump(doc))
	}
	w := errStrings(doc.Warnings)
	if len(w) != 2 || !strings.Contains(w[0], "t.xml:3:1: <Stream>: <Stream> is not closed: closed by </Start>") ||
		!strings.Contains(w[1], "t.xml:6:1: <Stream>: <Stream> is not closed: closed by </Stop>") {
		t.Errorf("warnings %q", w)
	}
	// Anything else left open is still an error.
	if _, err := Parse("t.xml", []byte(`<Response><Start><Stream url="wss://a"><Parameter name="x" value="1"></Start></Response>`)); err == nil {
		t.Error("an unclosed <Parameter> was accepted")
	}
}
