package wire

import (
	"encoding/json"
	"math"
	"testing"
	"unicode/utf8"
)

func TestAppendString(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"empty":       {"", `""`},
		"plain":       {"hello world", `"hello world"`},
		"quote":       {`say "hi"`, `"say \"hi\""`},
		"backslash":   {`C:\dir\`, `"C:\\dir\\"`},
		"slash kept":  {"a/b", `"a/b"`},
		"short forms": {"\b\f\n\r\t", `"\b\f\n\r\t"`},
		"controls":    {"\x00\x01\x1f", `"\u0000\u0001\u001f"`},
		"del kept":    {"\x7f", "\"\x7f\""},
		"non-ascii":   {"Zoë ☎ 😀", `"Zoë ☎ 😀"`},
		"bad utf8":    {"a\xffb\xc3", `"a\ufffdb\ufffd"`},
		"mixed":       {"\"\\\n€\x02", `"\"\\\n€\u0002"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := AppendString([]byte("x"), tc.in)
			if string(got) != "x"+tc.want {
				t.Fatalf("AppendString(%q) = %s, want x%s", tc.in, got, tc.want)
			}
			var back string
			if err := json.Unmarshal(got[1:], &back); err != nil {
				t.Fatalf("encoding/json rejects %s: %v", got[1:], err)
			}
			if want := validPerByte(tc.in); back != want {
				t.Fatalf("round trip = %q, want %q", back, want)
			}
		})
	}
}

func TestAppendNumbers(t *testing.T) {
	if got := string(AppendUint(nil, math.MaxUint64)); got != "18446744073709551615" {
		t.Errorf("AppendUint(max) = %s", got)
	}
	if got := string(AppendQuotedUint(nil, 1766400000000)); got != `"1766400000000"` {
		t.Errorf("AppendQuotedUint = %s", got)
	}
	if got := string(AppendInt(nil, -8000)); got != "-8000" {
		t.Errorf("AppendInt = %s", got)
	}
	if got := string(AppendMember(nil, `a"b`, "c\n")); got != `"a\"b":"c\n"` {
		t.Errorf("AppendMember = %s", got)
	}
}

func TestAppendBase64(t *testing.T) {
	if got := string(AppendBase64([]byte(`"`), []byte{0xff, 0xfe, 0x00, 0x10})); got != `"//4AEA==` {
		t.Errorf("AppendBase64 = %s", got)
	}
}

func TestAppendNoAlloc(t *testing.T) {
	payload := make([]byte, 160)
	buf := make([]byte, 0, 1024)
	n := testing.AllocsPerRun(100, func() {
		b := AppendString(buf[:0], "quote\" back\\ ctl\x01 é")
		b = AppendQuotedUint(b, 1766400000000)
		b = AppendBase64(b, payload)
		_ = b
	})
	if n != 0 {
		t.Fatalf("allocs per run = %v, want 0", n)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a", `"\`, "\x00\x1f\x7f", "é☎😀", "\xff\xfe", "\u2028"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := AppendString(nil, s)
		if !utf8.Valid(out) {
			t.Fatalf("output is not UTF-8: %q", out)
		}
		var back string
		if err := json.Unmarshal(out, &back); err != nil {
			t.Fatalf("encoding/json rejects %s: %v", out, err)
		}
		if want := validPerByte(s); back != want {
			t.Fatalf("round trip of %q = %q", s, back)
		}
		raw, err := AppendUnquote(nil, out)
		if err != nil {
			t.Fatalf("AppendUnquote(%s): %v", out, err)
		}
		if string(raw) != back {
			t.Fatalf("AppendUnquote = %q, encoding/json = %q", raw, back)
		}
	})
}
