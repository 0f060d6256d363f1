package wire

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds the nesting of arrays and objects the reader accepts.
const maxDepth = 128

// Kind is the type of a raw JSON value.
type Kind uint8

// Kinds of JSON values.
const (
	KindInvalid Kind = iota // empty or not a JSON value
	KindNull
	KindBool
	KindNumber
	KindString
	KindArray
	KindObject
)

// String returns the kind's name as used in error messages.
func (k Kind) String() string {
	switch k {
	case KindNull:
		return "null"
	case KindBool:
		return "bool"
	case KindNumber:
		return "number"
	case KindString:
		return "string"
	case KindArray:
		return "array"
	case KindObject:
		return "object"
	}
	return "invalid"
}

// KindOf tells the kind of the raw value from its first byte. It does not
// validate the rest.
func KindOf(raw []byte) Kind {
	if len(raw) == 0 {
		return KindInvalid
	}
	switch c := raw[0]; {
	case c == '"':
		return KindString
	case c == '{':
		return KindObject
	case c == '[':
		return KindArray
	case c == 'n':
		return KindNull
	case c == 't' || c == 'f':
		return KindBool
	case c == '-' || (c >= '0' && c <= '9'):
		return KindNumber
	}
	return KindInvalid
}

// Object walks the members of one JSON object. Its zero value walks
// nothing; make one with Members. The slices it returns point into the
// walked text.
type Object struct {
	data  []byte
	off   int
	state uint8
	err   error
	rawK  []byte
	kbuf  [32]byte
}

const (
	objStart uint8 = iota
	objFirst
	objMore
	objDone
)

// Members returns an Object that walks the object in data. data must hold
// exactly one object, optionally surrounded by whitespace; anything else is
// reported by Err once Next returns false.
func Members(data []byte) Object {
	return Object{data: data}
}

// Next returns the next member: its key and its raw value, validated. The
// key's escapes, if any, are undone when the result fits 32 bytes (longer
// escaped keys come back as written; RawKey gives the exact key). ok is
// false at the end of the object or on the first error; Err tells which.
func (o *Object) Next() (key, value []byte, ok bool) {
	d := o.data
	i := o.off
	switch o.state {
	case objDone:
		return nil, nil, false
	case objStart:
		i = skipSpace(d, i)
		if i >= len(d) {
			return o.fail(errEOF())
		}
		if d[i] != '{' {
			return o.fail(errAt(d, i))
		}
		i = skipSpace(d, i+1)
		if i < len(d) && d[i] == '}' {
			return o.finish(i + 1)
		}
	case objFirst, objMore:
		i = skipSpace(d, i)
		if i >= len(d) {
			return o.fail(errEOF())
		}
		switch d[i] {
		case '}':
			return o.finish(i + 1)
		case ',':
			i = skipSpace(d, i+1)
		default:
			return o.fail(errAt(d, i))
		}
	}
	if i >= len(d) {
		return o.fail(errEOF())
	}
	if d[i] != '"' {
		return o.fail(errAt(d, i))
	}
	kend, escaped, err := scanString(d, i)
	if err != nil {
		return o.fail(err)
	}
	rawKey := d[i:kend]
	i = skipSpace(d, kend)
	if i >= len(d) {
		return o.fail(errEOF())
	}
	if d[i] != ':' {
		return o.fail(errAt(d, i))
	}
	i = skipSpace(d, i+1)
	vend, err := skipValue(d, i, 1)
	if err != nil {
		return o.fail(err)
	}
	value = d[i:vend]
	o.rawK = rawKey
	o.off = vend
	o.state = objMore
	key = rawKey[1 : len(rawKey)-1]
	if escaped {
		if k, err := AppendUnquote(o.kbuf[:0], rawKey); err == nil && len(k) <= len(o.kbuf) {
			key = k
		}
	}
	return key, value, true
}

// RawKey returns the key of the member Next last returned as a JSON string,
// quotes and escapes included; String decodes it.
func (o *Object) RawKey() []byte { return o.rawK }

// Err returns the error that ended the walk, or nil.
func (o *Object) Err() error { return o.err }

func (o *Object) fail(err error) ([]byte, []byte, bool) {
	o.err = err
	o.state = objDone
	return nil, nil, false
}

func (o *Object) finish(i int) ([]byte, []byte, bool) {
	o.state = objDone
	i = skipSpace(o.data, i)
	if i < len(o.data) {
		o.err = errAt(o.data, i)
	}
	o.off = i
	return nil, nil, false
}

func errEOF() error {
	return fmt.Errorf("%w: unexpected end of input", ErrSyntax)
}

func errAt(d []byte, i int) error {
	return fmt.Errorf("%w: unexpected %q at offset %d", ErrSyntax, d[i], i)
}

