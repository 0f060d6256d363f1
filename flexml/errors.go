package flexml

import (
	"errors"
	"strconv"
	"strings"
)

// ErrNotSupported is wrapped by errors about verbs and nouns that FlexML
// defines but callstream does not run yet.
var ErrNotSupported = errors.New("flexml: not supported yet")

// Error is one problem found in a document.
type Error struct {
	File      string // document name given to Parse
	Line, Col int    // position of the element's '<' (or of the text or syntax error)
	Element   string // element name without brackets; empty for XML syntax errors
	Attr      string // attribute concerned, if any
	Msg       string

	cause error // optional; returned by Unwrap
}

// Error formats e as "<file>:<line>:<col>: <Element>: <message>"; the file
// and element parts are left out when empty.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	b.WriteString(strconv.Itoa(e.Line))
	b.WriteByte(':')
	b.WriteString(strconv.Itoa(e.Col))
	b.WriteString(": ")
	if e.Element != "" {
		b.WriteByte('<')
		b.WriteString(e.Element)
		b.WriteString(">: ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the cause of e, such as ErrNotSupported, or nil.
func (e *Error) Unwrap() error { return e.cause }

// ErrorList is every error found in a document, in document order.
type ErrorList []*Error

// Error returns every message, one per line.
func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap returns the errors of l, so errors.Is and errors.As look at each.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}
