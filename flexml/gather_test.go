package flexml

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// parseErrors parses in, which must fail, and returns its errors'
// messages.
func parseErrors(t *testing.T, in string) []string {
	t.Helper()
	doc, err := Parse("t.xml", []byte(in))
	if err == nil {
		t.Fatalf("Parse succeeded: %+v", doc)
	}
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error is %T, want ErrorList", err)
	}
	return errStrings(list)
}

func TestGatherAttributes(t *testing.T) {
	doc := mustParse(t, resp(
		`  <Gather numDigits="4" timeout="2.5" finishOnKey="*" action="next?x=1" method="get"`,
		`          actionOnEmptyResult="true" input="dtmf">`,
		`    <Play loop="2">https://h/menu.wav</Play>`,
		`    <Pause length="1"/>`,
		`    <Play>beep.wav</Play>`,
		`  </Gather>`,
		`  <Gather/>`,
		`  <Gather finishOnKey="" actionOnEmptyResult="false" input=" DTMF "/>`))
	want := []Verb{
		&Gather{Pos: Pos{2, 3}, NumDigits: 4, Timeout: 2500 * time.Millisecond, FinishOnKey: "*", Action: "next?x=1",
			Method: "GET", ActionOnEmptyResult: true, Prompts: []Verb{
				&Play{Pos: Pos{4, 5}, URL: "https://h/menu.wav", Loop: 2},
				&Pause{Pos: Pos{5, 5}, Length: time.Second},
				&Play{Pos: Pos{6, 5}, URL: "beep.wav", Loop: 1},
			}},
		&Gather{Pos: Pos{8, 3}, Timeout: DefaultGatherTimeout, FinishOnKey: "#", Method: "POST"},
		&Gather{Pos: Pos{9, 3}, Timeout: DefaultGatherTimeout, FinishOnKey: "", Method: "POST"},
	}
	if !reflect.DeepEqual(doc.Verbs, want) {
		for i, v := range doc.Verbs {
			t.Logf("verb %d: %+v", i, v)
		}
		t.Fatal("verbs differ")
	}
	if len(doc.Warnings) != 0 {
		t.Fatalf("warnings: %v", doc.Warnings)
	}
	// A Gather with an action is not the end of the document: it falls
	// through when nothing is entered.
	doc = mustParse(t, resp(`<Gather action="/a"/>`, `<Hangup/>`))
	if len(doc.Warnings) != 0 || len(doc.Verbs) != 2 {
		t.Fatalf("Gather then Hangup: %d verbs, warnings %v", len(doc.Verbs), doc.Warnings)
	}
	doc = mustParse(t, resp(`<Gather actionOnEmptyResult="true"/>`))
	if got := errStrings(doc.Warnings); len(got) != 1 ||
		got[0] != `t.xml:2:1: <Gather>: actionOnEmptyResult has no effect without action` {
		t.Fatalf("warnings: %q", got)
	}
}

func TestSendDigitsVerbs(t *testing.T) {
	doc := mustParse(t, resp(`  <Dtmf> 12w34#*AbCd </Dtmf>`, `  <Play digits="ww1"/>`, `  <Play><Dtmf>9</Dtmf></Play>`))
	want := []Verb{
		&Dtmf{Pos: Pos{2, 3}, Digits: "12w34#*AbCd"},
		&Play{Pos: Pos{3, 3}, Loop: 1, Digits: "ww1"},
		&Play{Pos: Pos{4, 3}, Loop: 1, Digits: "9"},
	}
	if !reflect.DeepEqual(doc.Verbs, want) {
		t.Fatalf("verbs %+v %+v %+v", doc.Verbs[0], doc.Verbs[1], doc.Verbs[2])
	}
	if doc.Verbs[0].VerbName() != "Dtmf" || (&Gather{}).VerbName() != "Gather" {
		t.Fatal("verb names")
	}
}

