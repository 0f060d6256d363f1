package flexml

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDialForms(t *testing.T) {
	doc := mustParse(t, resp(
		`  <Dial callerId="+15550001111" timeout="12" timeLimit="90.5" hangupOnStar="true" action="/after" method="get">`,
		`    <Sip username="u" password="p">sip:bob@10.0.0.2:5080;transport=udp</Sip>`,
		`  </Dial>`,
		`  <Dial><Number sendDigits="ww12#">+1 (555) 123-4567</Number></Dial>`,
		`  <Dial answerOnBridge="TRUE"> +15557654321 </Dial>`,
		`  <Dial>sip:carol@example.com</Dial>`))
	want := []Verb{
		&Dial{Pos: Pos{2, 3}, CallerID: "+15550001111", Timeout: 12 * time.Second, TimeLimit: 90500 * time.Millisecond,
			HangupOnStar: true, Action: "/after", Method: "GET",
			Target: DialTarget{Pos: Pos{3, 5}, URI: "sip:bob@10.0.0.2:5080;transport=udp", Username: "u", Password: "p"}},
		&Dial{Pos: Pos{5, 3}, Timeout: DefaultDialTimeout, TimeLimit: DefaultDialTimeLimit, Method: "POST",
			Target: DialTarget{Pos: Pos{5, 9}, Number: true, URI: "+15551234567", SendDigits: "ww12#"}},
		&Dial{Pos: Pos{6, 3}, Timeout: DefaultDialTimeout, TimeLimit: DefaultDialTimeLimit, Method: "POST", AnswerOnBridge: true,
			Target: DialTarget{Pos: Pos{6, 32}, Number: true, URI: "+15557654321"}},
		&Dial{Pos: Pos{7, 3}, Timeout: DefaultDialTimeout, TimeLimit: DefaultDialTimeLimit, Method: "POST",
			Target: DialTarget{Pos: Pos{7, 9}, URI: "sip:carol@example.com"}},
	}
	if !reflect.DeepEqual(doc.Verbs, want) {
		for i, v := range doc.Verbs {
			t.Logf("verb %d: %+v", i, v)
		}
		t.Fatal("verbs differ")
	}
	// A Dial with an action ends the document; one without goes on.
	doc = mustParse(t, resp(`<Dial>+1555</Dial>`, `<Hangup/>`))
	if len(doc.Warnings) != 0 {
		t.Fatalf("Dial without action then Hangup: warnings %v", doc.Warnings)
	}
	doc = mustParse(t, resp(`<Dial action="/a">+1555</Dial>`, `<Hangup/>`))
	if len(doc.Warnings) != 1 || !strings.Contains(doc.Warnings[0].Error(), "unreachable: follows <Dial> at 2:1") {
		t.Fatalf("Dial with action then Hangup: warnings %v", doc.Warnings)
	}
	doc = mustParse(t, resp(`<Dial ringTone="us" record="do-not-record">+1555</Dial>`))
	if len(doc.Warnings) != 1 || !strings.Contains(doc.Warnings[0].Error(), "t.xml:2:1: <Dial>: ringTone is ignored") {
		t.Fatalf("ringTone: warnings %v", doc.Warnings)
	}
}

