package flexml

import (
	"bytes"
	"cmp"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"
)

// maxDepth bounds element nesting; valid documents need four levels.
const maxDepth = 64

// Parse parses and validates the FlexML document data. name identifies the
// document in messages, such as "app.xml" or its URL.
//
// Parse reports every problem it finds: on failure it returns a nil
// Document and an ErrorList in document order. Problems that do not stop the
// document from running are returned in Document.Warnings. Parse does no
// I/O; relative URLs are left for the caller to resolve.
func Parse(name string, data []byte) (*Document, error) {
	doc, errs, warns := check(name, data)
	if len(errs) > 0 {
		return nil, ErrorList(errs)
	}
	doc.Warnings = warns
	return doc, nil
}

// Check parses and validates data like Parse and returns every error and
// every warning, each in document order, for tools that report all of them
// at once (Parse drops the warnings of a document with errors).
func Check(name string, data []byte) (errs, warns []*Error) {
	_, errs, warns = check(name, data)
	return errs, warns
}

// check does the work of Parse and Check: the document as far as it was
// built, its errors and its warnings, each sorted by position.
func check(name string, data []byte) (*Document, []*Error, []*Error) {
	p := &parser{file: name}
	root, fatal := p.build(data)
	doc := &Document{Name: name}
	if root != nil {
		p.response(root, doc)
	} else if fatal == nil {
		p.errs = append(p.errs, p.newError(p.pt.at(len(p.pt.data)), "", "",
			"document has no root element; want <Response>"))
	}
	if fatal != nil {
		p.errs = append(p.errs, fatal)
	}
	byPos := func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	}
	slices.SortStableFunc(p.errs, byPos)
	slices.SortStableFunc(p.warns, byPos)
	return doc, p.errs, p.warns
}

// parser holds the state of one Parse call.
type parser struct {
	file  string
	pt    posTracker
	errs  []*Error
	warns []*Error
}

// node is an element of the document tree built before validation.
type node struct {
	name    xml.Name // Space holds the raw prefix, if any
	pos     Pos
	attrs   []xml.Attr
	text    []byte // all character data directly inside, in order
	textPos Pos    // first non-space character of text
	hasText bool   // text holds more than white space
	kids    []*node
	closed  bool // the end tag was seen
}

// bom is the UTF-8 byte order mark, skipped at the start of a document.
const bom = "\xef\xbb\xbf"

