package flexml

import (
	"errors"
	"testing"
	"unicode/utf8"
)

func FuzzParse(f *testing.F) {
	seeds := []string{
		"",
		"<Response/>",
		"\ufeff<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<Response>\r\n<Hangup/>\r\n</Response>",
		`<Response><Start><Stream url="wss://a/" name="r" track="both" maxLength="1.5" timestampStart="absolute"><Parameter name="a b" value="c"/><Parameter name="a b" value="d"/></Stream></Start></Response>`,
		`<Response><Stop><Stream name="r"/><Stream/></Stop><Connect><Stream url="/x"/></Connect></Response>`,
		`<Response><Pause length=".5"/><Play loop="0">http://h/a.wav</Play><Redirect method="get">/n</Redirect><Reject reason="busy"/></Response>`,
		`<Response><Say>hi</Say><Dial><Number>1</Number></Dial><Play><File/></Play><Foo bar="1"/></Response>`,
		`<Response><Start><Stream url="wss://a/?q" track="x" audio_track="y"/></Start>text</Response>`,
		`<Response xmlns:x="u"><x:Start x:a="1"/><![CDATA[x]]><!DOCTYPE x><?pi x?></Response>`,
		"<Response>\n  <Start>\n</Response>",
		"<Response><Play>\xff</Play>",
		"<Response>\r<Pause length=\"99999999999999999999\"/>\r</Response>",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Parse("f.xml", data)
		if err != nil {
			if doc != nil {
				t.Fatal("document returned with an error")
			}
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error %T %v is not a non-empty ErrorList", err, err)
			}
			checkErrors(t, list)
			return
		}
		if doc == nil {
			t.Fatal("nil document without an error")
		}
		checkErrors(t, doc.Warnings)
		for _, v := range doc.Verbs {
			if p := v.Position(); p.Line < 1 || p.Col < 1 {
				t.Fatalf("%s at %v", v.VerbName(), p)
			}
		}
	})
}

// checkErrors checks that errs are positioned, ordered and printable.
func checkErrors(t *testing.T, errs []*Error) {
	t.Helper()
	for i, e := range errs {
		if e.Line < 1 || e.Col < 1 || e.Msg == "" || e.File != "f.xml" {
			t.Fatalf("bad error %+v", e)
		}
		if i > 0 && (e.Line < errs[i-1].Line || e.Line == errs[i-1].Line && e.Col < errs[i-1].Col) {
			t.Fatalf("errors out of order: %v before %v", errs[i-1], e)
		}
		if !utf8.ValidString(e.Error()) {
			t.Fatalf("message is not UTF-8: %q", e.Error())
		}
	}
}
