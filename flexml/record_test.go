package flexml

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestRecordAttributes(t *testing.T) {
	doc := mustParse(t, resp(
		`  <Record maxLength="20" timeout="0" finishOnKey="*#" playBeep="FALSE" trim="do-not-trim"`,
		`          action="done?x=1" method="get"/>`,
		`  <Record/>`,
		`  <Record finishOnKey="" timeout="3" trim="trim-silence" playBeep="true"></Record>`))
	want := []Verb{
		&Record{Pos: Pos{2, 3}, MaxLength: 20 * time.Second, Timeout: 0, FinishOnKey: "*#", PlayBeep: false, Trim: false,
			Action: "done?x=1", Method: "GET"},
		&Record{Pos: Pos{4, 3}, MaxLength: time.Hour, Timeout: 5 * time.Second, FinishOnKey: "1234567890*#",
			PlayBeep: true, Trim: true, Method: "POST"},
		&Record{Pos: Pos{5, 3}, MaxLength: time.Hour, Timeout: 3 * time.Second, FinishOnKey: "",
			PlayBeep: true, Trim: true, Method: "POST"},
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
	if (Record{}).VerbName() != "Record" {
		t.Fatal("VerbName")
	}
	// A Record falls through to the next verb: nothing after it is
	// unreachable.
	doc = mustParse(t, resp(`<Record action="/a"/>`, `<Say>Nothing recorded.</Say>`))
	if len(doc.Verbs) != 2 || len(doc.Warnings) != 0 {
		t.Fatalf("Record then Say: %d verbs, warnings %v", len(doc.Verbs), doc.Warnings)
	}
}

func TestRecordWarnings(t *testing.T) {
	doc := mustParse(t, resp(`  <Record recordingStatusCallback="https://h/cb" transcribe="false" transcribeCallback="/t"/>`))
	got := errStrings(doc.Warnings)
	want := []string{
		`t.xml:2:3: <Record>: recordingStatusCallback is not supported yet and is ignored: the action request carries RecordingUrl and RecordingDuration`,
		`t.xml:2:3: <Record>: transcribeCallback is ignored: transcription is not supported`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestRecordErrors(t *testing.T) {
	tests := map[string]struct {
		in   string
		want []string
	}{
		"maxLength": {resp(`  <Record maxLength="0"/>`, `  <Record maxLength="3601"/>`, `  <Record maxLength="1.5"/>`, `  <Record maxLength="x"/>`), []string{
			`t.xml:2:3: <Record>: invalid maxLength "0": want a whole number of seconds from 1 to 3600`,
			`t.xml:3:3: <Record>: invalid maxLength "3601": want a whole number of seconds from 1 to 3600`,
			`t.xml:4:3: <Record>: invalid maxLength "1.5": want a whole number of seconds from 1 to 3600`,
			`t.xml:5:3: <Record>: invalid maxLength "x": want a whole number of seconds from 1 to 3600`}},
		"timeout": {resp(`  <Record timeout="-1"/>`, `  <Record timeout="601"/>`), []string{
			`t.xml:2:3: <Record>: invalid timeout "-1": want a whole number of seconds from 0 (no silence timeout) to 600`,
			`t.xml:3:3: <Record>: invalid timeout "601": want a whole number of seconds from 0 (no silence timeout) to 600`}},
		"finishOnKey": {resp(`  <Record finishOnKey="1a"/>`), []string{
			`t.xml:2:3: <Record>: invalid finishOnKey "1a": want keys among 0-9, * and #, or empty for none`}},
		"playBeep": {resp(`  <Record playBeep="yes"/>`), []string{
			`t.xml:2:3: <Record>: invalid playBeep "yes"; allowed: true, false`}},
		"trim": {resp(`  <Record trim="none"/>`), []string{
			`t.xml:2:3: <Record>: invalid trim "none"; allowed: trim-silence, do-not-trim`}},
		"action": {resp(`  <Record action="ftp://h/x"/>`, `  <Record method="PUT"/>`), []string{
			`t.xml:2:3: <Record>: attribute "action" has scheme "ftp"; want http, https or a relative URL`,
			`t.xml:3:3: <Record>: invalid method "PUT"; allowed: GET, POST`}},
		"transcribe": {resp(`  <Record transcribe="true"/>`), []string{
			`t.xml:2:3: <Record>: transcription is not supported: stream the call's audio to a recognizer with <Start><Stream>`}},
		"unknown attribute": {resp(`  <Record maxlength="5"/>`), []string{
			`t.xml:2:3: <Record>: unknown attribute "maxlength"; did you mean "maxLength"?`}},
		"body": {resp(`  <Record>x</Record>`, `  <Record><Play>a.wav</Play></Record>`), []string{
			`t.xml:2:11: <Record>: unexpected text "x"`,
			`t.xml:3:11: <Play>: <Play> cannot be nested in <Record>`}},
	}
	for name, tc := range tests {
		got := parseErrors(t, tc.in)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s:\ngot  %q\nwant %q", name, got, tc.want)
		}
	}
}