func skipSpace(d []byte, i int) int {
	for i < len(d) {
		switch d[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipValue validates the value starting at d[i] and returns the index just
// after it.
func skipValue(d []byte, i, depth int) (int, error) {
	if i >= len(d) {
		return i, errEOF()
	}
	switch c := d[i]; {
	case c == '"':
		end, _, err := scanString(d, i)
		return end, err
	case c == '{' || c == '[':
		if depth > maxDepth {
			return i, fmt.Errorf("%w: nesting deeper than %d at offset %d", ErrSyntax, maxDepth, i)
		}
		return skipContainer(d, i, depth)
	case c == 't':
		return skipLiteral(d, i, "true")
	case c == 'f':
		return skipLiteral(d, i, "false")
	case c == 'n':
		return skipLiteral(d, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		return scanNumber(d, i)
	}
	return i, errAt(d, i)
}

func skipContainer(d []byte, i, depth int) (int, error) {
	isObj := d[i] == '{'
	closer := byte(']')
	if isObj {
		closer = '}'
	}
	i = skipSpace(d, i+1)
	if i < len(d) && d[i] == closer {
		return i + 1, nil
	}
	for {
		if isObj {
			if i >= len(d) {
				return i, errEOF()
			}
			if d[i] != '"' {
				return i, errAt(d, i)
			}
			end, _, err := scanString(d, i)
			if err != nil {
				return end, err
			}
			i = skipSpace(d, end)
			if i >= len(d) {
				return i, errEOF()
			}
			if d[i] != ':' {
				return i, errAt(d, i)
			}
			i = skipSpace(d, i+1)
		}
		end, err := skipValue(d, i, depth+1)
		if err != nil {
			return end, err
		}
		i = skipSpace(d, end)
		if i >= len(d) {
			return i, errEOF()
		}
		switch d[i] {
		case ',':
			i = skipSpace(d, i+1)
		case closer:
			return i + 1, nil
		default:
			return i, errAt(d, i)
		}
	}
}

func skipLiteral(d []byte, i int, lit string) (int, error) {
	for j := 0; j < len(lit); j++ {
		if i+j >= len(d) {
			return i + j, errEOF()
		}
		if d[i+j] != lit[j] {
			return i + j, errAt(d, i+j)
		}
	}
	return i + len(lit), nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// scanNumber checks the RFC 8259 number grammar.
func scanNumber(d []byte, i int) (int, error) {
	if d[i] == '-' {
		i++
	}
	switch {
	case i >= len(d):
		return i, errEOF()
	case d[i] == '0':
		i++
	case isDigit(d[i]):
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	default:
		return i, errAt(d, i)
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) {
			return i, errEOF()
		}
		if !isDigit(d[i]) {
			return i, errAt(d, i)
		}
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) {
			return i, errEOF()
		}
		if !isDigit(d[i]) {
			return i, errAt(d, i)
		}
		for i < len(d) && isDigit(d[i]) {
			i++
		}
	}
	return i, nil
}

// Word masks for scanning eight string bytes at a time.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// plainWord reports whether none of the eight bytes in x is a quote, a
// backslash or a control character.
func plainWord(x uint64) bool {
	ctl := (x - ones*0x20) & ^x
	q := x ^ (ones * '"')
	quote := (q - ones) & ^q
	b := x ^ (ones * '\\')
	bslash := (b - ones) & ^b
	return (ctl|quote|bslash)&highs == 0
}

// scanString validates the string starting at the quote d[i] and returns
// the index after its closing quote and whether it holds escapes.
func scanString(d []byte, i int) (end int, escaped bool, err error) {
	i++
	for {
		for i+8 <= len(d) && plainWord(binary.LittleEndian.Uint64(d[i:])) {
			i += 8
		}
		if i >= len(d) {
			return i, escaped, errEOF()
		}
		switch c := d[i]; {
		case c == '"':
			return i + 1, escaped, nil
		case c == '\\':
			escaped = true
			i++
			if i >= len(d) {
				return i, true, errEOF()
			}
			switch d[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				for j := 1; j <= 4; j++ {
					if i+j >= len(d) {
						return i + j, true, errEOF()
					}
					if hexVal(d[i+j]) < 0 {
						return i + j, true, errAt(d, i+j)
					}
				}
				i += 4
			default:
				return i, true, errAt(d, i)
			}
		case c < 0x20:
			return i, escaped, errAt(d, i)
		}
		i++
	}
}

func hexVal(c byte) rune {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0')
	case c >= 'a' && c <= 'f':
		return rune(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

// Plain returns the bytes between the quotes of the JSON string raw when it
// is a valid string holding no escapes; ok is false otherwise.
func Plain(raw []byte) (s []byte, ok bool) {
	if KindOf(raw) != KindString {
		return nil, false
	}
	end, escaped, err := scanString(raw, 0)
	if err != nil || escaped || end != len(raw) {
		return nil, false
	}
	return raw[1 : len(raw)-1], true
}

// AppendUnquote appends the contents of the JSON string raw (quotes
// included) to dst with escapes undone. Unpaired surrogates become U+FFFD.
func AppendUnquote(dst, raw []byte) ([]byte, error) {
	if KindOf(raw) != KindString {
		return dst, fmt.Errorf("%w: want string, got %s", ErrType, KindOf(raw))
	}
	end, _, err := scanString(raw, 0)
	if err != nil {
		return dst, err
	}
	if end != len(raw) {
		return dst, errAt(raw, end)
	}
	s := raw[1 : len(raw)-1]
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			j := i + 1
			for j < len(s) && s[j] != '\\' {
				j++
			}
			dst = append(dst, s[i:j]...)
			i = j
			continue
		}
		// scanString has checked the escape is complete and well formed.
		e := s[i+1]
		i += 2
		switch e {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(s[i:])
			i += 4
			if utf16.IsSurrogate(r) {
				r2 := rune(-1)
				if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
					r2 = hex4(s[i+2:])
				}
				if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
					r = dec
					i += 6
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
		default: // '"', '\\', '/'
			dst = append(dst, e)
		}
	}
	return dst, nil
}

func hex4(s []byte) rune {
	return hexVal(s[0])<<12 | hexVal(s[1])<<8 | hexVal(s[2])<<4 | hexVal(s[3])
}

// String returns the contents of the JSON string raw. When they equal prev,
// prev itself is returned, so a caller that passes the previous value
// does not allocate for a repeated one.
func String(raw []byte, prev string) (string, error) {
	if s, ok := Plain(raw); ok {
		if string(s) == prev {
			return prev, nil
		}
		return string(s), nil
	}
	b, err := AppendUnquote(nil, raw)
	if err != nil {
		return "", err
	}
	if string(b) == prev {
		return prev, nil
	}
	return string(b), nil
}

// Uint returns the unsigned integer held by raw, which may be a JSON
// number (digits only: no sign, fraction or exponent) or a JSON string of
// such digits, as some peers send 64-bit counters.
func Uint(raw []byte) (uint64, error) {
	digits := raw
	switch KindOf(raw) {
	case KindNumber:
	case KindString:
		var buf [32]byte
		s, ok := Plain(raw)
		if !ok {
			u, err := AppendUnquote(buf[:0], raw)
			if err != nil {
				return 0, err
			}
			s = u
		}
		digits = s
	default:
		return 0, notUint(raw)
	}
	if len(digits) == 0 || len(digits) > 20 {
		return 0, notUint(raw)
	}
	var v uint64
	for _, c := range digits {
		if !isDigit(c) {
			return 0, notUint(raw)
		}
		d := uint64(c - '0')
		if v > (1<<64-1-d)/10 {
			return 0, notUint(raw)
		}
		v = v*10 + d
	}
	return v, nil
}

func notUint(raw []byte) error {
	const max = 32
	if len(raw) > max {
		return fmt.Errorf("%w: %s...", ErrNotUint, raw[:max])
	}
	return fmt.Errorf("%w: %s", ErrNotUint, raw)
}

// AppendDecodeBase64 decodes the base64 text held by the JSON string raw and
// appends the bytes to dst. Standard padded base64 is expected; unpadded
// text is accepted too. It does not allocate when the string holds no
// escapes and dst has room.
func AppendDecodeBase64(dst, raw []byte) ([]byte, error) {
	s, ok := Plain(raw)
	if !ok {
		u, err := AppendUnquote(nil, raw)
		if err != nil {
			return dst, err
		}
		s = u
	}
	enc := base64.StdEncoding
	if len(s)%4 != 0 && (len(s) == 0 || s[len(s)-1] != '=') {
		enc = base64.RawStdEncoding
	}
	return enc.AppendDecode(dst, s)
}

// Field returns the raw value of the member named key in the object obj;
// found is false when there is none. When a key repeats, the last one wins.
// The whole object is validated.
func Field(obj []byte, key string) (value []byte, found bool, err error) {
	if k := KindOf(obj); k != KindObject {
		return nil, false, fmt.Errorf("%w: want object, got %s", ErrType, k)
	}
	o := Members(obj)
	for k, v, ok := o.Next(); ok; k, v, ok = o.Next() {
		if string(k) == key {
			value, found = v, true
		}
	}
	if err := o.Err(); err != nil {
		return nil, false, err
	}
	return value, found, nil
}