func TestDialErrors(t *testing.T) {
	tests := map[string]struct {
		in   string
		want []string
	}{
		"no target": {resp(`  <Dial/>`), []string{
			`t.xml:2:3: <Dial>: <Dial> needs whom to call: a <Sip> or <Number> noun, or a number or SIP URI as its body`}},
		"two nouns": {resp(`  <Dial><Number>1</Number><Sip>sip:a@h</Sip></Dial>`), []string{
			`t.xml:2:3: <Dial>: <Dial> with 2 nouns is not supported yet: one <Sip> or <Number> rings at a time`}},
		"noun and body": {resp(`  <Dial>+1555<Number>1</Number></Dial>`), []string{
			`t.xml:2:9: <Dial>: unexpected text "+1555"`}},
		"bad number": {resp(`  <Dial><Number>555-CALL</Number></Dial>`), []string{
			`t.xml:2:9: <Number>: invalid phone number "555-CALL": want digits with an optional leading +, such as +15551234567`}},
		"address without sip:": {resp(`  <Dial>bob@example.com</Dial>`), []string{
			`t.xml:2:3: <Dial>: invalid phone number "bob@example.com": a SIP address needs sip: in front, such as sip:alice@example.com`}},
		"long number": {resp(`  <Dial>+123456789012345678901</Dial>`), []string{
			`t.xml:2:3: <Dial>: invalid phone number "+123456789012345678901": want 1 to 20 digits`}},
		"sip without host": {resp(`  <Dial><Sip>sip:bob@</Sip></Dial>`), []string{
			`t.xml:2:9: <Sip>: invalid SIP URI "sip:bob@": no host; want sip:user@host[:port]`}},
		"sip with space": {resp(`  <Dial><Sip>sip:bob @h</Sip></Dial>`), []string{
			`t.xml:2:9: <Sip>: invalid SIP URI "sip:bob @h": spaces, quotes and angle brackets are not allowed`}},
		"not a sip uri": {resp(`  <Dial><Sip>tel:+1555</Sip></Dial>`), []string{
			`t.xml:2:9: <Sip>: invalid SIP URI "tel:+1555": want sip:user@host[:port]`}},
		"sips": {resp(`  <Dial><Sip>sips:bob@h</Sip></Dial>`), []string{
			`t.xml:2:9: <Sip>: sips: URIs are not supported yet: dial a sip: URI`}},
		"empty sip": {resp(`  <Dial><Sip/></Dial>`), []string{
			`t.xml:2:9: <Sip>: body is required: the SIP URI to call, such as sip:alice@example.com`}},
		"half credentials": {resp(`  <Dial><Sip username="u">sip:a@h</Sip></Dial>`), []string{
			`t.xml:2:9: <Sip>: <Sip> needs both username and password, or neither`}},
		"bad sendDigits": {resp(`  <Dial><Number sendDigits="12x">1</Number></Dial>`), []string{
			`t.xml:2:9: <Number>: invalid digit 'x' at character 3 of "sendDigits": want 0-9, *, #, A-D or w (a half-second pause)`}},
		"timeout": {resp(`  <Dial timeout="0">1</Dial>`), []string{
			`t.xml:2:3: <Dial>: invalid timeout "0": want a number of seconds from 1 to 600`}},
		"timeLimit": {resp(`  <Dial timeLimit="86401">1</Dial>`), []string{
			`t.xml:2:3: <Dial>: invalid timeLimit "86401": want a number of seconds from 1 to 86400`}},
		"hangupOnStar": {resp(`  <Dial hangupOnStar="yes">1</Dial>`), []string{
			`t.xml:2:3: <Dial>: invalid hangupOnStar "yes"; allowed: true, false`}},
		"callerId": {resp(`  <Dial callerId="a b">1</Dial>`), []string{
			`t.xml:2:3: <Dial>: invalid callerId "a b": want a phone number or a SIP user name, such as +15551234567`}},
		"record": {resp(`  <Dial record="both">1</Dial>`), []string{
			`t.xml:2:3: <Dial>: invalid record "both"; allowed: do-not-record, record-from-answer, record-from-answer-dual, record-from-ringing, record-from-ringing-dual, true, false`}},
		"action": {resp(`  <Dial action="ftp://x/">1</Dial>`), nil},
		"unknown attribute": {resp(`  <Dial callerid="1">1</Dial>`), []string{
			`t.xml:2:3: <Dial>: unknown attribute "callerid"; did you mean "callerId"?`}},
		"verb in Dial": {resp(`  <Dial><Play>a.wav</Play></Dial>`), []string{
			`t.xml:2:9: <Play>: <Play> cannot be nested in <Dial>`}},
		"Sip outside Dial": {resp(`  <Sip>sip:a@h</Sip>`), []string{
			`t.xml:2:3: <Sip>: <Sip> is not a verb; it belongs in <Dial>`}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := parseErrors(t, tc.in)
			if tc.want == nil {
				// Only that it fails, and names the attribute.
				if len(got) != 1 || !strings.Contains(got[0], `<Dial>: attribute "action"`) {
					t.Fatalf("got %q", got)
				}
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got\n  %q\nwant\n  %q", got, tc.want)
			}
		})
	}
	_, err := Parse("t.xml", []byte(resp(`<Dial><Queue>q</Queue></Dial>`)))
	if !errors.Is(err, ErrNotSupported) {
		t.Fatalf("<Queue> in <Dial>: %v", err)
	}
}

func TestDialRecord(t *testing.T) {
	tests := []struct {
		value string
		want  DialRecord
		warn  bool
	}{
		{"do-not-record", DialRecordNone, false},
		{"false", DialRecordNone, false},
		{"true", DialRecordMono, false},
		{"record-from-answer", DialRecordMono, false},
		{"Record-From-Answer-Dual", DialRecordDual, false},
		{"record-from-ringing", DialRecordMono, true},
		{"record-from-ringing-dual", DialRecordDual, true},
	}
	for _, tc := range tests {
		doc := mustParse(t, resp(`<Dial record="`+tc.value+`">+1555</Dial>`))
		d := doc.Verbs[0].(*Dial)
		if d.Record != tc.want {
			t.Errorf("record=%q: Record %d, want %d", tc.value, d.Record, tc.want)
		}
		switch {
		case tc.warn && (len(doc.Warnings) != 1 || !strings.Contains(doc.Warnings[0].Error(),
			`t.xml:2:1: <Dial>: record="`+tc.value+`" records from the answer`)):
			t.Errorf("record=%q: warnings %v, want one that it records from the answer", tc.value, doc.Warnings)
		case !tc.warn && len(doc.Warnings) != 0:
			t.Errorf("record=%q: warnings %v", tc.value, doc.Warnings)
		}
	}
}