// build reads data into a tree. It returns the root element (nil if there
// is none) and, if the input is not well-formed, the error that stopped it.
// Elements cut off by that error are left with closed == false.
func (p *parser) build(data []byte) (*node, *Error) {
	data = bytes.TrimPrefix(data, []byte(bom))
	p.pt = posTracker{data: data, line: 1, col: 1}
	// Apps often send a blank line before the XML declaration; accept it
	// while keeping positions those of the document as sent.
	lead := 0
	if rest := bytes.TrimLeft(data, " \t\r\n"); bytes.HasPrefix(rest, []byte("<?xml")) {
		lead = len(data) - len(rest)
	}
	dec := xml.NewDecoder(bytes.NewReader(data[lead:]))
	dec.CharsetReader = charsetReader
	var root *node
	var stack []*node
	for {
		off := lead + int(dec.InputOffset())
		tok, err := dec.RawToken()
		if errors.Is(err, io.EOF) {
			if len(stack) > 0 {
				top := stack[len(stack)-1]
				return root, p.syntaxError(len(data), fmt.Sprintf("unexpected end of document: <%s> at %d:%d is not closed",
					displayName(top.name), top.pos.Line, top.pos.Col))
			}
			return root, nil
		}
		if err != nil {
			// The decoder stops just after the byte it could not accept;
			// point at that byte unless it stopped at the end of the input.
			at := lead + int(dec.InputOffset())
			if at < len(data) && at > off {
				at--
			}
			return root, p.decodeError(at, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			n := &node{name: t.Name, pos: p.pt.at(off), attrs: t.Attr}
			if len(stack) >= maxDepth {
				return root, p.newError(n.pos, displayName(n.name), "",
					fmt.Sprintf("elements nested more than %d deep", maxDepth))
			}
			p.checkDuplicateAttrs(n)
			switch {
			case len(stack) > 0:
				top := stack[len(stack)-1]
				top.kids = append(top.kids, n)
			case root == nil:
				root = n
			default:
				p.errorf(n, "", nil, "only one root element is allowed")
			}
			stack = append(stack, n)
		case xml.EndElement:
			if len(stack) == 0 {
				return root, p.syntaxError(off, fmt.Sprintf("unexpected end element </%s>", displayName(t.Name)))
			}
			top := stack[len(stack)-1]
			if top.name != t.Name && len(stack) >= 2 && top.name.Local == "Stream" && top.name.Space == "" &&
				stack[len(stack)-2].name == t.Name && isStreamParent(t.Name) {
				// CarrierX's own examples leave <Stream ...> open inside
				// <Start>, <Stop> and <Connect>: the parent's end tag
				// closes it too.
				p.warnf(top, "", "<Stream> is not closed: closed by </%s> (write <Stream .../>)", displayName(t.Name))
				top.closed = true
				stack = stack[:len(stack)-1]
				top = stack[len(stack)-1]
			}
			if top.name != t.Name {
				return root, p.syntaxError(off, fmt.Sprintf("element <%s> at %d:%d closed by </%s>",
					displayName(top.name), top.pos.Line, top.pos.Col, displayName(t.Name)))
			}
			top.closed = true
			stack = stack[:len(stack)-1]
		case xml.CharData:
			var pos Pos
			nonSpace := trimSpace(string(t)) != ""
			if nonSpace {
				raw := data[off : lead+int(dec.InputOffset())]
				pos = p.pt.at(off + len(raw) - len(bytes.TrimLeft(raw, xmlSpace)))
			}
			if len(stack) == 0 {
				if nonSpace {
					p.errs = append(p.errs, p.newError(pos, "", "",
						fmt.Sprintf("text %s outside the root element", snippet(string(t)))))
				}
				continue
			}
			top := stack[len(stack)-1]
			top.text = append(top.text, t...)
			if nonSpace && !top.hasText {
				top.hasText = true
				top.textPos = pos
			}
		case xml.ProcInst:
			if t.Target == "xml" && off != lead {
				return root, p.syntaxError(off, "the XML declaration is allowed only at the start of the document")
			}
		case xml.Directive:
			p.errs = append(p.errs, p.newError(p.pt.at(off), "", "",
				"directives such as <!DOCTYPE> are not allowed"))
		case xml.Comment:
		}
	}
}

// isStreamParent reports whether n is a verb whose children are Streams.
func isStreamParent(n xml.Name) bool {
	return n.Space == "" && (n.Local == "Start" || n.Local == "Stop" || n.Local == "Connect")
}

// checkDuplicateAttrs reports attributes given twice on one element.
func (p *parser) checkDuplicateAttrs(n *node) {
	if len(n.attrs) < 2 {
		return
	}
	seen := make(map[xml.Name]bool, len(n.attrs))
	for _, a := range n.attrs {
		if seen[a.Name] {
			p.errorf(n, displayName(a.Name), nil, "duplicate attribute %q", displayName(a.Name))
		}
		seen[a.Name] = true
	}
}

// encodingError is returned by charsetReader for encodings other than UTF-8.
type encodingError struct{ name string }

func (e *encodingError) Error() string {
	return fmt.Sprintf("unsupported encoding %q: FlexML documents must be UTF-8", e.name)
}

// charsetReader accepts ASCII, a subset of UTF-8, and refuses the rest.
func charsetReader(charset string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(charset) {
	case "us-ascii", "ascii":
		return input, nil
	}
	return nil, &encodingError{name: charset}
}

// decodeError converts an error of the XML decoder at byte offset off.
func (p *parser) decodeError(off int, err error) *Error {
	var encErr *encodingError
	if errors.As(err, &encErr) {
		e := p.newError(p.pt.at(0), "", "", encErr.Error())
		e.cause = err
		return e
	}
	msg := err.Error()
	var syn *xml.SyntaxError
	if errors.As(err, &syn) {
		msg = syn.Msg
	}
	e := p.syntaxError(off, msg)
	e.cause = err
	return e
}

// syntaxError reports a document that is not well-formed XML.
func (p *parser) syntaxError(off int, msg string) *Error {
	return p.newError(p.pt.at(off), "", "", "XML syntax error: "+msg)
}

// newError makes an Error; invalid UTF-8 from the input is replaced so
// messages are always printable.
func (p *parser) newError(pos Pos, elem, attr, msg string) *Error {
	return &Error{File: p.file, Line: pos.Line, Col: pos.Col, Element: strings.ToValidUTF8(elem, "\uFFFD"),
		Attr: strings.ToValidUTF8(attr, "\uFFFD"), Msg: strings.ToValidUTF8(msg, "\uFFFD")}
}

// errorf records an error about element n (and attribute attr, if not empty).
func (p *parser) errorf(n *node, attr string, cause error, format string, args ...any) {
	e := p.newError(n.pos, displayName(n.name), attr, fmt.Sprintf(format, args...))
	e.cause = cause
	p.errs = append(p.errs, e)
}

// warnf records a warning about element n.
func (p *parser) warnf(n *node, attr string, format string, args ...any) {
	p.warns = append(p.warns, p.newError(n.pos, displayName(n.name), attr, fmt.Sprintf(format, args...)))
}

// displayName returns name as written, with its prefix.
func displayName(name xml.Name) string {
	if name.Space == "" {
		return name.Local
	}
	return name.Space + ":" + name.Local
}

const xmlSpace = " \t\r\n"

// trimSpace removes XML white space (not other Unicode spaces) around s.
func trimSpace(s string) string { return strings.Trim(s, xmlSpace) }

// snippet quotes the start of the trimmed text s for a message.
func snippet(s string) string {
	const limit = 24
	s = trimSpace(s)
	if utf8.RuneCountInString(s) > limit {
		r := []rune(s)
		s = string(r[:limit]) + "…"
	}
	return fmt.Sprintf("%q", s)
}

// posTracker converts byte offsets into line and column. Offsets are asked
// for in increasing order, so it walks forward from the last one.
type posTracker struct {
	data      []byte
	off       int
	line, col int
}

// at returns the position of data[off].
func (t *posTracker) at(off int) Pos {
	if off < t.off {
		t.off, t.line, t.col = 0, 1, 1
	}
	off = min(off, len(t.data))
	for t.off < off {
		switch c := t.data[t.off]; {
		case c == '\n':
			t.off++
			t.line++
			t.col = 1
		case c == '\r':
			t.off++
			if t.off < len(t.data) && t.data[t.off] == '\n' {
				continue // the '\n' ends the line
			}
			t.line++
			t.col = 1
		case c < utf8.RuneSelf:
			t.off++
			t.col++
		default:
			_, size := utf8.DecodeRune(t.data[t.off:])
			t.off += size
			t.col++
		}
	}
	return Pos{Line: t.line, Col: t.col}
}