func TestGatherAndDigitsErrors(t *testing.T) {
	long := strings.Repeat("1", MaxSendDigits+1)
	tests := map[string]struct {
		in   string
		want []string
	}{
		"speech": {resp(`  <Gather input="speech"/>`), []string{
			`t.xml:2:3: <Gather>: speech input is not supported: stream the call's audio to a recognizer with <Start><Stream>`}},
		"dtmf speech": {resp(`  <Gather input="dtmf speech"/>`), []string{
			`t.xml:2:3: <Gather>: speech input is not supported: stream the call's audio to a recognizer with <Start><Stream>`}},
		"bad input": {resp(`  <Gather input="keys"/>`), []string{
			`t.xml:2:3: <Gather>: invalid input "keys"; allowed: dtmf`}},
		"numDigits": {resp(`  <Gather numDigits="0"/>`, `  <Gather numDigits="x"/>`, `  <Gather numDigits="129"/>`), []string{
			`t.xml:2:3: <Gather>: invalid numDigits "0": want a whole number from 1 to 128`,
			`t.xml:3:3: <Gather>: invalid numDigits "x": want a whole number from 1 to 128`,
			`t.xml:4:3: <Gather>: invalid numDigits "129": want a whole number from 1 to 128`}},
		"timeout": {resp(`  <Gather timeout="0"/>`, `  <Gather timeout="-1"/>`, `  <Gather timeout="601"/>`), []string{
			`t.xml:2:3: <Gather>: invalid timeout "0": want a number of seconds greater than 0, at most 600`,
			`t.xml:3:3: <Gather>: invalid timeout "-1": want a number of seconds greater than 0, at most 600`,
			`t.xml:4:3: <Gather>: invalid timeout "601": want a number of seconds greater than 0, at most 600`}},
		"finishOnKey": {resp(`  <Gather finishOnKey="##"/>`, `  <Gather finishOnKey="A"/>`), []string{
			`t.xml:2:3: <Gather>: invalid finishOnKey "##": want one of 0-9, * and #, or empty for none`,
			`t.xml:3:3: <Gather>: invalid finishOnKey "A": want one of 0-9, * and #, or empty for none`}},
		"action": {resp(`  <Gather action="ftp://h/x"/>`, `  <Gather action=""/>`), []string{
			`t.xml:2:3: <Gather>: attribute "action" has scheme "ftp"; want http, https or a relative URL`,
			`t.xml:3:3: <Gather>: attribute "action" must not be empty`}},
		"method and flag": {resp(`  <Gather method="PUT" actionOnEmptyResult="yes" action="a"/>`), []string{
			`t.xml:2:3: <Gather>: invalid method "PUT"; allowed: GET, POST`,
			`t.xml:2:3: <Gather>: invalid actionOnEmptyResult "yes"; allowed: true, false`}},
		"unknown attribute": {resp(`  <Gather numdigits="1"/>`), []string{
			`t.xml:2:3: <Gather>: unknown attribute "numdigits"; did you mean "numDigits"?`}},
		"text": {resp(`  <Gather>press 1</Gather>`), []string{
			`t.xml:2:11: <Gather>: unexpected text "press 1"`}},
		"nested": {resp(`  <Gather>`, `    <Gather/>`, `    <Dtmf>1</Dtmf>`, `    <Play digits="1"/>`, `    <Stream url="wss://h"/>`, `  </Gather>`), []string{
			`t.xml:3:5: <Gather>: <Gather> cannot be nested in <Gather>`,
			`t.xml:4:5: <Dtmf>: <Dtmf> cannot be nested in <Gather>`,
			`t.xml:5:5: <Play>: <Play> sending digits cannot be nested in <Gather>`,
			`t.xml:6:5: <Stream>: <Stream> is not allowed in <Gather>; it belongs in <Start>, <Stop> or <Connect>`}},
		"nested prompt errors": {resp(`  <Gather>`, `    <Pause length="x"/>`, `    <Play/>`, `  </Gather>`), []string{
			`t.xml:3:5: <Pause>: invalid length "x": want a number of seconds, 0 or more, such as 2 or 1.5`,
			`t.xml:4:5: <Play>: body is required: the http or https URL or the path of the audio`}},
		"Dtmf bad digit": {resp(`  <Dtmf>12x</Dtmf>`), []string{
			`t.xml:2:3: <Dtmf>: invalid digit 'x' at character 3 of body: want 0-9, *, #, A-D or w (a half-second pause)`}},
		"Dtmf empty": {resp(`  <Dtmf/>`), []string{
			`t.xml:2:3: <Dtmf>: body is required: the digits to send (0-9, *, #, A-D, w for a half-second pause)`}},
		"Dtmf too long": {resp(`  <Dtmf>` + long + `</Dtmf>`), []string{
			`t.xml:2:3: <Dtmf>: body has 65 characters; at most 64 digits are sent at once`}},
		"Dtmf attribute": {resp(`  <Dtmf digits="1"/>`), []string{
			`t.xml:2:3: <Dtmf>: unknown attribute "digits": <Dtmf> takes no attributes`,
			`t.xml:2:3: <Dtmf>: body is required: the digits to send (0-9, *, #, A-D, w for a half-second pause)`}},
		"Play digits bad": {resp(`  <Play digits="1-2"/>`), []string{
			`t.xml:2:3: <Play>: invalid digit '-' at character 2 of "digits": want 0-9, *, #, A-D or w (a half-second pause)`}},
		"Play digits empty": {resp(`  <Play digits=""/>`), []string{
			`t.xml:2:3: <Play>: attribute "digits" is required: the digits to send (0-9, *, #, A-D, w for a half-second pause)`}},
		"Play digits and URL": {resp(`  <Play digits="1">a.wav</Play>`), []string{
			`t.xml:2:3: <Play>: use either digits to send or the URL of the audio, not both`}},
		"Play digits loop": {resp(`  <Play digits="1" loop="2"/>`), []string{
			`t.xml:2:3: <Play>: attribute "loop" is not allowed with digits`}},
		"Play two Dtmf": {resp(`  <Play digits="1"><Dtmf>2</Dtmf></Play>`), []string{
			`t.xml:2:20: <Dtmf>: <Play> sends one set of digits: use either the digits attribute or one <Dtmf>`}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got := parseErrors(t, tt.in)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
	// Speech is refused as not supported, so tools can tell it apart.
	_, err := Parse("t.xml", []byte(resp(`<Gather input="speech"/>`)))
	if !errors.Is(err, ErrNotSupported) {
		t.Fatalf("speech: %v", err)
	}
}
