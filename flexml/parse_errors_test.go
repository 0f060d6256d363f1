package flexml

import (
	"errors"
	"strings"
	"testing"
)

// resp wraps lines in <Response>; the first line given is line 2.
func resp(lines ...string) string {
	return "<Response>\n" + strings.Join(lines, "\n") + "\n</Response>"
}

func TestParseErrors(t *testing.T) {
	tests := map[string]struct {
		in   string
		want []string
	}{
		// Root element and XML syntax.
		"root not Response": {`<Foo/>`, []string{
			`t.xml:1:1: <Foo>: root element must be <Response>`}},
		"root lower case": {"<?xml version=\"1.0\"?>\n<response/>", []string{
			`t.xml:2:1: <response>: root element must be <Response>`}},
		"empty document": {``, []string{
			`t.xml:1:1: document has no root element; want <Response>`}},
		"only a comment": {"<!-- nothing -->\n", []string{
			`t.xml:2:1: document has no root element; want <Response>`}},
		"two roots": {"<Response/>\n<Response/>", []string{
			`t.xml:2:1: <Response>: only one root element is allowed`}},
		"text outside root": {"<Response/>\nhello", []string{
			`t.xml:2:1: text "hello" outside the root element`}},
		"text in Response": {resp("  <Hangup/> hello"), []string{
			`t.xml:2:13: <Response>: unexpected text "hello"`}},
		"long text is shortened": {resp("  abcdefghijklmnopqrstuvwxyz0123"), []string{
			`t.xml:2:3: <Response>: unexpected text "abcdefghijklmnopqrstuvwx…"`}},
		"mismatched end tag": {resp("  <Start>"), []string{
			`t.xml:3:1: XML syntax error: element <Start> at 2:3 closed by </Response>`}},
		"unquoted attribute": {resp(`  <Pause length=2/>`), []string{
			`t.xml:2:17: XML syntax error: unquoted or missing attribute value in element`}},
		"unknown entity": {resp(`  <Play>&nbsp;</Play>`), []string{
			`t.xml:2:14: XML syntax error: invalid character entity &nbsp;`}},
		"invalid UTF-8": {resp("  <Play>\xff</Play>"), []string{
			`t.xml:2:9: XML syntax error: invalid UTF-8`}},
		"unclosed at end": {"<Response>\n  <Hangup/>", []string{
			`t.xml:2:12: XML syntax error: unexpected end of document: <Response> at 1:1 is not closed`}},
		"cut inside a tag": {"<Response>\n  <Pause\n", []string{
			`t.xml:3:1: XML syntax error: unexpected EOF`}},
		"stray end tag": {"<Response/>\n</Start>", []string{
			`t.xml:2:1: XML syntax error: unexpected end element </Start>`}},
		"late XML declaration": {"<Response>\n<?xml version=\"1.0\"?>\n</Response>", []string{
			`t.xml:2:1: XML syntax error: the XML declaration is allowed only at the start of the document`}},
		"latin1": {"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<Response/>", []string{
			`t.xml:1:1: unsupported encoding "ISO-8859-1": FlexML documents must be UTF-8`}},
		"doctype": {"<!DOCTYPE Response>\n<Response/>", []string{
			`t.xml:1:1: directives such as <!DOCTYPE> are not allowed`}},
		"errors before a syntax error are kept": {"<Response>\n  <Foo/>\n  <Start>\n</Response>", []string{
			`t.xml:2:3: <Foo>: unknown verb <Foo>`,
			`t.xml:4:1: XML syntax error: element <Start> at 3:3 closed by </Response>`}},
		"too deep": {"<Response>" + strings.Repeat("<a>", 64), []string{
			`t.xml:1:200: <a>: elements nested more than 64 deep`}},
		"duplicate attribute": {resp(`  <Pause length="1" length="2"/>`), []string{
			`t.xml:2:3: <Pause>: duplicate attribute "length"`}},

		// Unknown and unsupported elements and attributes.
		"unknown verb": {resp(`  <Foo/>`), []string{
			`t.xml:2:3: <Foo>: unknown verb <Foo>`}},
		"verb in wrong case": {resp(`  <hangup/>`), []string{
			`t.xml:2:3: <hangup>: unknown verb <hangup>; did you mean <Hangup>?`}},
		"prefixed verb": {resp(`  <x:Hangup xmlns:x="urn:x"/>`), []string{
			`t.xml:2:3: <x:Hangup>: unknown verb <x:Hangup>`}},
		"unknown attribute": {resp(`  <Pause foo="1"/>`), []string{
			`t.xml:2:3: <Pause>: unknown attribute "foo"; allowed: length`}},
		"attribute in wrong case": {resp(`  <Pause Length="1"/>`), []string{
			`t.xml:2:3: <Pause>: unknown attribute "Length"; did you mean "length"?`}},
		"prefixed attribute": {resp(`  <Pause xmlns:x="urn:x" x:length="1"/>`), []string{
			`t.xml:2:3: <Pause>: unknown attribute "x:length"; allowed: length`}},
		"attribute on Response": {"<Response version=\"1\">\n</Response>", []string{
			`t.xml:1:1: <Response>: unknown attribute "version": <Response> takes no attributes`}},
		"Dial Client": {resp(`  <Dial><Client>bob</Client></Dial>`), []string{
			`t.xml:2:9: <Client>: <Client> in <Dial> is not supported yet; dial a <Sip> URI or a <Number>`}},
		"verb nested in Gather": {resp(`  <Gather numDigits="1"><Hangup/></Gather>`), []string{
			`t.xml:2:25: <Hangup>: <Hangup> cannot be nested in <Gather>`}},
		"Sms": {resp(`  <Sms to="+1555">hi</Sms>`), []string{
			`t.xml:2:3: <Sms>: <Sms> is not supported yet`}},
		"Override": {resp(`  <Override statusCallbackUrl="https://x/"/>`), []string{
			`t.xml:2:3: <Override>: <Override> is not supported yet`}},
		"Play File": {resp(`  <Play><File file_sid="abc"/></Play>`), []string{
			`t.xml:2:9: <File>: <File> is not supported yet`}},
		"Play Dtmf and URL": {resp(`  <Play>a.wav<Dtmf>12</Dtmf></Play>`), []string{
			`t.xml:2:3: <Play>: use either digits to send or the URL of the audio, not both`}},
		"Number outside Dial": {resp(`  <Number>+1555</Number>`), []string{
			`t.xml:2:3: <Number>: <Number> is not a verb; it belongs in <Dial>`}},

		// Start, Stop and Connect.
		"Start attribute": {resp(`  <Start action="/next"><Stream url="wss://h/"/></Start>`), []string{
			`t.xml:2:3: <Start>: unknown attribute "action": <Start> takes no attributes`}},
		"Connect attribute": {resp(`  <Connect method="GET"><Stream url="wss://h/"/></Connect>`), []string{
			`t.xml:2:3: <Connect>: unknown attribute "method": <Connect> takes no attributes`}},
		"Stop attribute": {resp(`  <Stop name="a"><Stream name="a"/></Stop>`), []string{
			`t.xml:2:3: <Stop>: unknown attribute "name": <Stop> takes no attributes`}},
		"Start nested in Play": {resp(`  <Play>a.wav<Start><Stream url="wss://h/"/></Start></Play>`), []string{
			`t.xml:2:14: <Start>: <Start> cannot be nested in <Play>`}},
		"Connect nested in Start": {resp(`  <Start><Stream url="wss://h/"/><Connect/></Start>`), []string{
			`t.xml:2:34: <Connect>: <Connect> cannot be nested in <Start>`}},
		"Stop nested in Stream": {resp(`  <Start><Stream url="wss://h/"><Stop/></Stream></Start>`), []string{
			`t.xml:2:33: <Stop>: <Stop> cannot be nested in <Stream>`}},
		"empty Start": {resp(`  <Start/>`), []string{
			`t.xml:2:3: <Start>: must contain at least one <Stream>`}},
		"Start with other noun only": {resp(`  <Start><Parameter name="a"/></Start>`), []string{
			`t.xml:2:3: <Start>: must contain at least one <Stream>`,
			`t.xml:2:10: <Parameter>: <Parameter> is not allowed in <Start>; it belongs in <Stream>`}},
		"empty Stop": {resp(`  <Stop></Stop>`), []string{
			`t.xml:2:3: <Stop>: must contain at least one <Stream>`}},
		"empty Connect": {resp(`  <Connect/>`), []string{
			`t.xml:2:3: <Connect>: must contain exactly one <Stream>`}},
		"Connect with two streams": {resp(`  <Connect>`, `    <Stream url="wss://a/"/>`, `    <Stream url="wss://b/"/>`, `  </Connect>`), []string{
			`t.xml:2:3: <Connect>: must contain exactly one <Stream>, found 2`}},
		"text in Start": {resp(`  <Start>`, `    go <Stream url="wss://a/"/>`, `  </Start>`), []string{
			`t.xml:3:5: <Start>: unexpected text "go"`}},
		"unknown noun": {resp(`  <Start><Strem url="wss://a/"/></Start>`), []string{
			`t.xml:2:3: <Start>: must contain at least one <Stream>`,
			`t.xml:2:10: <Strem>: unknown noun <Strem> in <Start>`}},
		"noun in wrong case": {resp(`  <Start><stream url="wss://a/"/><Stream url="wss://a/"/></Start>`), []string{
			`t.xml:2:10: <stream>: unknown noun <stream> in <Start>; did you mean <Stream>?`}},

		// Stream placement and attributes.
		"Stream at top level": {resp(`  <Stream url="wss://a/"/>`), []string{
			`t.xml:2:3: <Stream>: <Stream> is not a verb; it belongs in <Start>, <Stop> or <Connect>`}},
		"Stream in Pause": {resp(`  <Pause><Stream url="wss://a/"/></Pause>`), []string{
			`t.xml:2:10: <Stream>: <Stream> is not allowed in <Pause>; it belongs in <Start>, <Stop> or <Connect>`}},
		"url missing in Start": {resp(`  <Start>`, `    <Stream name="a"/>`, `  </Start>`), []string{
			`t.xml:3:5: <Stream>: attribute "url" is required in <Start>`}},
		"url missing in Connect": {resp(`  <Connect><Stream/></Connect>`), []string{
			`t.xml:2:12: <Stream>: attribute "url" is required in <Connect>`}},
		"url in Stop": {resp(`  <Stop><Stream url="wss://a/"/></Stop>`), []string{
			`t.xml:2:9: <Stream>: attribute "url" is not allowed in <Stop>; only "name" is`}},
		"track in Stop": {resp(`  <Stop><Stream name="a" track="both"/></Stop>`), []string{
			`t.xml:2:9: <Stream>: attribute "track" is not allowed in <Stop>; only "name" is`}},
		"unknown attribute in Stop": {resp(`  <Stop><Stream id="a"/></Stop>`), []string{
			`t.xml:2:9: <Stream>: unknown attribute "id"; allowed: name`}},
		"Parameter in Stop": {resp(`  <Stop><Stream name="a"><Parameter name="x"/></Stream></Stop>`), []string{
			`t.xml:2:26: <Parameter>: <Parameter> is not allowed in a <Stream> inside <Stop>`}},
		"empty name": {resp(`  <Stop><Stream name=""/></Stop>`), []string{
			`t.xml:2:9: <Stream>: attribute "name" must not be empty`}},
		"unknown Stream attribute": {resp(`  <Start><Stream url="wss://a/" bogus="1"/></Start>`), []string{
			`t.xml:2:10: <Stream>: unknown attribute "bogus"; allowed: url, name, track, audio_track, maxLength, timestampStart, encoding, statusCallback, statusCallbackMethod`}},
		"bad Stream encoding": {resp(`  <Start><Stream url="wss://a/" encoding="audio/opus"/></Start>`), []string{
			`t.xml:2:10: <Stream>: invalid encoding "audio/opus"; allowed: audio/x-mulaw, audio/l16;rate=8000, audio/l16;rate=16000`}},
		"L16 without a rate": {resp(`  <Connect><Stream url="wss://a/" encoding="audio/l16"/></Connect>`), []string{
			`t.xml:2:12: <Stream>: invalid encoding "audio/l16"; allowed: audio/x-mulaw, audio/l16;rate=8000, audio/l16;rate=16000`}},
		"L16 at 48 kHz": {resp(`  <Start><Stream url="wss://a/" encoding="audio/l16;rate=48000"/></Start>`), []string{
			`t.xml:2:10: <Stream>: invalid encoding "audio/l16;rate=48000"; allowed: audio/x-mulaw, audio/l16;rate=8000, audio/l16;rate=16000`}},
		"encoding in Stop": {resp(`  <Stop><Stream name="s" encoding="audio/l16;rate=16000"/></Stop>`), []string{
			`t.xml:2:9: <Stream>: attribute "encoding" is not allowed in <Stop>; only "name" is`}},
		"track and audio_track": {resp(`  <Start><Stream url="wss://a/" track="inbound" audio_track="inbound"/></Start>`), []string{
			`t.xml:2:10: <Stream>: use either track or audio_track, not both`}},
		"empty url": {resp(`  <Start><Stream url=" "/></Start>`), []string{
			`t.xml:2:10: <Stream>: attribute "url" must not be empty`}},
		"url with query": {resp(`  <Start><Stream url="wss://a/b?x=1"/></Start>`), []string{
			`t.xml:2:10: <Stream>: attribute "url" takes no parameters (found "?"); use <Parameter> children instead`}},
		"relative url with query": {resp(`  <Connect><Stream url="/media?x=1"/></Connect>`), []string{
			`t.xml:2:12: <Stream>: attribute "url" takes no parameters (found "?"); use <Parameter> children instead`}},
		"http url": {resp(`  <Start><Stream url="https://a/b"/></Start>`), []string{
			`t.xml:2:10: <Stream>: attribute "url" has scheme "https"; want ws, wss or a relative URL`}},
		"url without host": {resp(`  <Start><Stream url="wss:///b"/></Start>`), []string{
			`t.xml:2:10: <Stream>: attribute "url" has no host`}},
		"url with fragment": {resp(`  <Start><Stream url="wss://a/b#c"/></Start>`), []string{
			`t.xml:2:10: <Stream>: attribute "url" must not contain a fragment ("#")`}},
		"invalid url": {resp(`  <Start><Stream url="wss://[::1/"/></Start>`), []string{
			`t.xml:2:10: <Stream>: attribute "url" is not a valid URL: "wss://[::1/"`}},
		"bad track": {resp(`  <Start><Stream url="wss://a/" track="left"/></Start>`), []string{
			`t.xml:2:10: <Stream>: invalid track "left"; allowed: inbound, outbound, both, mixed, inbound_track, outbound_track, both_tracks`}},
		"bad audio_track": {resp(`  <Start><Stream url="wss://a/" audio_track="Inbound"/></Start>`), []string{
			`t.xml:2:10: <Stream>: invalid audio_track "Inbound"; allowed: inbound, outbound, both, mixed, inbound_track, outbound_track, both_tracks`}},
		"bad timestampStart": {resp(`  <Start><Stream url="wss://a/" timestampStart="epoch"/></Start>`), []string{
			`t.xml:2:10: <Stream>: invalid timestampStart "epoch"; allowed: relative, absolute`}},
		"maxLength zero": {resp(`  <Start><Stream url="wss://a/" maxLength="0"/></Start>`), []string{
			`t.xml:2:10: <Stream>: invalid maxLength "0": want a number of seconds greater than 0, such as 2 or 1.5`}},
		"maxLength negative": {resp(`  <Start><Stream url="wss://a/" maxLength="-1"/></Start>`), []string{
			`t.xml:2:10: <Stream>: invalid maxLength "-1": want a number of seconds greater than 0, such as 2 or 1.5`}},
		"maxLength word": {resp(`  <Start><Stream url="wss://a/" maxLength="ten"/></Start>`), []string{
			`t.xml:2:10: <Stream>: invalid maxLength "ten": want a number of seconds greater than 0, such as 2 or 1.5`}},
		"maxLength exponent": {resp(`  <Start><Stream url="wss://a/" maxLength="1e3"/></Start>`), []string{
			`t.xml:2:10: <Stream>: invalid maxLength "1e3": want a number of seconds greater than 0, such as 2 or 1.5`}},
		"maxLength overflow": {resp(`  <Start><Stream url="wss://a/" maxLength="99999999999"/></Start>`), []string{
			`t.xml:2:10: <Stream>: invalid maxLength "99999999999": want a number of seconds greater than 0, such as 2 or 1.5`}},
		"bad statusCallbackMethod": {resp(`  <Start><Stream url="wss://a/" statusCallbackMethod="PUT"/></Start>`), []string{
			`t.xml:2:10: <Stream>: invalid statusCallbackMethod "PUT"; allowed: GET, POST`}},
		"bad statusCallback": {resp(`  <Start><Stream url="wss://a/" statusCallback="ftp://h/x"/></Start>`), []string{
			`t.xml:2:10: <Stream>: attribute "statusCallback" has scheme "ftp"; want http, https or a relative URL`}},
		"empty statusCallback": {resp(`  <Start><Stream url="wss://a/" statusCallback=""/></Start>`), []string{
			`t.xml:2:10: <Stream>: attribute "statusCallback" must not be empty`}},
		"text in Stream": {resp(`  <Start><Stream url="wss://a/">x</Stream></Start>`), []string{
			`t.xml:2:33: <Stream>: unexpected text "x"`}},

		// Parameter.
		"Parameter at top level": {resp(`  <Parameter name="a" value="b"/>`), []string{
			`t.xml:2:3: <Parameter>: <Parameter> is not a verb; it belongs in <Stream>`}},
		"Parameter without name": {resp(`  <Start><Stream url="wss://a/"><Parameter value="b"/></Stream></Start>`), []string{
			`t.xml:2:33: <Parameter>: attribute "name" is required`}},
		"Parameter with empty name": {resp(`  <Start><Stream url="wss://a/"><Parameter name="" value="b"/></Stream></Start>`), []string{
			`t.xml:2:33: <Parameter>: attribute "name" must not be empty`}},
		"Parameter unknown attribute": {resp(`  <Start><Stream url="wss://a/"><Parameter name="a" val="b"/></Stream></Start>`), []string{
			`t.xml:2:33: <Parameter>: unknown attribute "val"; allowed: name, value`}},
		"Parameter with body": {resp(`  <Start><Stream url="wss://a/"><Parameter name="a">b</Parameter></Stream></Start>`), []string{
			`t.xml:2:53: <Parameter>: unexpected text "b"`}},

		// Pause, Play, Hangup, Redirect, Reject.
		"Pause bad length": {resp(`  <Pause length="-2"/>`), []string{
			`t.xml:2:3: <Pause>: invalid length "-2": want a number of seconds, 0 or more, such as 2 or 1.5`}},
		"Pause with body": {resp(`  <Pause>3</Pause>`), []string{
			`t.xml:2:10: <Pause>: unexpected text "3"`}},
		"Play without body": {resp(`  <Play loop="2">  </Play>`), []string{
			`t.xml:2:3: <Play>: body is required: the http or https URL or the path of the audio`}},
		"Play bad loop": {resp(`  <Play loop="-1">a.wav</Play>`), []string{
			`t.xml:2:3: <Play>: invalid loop "-1": want a whole number, 0 or more (0 = until the call ends)`}},
		"Play unknown attribute": {resp(`  <Play background="true">a.wav</Play>`), []string{
			`t.xml:2:3: <Play>: unknown attribute "background"; allowed: loop, digits`}},
		"Play ftp": {resp(`  <Play>ftp://h/a.wav</Play>`), []string{
			`t.xml:2:3: <Play>: URL "ftp://h/a.wav" has scheme "ftp"; want http, https or a file path`}},
		"Play http without host": {resp(`  <Play>http:///a.wav</Play>`), []string{
			`t.xml:2:3: <Play>: URL "http:///a.wav" has no host`}},
		"Hangup attribute": {resp(`  <Hangup reason="x"/>`), []string{
			`t.xml:2:3: <Hangup>: unknown attribute "reason": <Hangup> takes no attributes`}},
		"Hangup body": {resp(`  <Hangup>now</Hangup>`), []string{
			`t.xml:2:11: <Hangup>: unexpected text "now"`}},
		"Hangup child": {resp(`  <Hangup><Pause/></Hangup>`), []string{
			`t.xml:2:11: <Pause>: <Pause> cannot be nested in <Hangup>`}},
		"Redirect bad method": {resp(`  <Redirect method="PUT">/next</Redirect>`), []string{
			`t.xml:2:3: <Redirect>: invalid method "PUT"; allowed: GET, POST`}},
		"Redirect without body": {resp(`  <Redirect/>`), []string{
			`t.xml:2:3: <Redirect>: body is required: the URL of the next document`}},
		"Redirect ws": {resp(`  <Redirect>wss://h/next</Redirect>`), []string{
			`t.xml:2:3: <Redirect>: URL "wss://h/next" has scheme "wss"; want http, https or a relative URL`}},
		"Reject bad reason": {resp(`  <Reject reason="nope"/>`), []string{
			`t.xml:2:3: <Reject>: invalid reason "nope"; allowed: redirect, forbidden, rejected, not-found, busy-here, bad-gateway, unavailable, busy, decline, does-not-exist, unwanted, intermediary-rejected`}},
		"Reject body": {resp(`  <Reject>busy</Reject>`), []string{
			`t.xml:2:11: <Reject>: unexpected text "busy"`}},

		// Every error is collected, in document order.
		"many errors": {resp(
			`  <Start>`,
			`    <Stream name="a" track="x"/>`,
			`  </Start>`,
			`  <Say loop="x">hi</Say>`,
			`  <Pause length="x" foo="y"/>`,
			`  <Connect/>`,
		), []string{
			`t.xml:3:5: <Stream>: attribute "url" is required in <Start>`,
			`t.xml:3:5: <Stream>: invalid track "x"; allowed: inbound, outbound, both, mixed, inbound_track, outbound_track, both_tracks`,
			`t.xml:5:3: <Say>: invalid loop "x": want a whole number from 0 to 100 (0 = until the call ends)`,
			`t.xml:6:3: <Pause>: unknown attribute "foo"; allowed: length`,
			`t.xml:6:3: <Pause>: invalid length "x": want a number of seconds, 0 or more, such as 2 or 1.5`,
			`t.xml:7:3: <Connect>: must contain exactly one <Stream>`,
		}},
		"text reported where it is": {resp(
			`  <Start>`,
			`    <Stream url="wss://a/"/>`,
			`    oops`,
			`  </Start>`,
			`  <Foo/>`,
		), []string{
			`t.xml:4:5: <Start>: unexpected text "oops"`,
			`t.xml:6:3: <Foo>: unknown verb <Foo>`,
		}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			doc, err := Parse("t.xml", []byte(tt.in))
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", doc)
			}
			if doc != nil {
				t.Errorf("Parse returned a document with its error")
			}
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error is %T, want ErrorList", err)
			}
			got := make([]string, len(list))
			for i, e := range list {
				got[i] = e.Error()
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if err.Error() != strings.Join(tt.want, "\n") {
				t.Errorf("Error() = %q", err.Error())
			}
		})
	}
}
