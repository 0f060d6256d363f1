package wire

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

type member struct{ Key, Value string }

func walk(data string) ([]member, error) {
	var got []member
	o := Members([]byte(data))
	for k, v, ok := o.Next(); ok; k, v, ok = o.Next() {
		got = append(got, member{string(k), string(v)})
	}
	return got, o.Err()
}

func TestMembers(t *testing.T) {
	tests := map[string]struct {
		in   string
		want []member
	}{
		"empty":      {`{}`, nil},
		"spaces":     {" \t\r\n{ } \n", nil},
		"one":        {`{"a":1}`, []member{{"a", "1"}}},
		"kinds":      {`{"s":"x\"y","n":-1.5e+3,"t":true,"f":false,"z":null,"o":{"p":[1,{}]},"a":[ ]}`, []member{{"s", `"x\"y"`}, {"n", "-1.5e+3"}, {"t", "true"}, {"f", "false"}, {"z", "null"}, {"o", `{"p":[1,{}]}`}, {"a", "[ ]"}}},
		"spaced":     {"{ \"a\" :\n\"b\" , \"c\":2 }", []member{{"a", `"b"`}, {"c", "2"}}},
		"escape key": {`{"\u0065vent":"x"}`, []member{{"event", `"x"`}}},
		"long key":   {`{"\u0061bcdefghijklmnopqrstuvwxyz0123456789":0}`, []member{{`\u0061bcdefghijklmnopqrstuvwxyz0123456789`, "0"}}},
		"duplicate":  {`{"a":1,"a":2}`, []member{{"a", "1"}, {"a", "2"}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := walk(tc.in)
			if err != nil {
				t.Fatalf("walk(%s): %v", tc.in, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("walk(%s) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestMembersErrors(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"empty input":     {``, "invalid JSON: unexpected end of input"},
		"not object":      {`[1]`, "invalid JSON: unexpected '[' at offset 0"},
		"unclosed":        {`{"a":1`, "invalid JSON: unexpected end of input"},
		"no colon":        {`{"a" 1}`, "invalid JSON: unexpected '1' at offset 5"},
		"bare key":        {`{a:1}`, "invalid JSON: unexpected 'a' at offset 1"},
		"trailing comma":  {`{"a":1,}`, "invalid JSON: unexpected '}' at offset 7"},
		"missing comma":   {`{"a":1 "b":2}`, "invalid JSON: unexpected '\"' at offset 7"},
		"trailing text":   {`{"a":1} x`, "invalid JSON: unexpected 'x' at offset 8"},
		"two objects":     {`{}{}`, "invalid JSON: unexpected '{' at offset 2"},
		"bad literal":     {`{"a":tru}`, "invalid JSON: unexpected '}' at offset 8"},
		"bad number":      {`{"a":01}`, "invalid JSON: unexpected '1' at offset 6"},
		"bad fraction":    {`{"a":1.}`, "invalid JSON: unexpected '}' at offset 7"},
		"bad exponent":    {`{"a":1e}`, "invalid JSON: unexpected '}' at offset 7"},
		"plus sign":       {`{"a":+1}`, "invalid JSON: unexpected '+' at offset 5"},
		"control in str":  {"{\"a\":\"x\ny\"}", "invalid JSON: unexpected '\\n' at offset 7"},
		"bad escape":      {`{"a":"\x"}`, "invalid JSON: unexpected 'x' at offset 7"},
		"short unicode":   {`{"a":"\u12"}`, "invalid JSON: unexpected '\"' at offset 10"},
		"unclosed string": {`{"a":"abc`, "invalid JSON: unexpected end of input"},
		"nested error":    {`{"a":{"b":[1,2,]}}`, "invalid JSON: unexpected ']' at offset 15"},
		"too deep":        {`{"a":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`, "invalid JSON: nesting deeper than 128 at offset 133"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := walk(tc.in)
			if err == nil {
				t.Fatalf("walk(%q) succeeded", tc.in)
			}
			if !errors.Is(err, ErrSyntax) {
				t.Errorf("error %v is not ErrSyntax", err)
			}
			if err.Error() != tc.want {
				t.Fatalf("walk(%q) error = %q, want %q", tc.in, err, tc.want)
			}
		})
	}
}

func TestRawKey(t *testing.T) {
	o := Members([]byte(`{"a\"b":1}`))
	k, _, ok := o.Next()
	if !ok || string(k) != `a"b` || string(o.RawKey()) != `"a\"b"` {
		t.Fatalf("key %q raw %q ok %v", k, o.RawKey(), ok)
	}
}

func TestAppendUnquote(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"plain":          {`"abc"`, "abc"},
		"short escapes":  {`"\"\\\/\b\f\n\r\t"`, "\"\\/\b\f\n\r\t"},
		"unicode":        {`"\u00e9\u260E"`, "é☎"},
		"surrogate pair": {`"\ud83d\ude00!"`, "😀!"},
		"lone high":      {`"\ud83dx"`, "\uFFFDx"},
		"lone low":       {`"\ude00"`, "\uFFFD"},
		"high then bmp":  {`"\ud83d\u0041"`, "\uFFFDA"},
		"raw utf8":       {`"Zoë"`, "Zoë"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := AppendUnquote([]byte("x"), []byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "x"+tc.want {
				t.Fatalf("AppendUnquote(%s) = %q, want %q", tc.in, got[1:], tc.want)
			}
			var std string
			if err := json.Unmarshal([]byte(tc.in), &std); err != nil || std != tc.want {
				t.Fatalf("encoding/json disagrees: %q, %v", std, err)
			}
		})
	}
	for in, want := range map[string]string{
		`1`:      "wrong JSON type: want string, got number",
		`"a"b"`:  "invalid JSON: unexpected 'b' at offset 3",
		`"abc`:   "invalid JSON: unexpected end of input",
		``:       "wrong JSON type: want string, got invalid",
		`"a\qb"`: "invalid JSON: unexpected 'q' at offset 3",
	} {
		if _, err := AppendUnquote(nil, []byte(in)); err == nil || err.Error() != want {
			t.Errorf("AppendUnquote(%s) error = %v, want %q", in, err, want)
		}
	}
}

func TestString(t *testing.T) {
	prev := "media"
	s, err := String([]byte(`"media"`), prev)
	if err != nil || s != "media" {
		t.Fatalf("String = %q, %v", s, err)
	}
	if n := testing.AllocsPerRun(100, func() { _, _ = String([]byte(`"media"`), prev) }); n != 0 {
		t.Errorf("String of the previous value allocates %v times", n)
	}
	if s, err := String([]byte(`"a\tb"`), ""); err != nil || s != "a\tb" {
		t.Errorf("String escaped = %q, %v", s, err)
	}
	if _, err := String([]byte(`null`), ""); !errors.Is(err, ErrType) || err.Error() != "wrong JSON type: want string, got null" {
		t.Errorf("String(null) error = %v", err)
	}
}

func TestUint(t *testing.T) {
	good := map[string]uint64{
		`0`:                      0,
		`320`:                    320,
		`"320"`:                  320,
		`1766400000000`:          1766400000000,
		`"18446744073709551615"`: 18446744073709551615,
		`18446744073709551615`:   18446744073709551615,
		`"\u0031\u0032"`:         12,
	}
	for in, want := range good {
		if got, err := Uint([]byte(in)); err != nil || got != want {
			t.Errorf("Uint(%s) = %d, %v; want %d", in, got, err, want)
		}
	}
	bad := map[string]string{
		`-1`:                                   "not an unsigned integer: -1",
		`1.5`:                                  "not an unsigned integer: 1.5",
		`1e3`:                                  "not an unsigned integer: 1e3",
		`""`:                                   `not an unsigned integer: ""`,
		`"12a"`:                                `not an unsigned integer: "12a"`,
		`" 1"`:                                 `not an unsigned integer: " 1"`,
		`true`:                                 "not an unsigned integer: true",
		`18446744073709551616`:                 "not an unsigned integer: 18446744073709551616",
		`"99999999999999999999"`:               `not an unsigned integer: "99999999999999999999"`,
		`123456789012345678901234567890123456`: "not an unsigned integer: 12345678901234567890123456789012...",
	}
	for in, want := range bad {
		_, err := Uint([]byte(in))
		if err == nil || err.Error() != want || !errors.Is(err, ErrNotUint) {
			t.Errorf("Uint(%s) error = %v, want %q", in, err, want)
		}
	}
}

func TestAppendDecodeBase64(t *testing.T) {
	good := map[string][]byte{
		`""`:           {},
		`"AAEC"`:       {0, 1, 2},
		`"//4AEA=="`:   {0xff, 0xfe, 0, 0x10},
		`"//4AEA"`:     {0xff, 0xfe, 0, 0x10},
		`"\/\/4AEA=="`: {0xff, 0xfe, 0, 0x10},
	}
	for in, want := range good {
		got, err := AppendDecodeBase64([]byte{9}, []byte(in))
		if err != nil || string(got) != string(append([]byte{9}, want...)) {
			t.Errorf("AppendDecodeBase64(%s) = %v, %v; want 9 + %v", in, got, err, want)
		}
	}
	bad := map[string]string{
		`"AAAA!AAA"`: "illegal base64 data at input byte 4",
		`"AAA=AAAA"`: "illegal base64 data at input byte 4",
		`"A"`:        "illegal base64 data at input byte 0",
		`42`:         "wrong JSON type: want string, got number",
	}
	for in, want := range bad {
		if _, err := AppendDecodeBase64(nil, []byte(in)); err == nil || err.Error() != want {
			t.Errorf("AppendDecodeBase64(%s) error = %v, want %q", in, err, want)
		}
	}
	dst := make([]byte, 0, 256)
	raw := []byte(`"` + strings.Repeat("AAEC", 53) + `"`)
	if n := testing.AllocsPerRun(100, func() { _, _ = AppendDecodeBase64(dst, raw) }); n != 0 {
		t.Errorf("AppendDecodeBase64 allocates %v times", n)
	}
}

func TestField(t *testing.T) {
	v, found, err := Field([]byte(`{"a":1,"payload":"x","payload":"y"}`), "payload")
	if err != nil || !found || string(v) != `"y"` {
		t.Fatalf("Field = %s, %v, %v", v, found, err)
	}
	if _, found, err := Field([]byte(`{"a":1}`), "payload"); err != nil || found {
		t.Fatalf("Field absent = %v, %v", found, err)
	}
	if _, _, err := Field([]byte(`"x"`), "a"); err == nil || err.Error() != "wrong JSON type: want object, got string" {
		t.Fatalf("Field on string: %v", err)
	}
}

func TestKindString(t *testing.T) {
	for raw, want := range map[string]string{`null`: "null", `true`: "bool", `-1`: "number", `"`: "string", `[`: "array", `{`: "object", `x`: "invalid"} {
		if got := KindOf([]byte(raw)).String(); got != want {
			t.Errorf("KindOf(%s) = %s, want %s", raw, got, want)
		}
	}
}

// FuzzMembers checks the reader accepts exactly the objects encoding/json
// accepts (below the nesting limit) and never panics.
func FuzzMembers(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":[1,{"b":null}],"c":"\u00e9"}`, `{"a":1,}`, `[]`, `{"a":"\ud83d"}`, `{"a":-0.5E+2}`, `{"":1E700}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		o := Members(data)
		n := 0
		for k, v, ok := o.Next(); ok; k, v, ok = o.Next() {
			n++
			_ = k
			if !json.Valid(v) {
				t.Fatalf("value %q of %q is not valid JSON", v, data)
			}
			if KindOf(v) == KindString {
				s, err := AppendUnquote(nil, v)
				var std string
				if err != nil || json.Unmarshal(v, &std) != nil || std != validPerByte(string(s)) {
					t.Fatalf("unquote %q = %q, %v; encoding/json %q", v, s, err, std)
				}
			}
		}
		ours := o.Err() == nil
		// The reader checks syntax: a number too large for a float64
		// ({"a":1E700}) is valid JSON, which a map of raw values keeps.
		var obj map[string]json.RawMessage
		std := json.Unmarshal(data, &obj) == nil && obj != nil
		if ours != std && !(strings.Count(string(data), "[")+strings.Count(string(data), "{") > maxDepth) {
			t.Fatalf("%q: reader ok=%v (%v), encoding/json ok=%v", data, ours, o.Err(), std)
		}
	})
}

// validPerByte replaces each byte of invalid UTF-8 with U+FFFD, as
// encoding/json does.
func validPerByte(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r)
	}
	return b.String()
}
