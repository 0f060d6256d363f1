package flexml

import (
	"strings"
	"testing"
	"time"
)

// TestSay parses <Say> with its defaults and every attribute.
func TestSay(t *testing.T) {
	doc, err := Parse("t.xml", []byte(resp(
		`  <Say>  Hello, caller.  </Say>`,
		`  <Say voice="woman" language="en-GB" loop="0" loopPause="1.5">Bye</Say>`,
		`  <Say voice="Polly.Joanna" language="es_MX" loop="100">Hola</Say>`,
		`  <Say voice="WOMAN">x</Say>`,
	)))
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Verbs) != 4 || len(doc.Warnings) != 0 {
		t.Fatalf("%d verbs, warnings %v", len(doc.Verbs), doc.Warnings)
	}
	want := []Say{
		{Pos: Pos{2, 3}, Text: "Hello, caller.", Voice: "man", Loop: 1},
		{Pos: Pos{3, 3}, Text: "Bye", Voice: "woman", Language: "en-GB", Loop: 0, LoopPause: 1500 * time.Millisecond},
		{Pos: Pos{4, 3}, Text: "Hola", Voice: "Polly.Joanna", Language: "es_MX", Loop: 100},
		{Pos: Pos{5, 3}, Text: "x", Voice: "woman", Loop: 1},
	}
	for i, v := range doc.Verbs {
		s, ok := v.(*Say)
		if !ok || *s != want[i] || s.VerbName() != "Say" {
			t.Errorf("verb %d: %#v, want %#v", i, v, want[i])
		}
	}
	// The text bound counts characters, not bytes.
	at := strings.Repeat("é", MaxSayText)
	if _, err := Parse("t.xml", []byte(resp(`<Say>`+at+`</Say>`))); err != nil {
		t.Errorf("text of %d characters: %v", MaxSayText, err)
	}
}

// TestSayErrors checks each error and warning, with its place.
func TestSayErrors(t *testing.T) {
	long := strings.Repeat("a", MaxSayText+1)
	tests := map[string]struct {
		in    string
		errs  []string
		warns []string
	}{
		"empty": {resp(`  <Say>  </Say>`), []string{
			`t.xml:2:3: <Say>: body is required: the text to speak`}, nil},
		"self-closed": {resp(`  <Say/>`), []string{
			`t.xml:2:3: <Say>: body is required: the text to speak`}, nil},
		"too long": {resp(`  <Say>`, `    `+long+`</Say>`), []string{
			`t.xml:3:5: <Say>: text of 4097 characters is too long: at most 4096`}, nil},
		"loop too big": {resp(`  <Say loop="101">hi</Say>`), []string{
			`t.xml:2:3: <Say>: invalid loop "101": want a whole number from 0 to 100 (0 = until the call ends)`}, nil},
		"loop negative": {resp(`  <Say loop="-1">hi</Say>`), []string{
			`t.xml:2:3: <Say>: invalid loop "-1": want a whole number from 0 to 100 (0 = until the call ends)`}, nil},
		"loopPause": {resp(`  <Say loopPause="301">hi</Say>`), []string{
			`t.xml:2:3: <Say>: invalid loopPause "301": want a number of seconds from 0 to 300, such as 1 or 0.5`}, nil},
		"language": {resp(`  <Say language="english please">hi</Say>`), []string{
			`t.xml:2:3: <Say>: invalid language "english please": want a language tag such as en-US, en-GB, es-ES or fr-FR`}, nil},
		"empty voice": {resp(`  <Say voice="">hi</Say>`), []string{
			`t.xml:2:3: <Say>: attribute "voice" must not be empty; allowed: man, woman`}, nil},
		"unknown attribute": {resp(`  <Say rate="fast">hi</Say>`), []string{
			`t.xml:2:3: <Say>: unknown attribute "rate"; allowed: voice, language, loop, loopPause`}, nil},
		"SSML": {resp(`  <Say>Hi <break time="1s"/> there</Say>`), []string{
			`t.xml:2:11: <break>: <break> in <Say>: SSML is not supported; write the text to speak as plain text`}, nil},
		"unknown voice": {resp(`  <Say voice="robot">hi</Say>`), nil, []string{
			`t.xml:2:3: <Say>: unknown voice "robot"; "man" speaks instead (allowed: man, woman)`}},
	}
	for name, tt := range tests {
		doc, err := Parse("t.xml", []byte(tt.in))
		var got []string
		if err != nil {
			got = errStrings(err.(ErrorList))
		}
		if strings.Join(got, "\n") != strings.Join(tt.errs, "\n") {
			t.Errorf("%s: errors\n%s\nwant\n%s", name, strings.Join(got, "\n"), strings.Join(tt.errs, "\n"))
		}
		if err == nil {
			if w := strings.Join(errStrings(doc.Warnings), "\n"); w != strings.Join(tt.warns, "\n") {
				t.Errorf("%s: warnings\n%s\nwant\n%s", name, w, strings.Join(tt.warns, "\n"))
			}
		}
	}
}
