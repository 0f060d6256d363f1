package flexml

import (
	"fmt"
	"strings"
	"time"
)

// Element names of this file.
const (
	elemGather = "Gather"
	elemDtmf   = "Dtmf"
)

// Bounds and defaults of <Gather> and of digits to send.
const (
	// MaxGatherDigits bounds numDigits: a Gather collects at most this
	// many digits.
	MaxGatherDigits = 128
	// MaxSendDigits bounds the digits one <Dtmf> or <Play digits> sends.
	MaxSendDigits = 64
	// DefaultGatherTimeout is how long a Gather waits for a digit without
	// a timeout attribute.
	DefaultGatherTimeout = 5 * time.Second
	// maxGatherTimeout bounds the timeout attribute.
	maxGatherTimeout = 10 * time.Minute
)

// Gather collects DTMF digits from the caller while its prompts play.
type Gather struct {
	Pos
	// NumDigits ends collection when this many digits have come; 0 means
	// no limit (up to MaxGatherDigits).
	NumDigits int
	// Timeout is how long to wait for the next digit, counted from the
	// end of the prompts and again after every digit (default 5 s).
	Timeout time.Duration
	// FinishOnKey is the key that ends collection, not counted among the
	// digits: one of 0-9, * and # (default "#"); empty: none.
	FinishOnKey string
	// Action is where the digits go (may be relative to the document);
	// empty: the document goes on after the Gather.
	Action string
	// Method is "GET" or "POST" (default) for Action.
	Method string
	// ActionOnEmptyResult requests Action even when no digit came.
	ActionOnEmptyResult bool
	// Prompts play in order until the first digit: *Play, *Say and *Pause.
	Prompts []Verb
}

// Dtmf sends DTMF digits to the caller.
type Dtmf struct {
	Pos
	// Digits are 0-9, *, #, A-D and w (a half-second pause), at most
	// MaxSendDigits.
	Digits string
}

// VerbName returns "Gather".
func (Gather) VerbName() string { return elemGather }

// VerbName returns "Dtmf".
func (Dtmf) VerbName() string { return elemDtmf }

// errSpeech is the message for a Gather asked to recognise speech.
const errSpeech = "speech input is not supported: stream the call's audio to a recognizer with <Start><Stream>"

func (p *parser) gather(n *node) *Gather {
	v := &Gather{Pos: n.pos, Timeout: DefaultGatherTimeout, FinishOnKey: "#", Method: "POST"}
	a := p.attrs(n, []string{"numDigits", "timeout", "finishOnKey", "action", "method", "actionOnEmptyResult", "input"})
	if s, ok := a["numDigits"]; ok {
		d, ok := parseCount(trimSpace(s))
		if !ok || d < 1 || d > MaxGatherDigits {
			p.errorf(n, "numDigits", nil, "invalid numDigits %q: want a whole number from 1 to %d", s, MaxGatherDigits)
		}
		v.NumDigits = d
	}
	if s, ok := a["timeout"]; ok {
		d, ok := parseSeconds(trimSpace(s))
		if !ok || d <= 0 || d > maxGatherTimeout {
			p.errorf(n, "timeout", nil, "invalid timeout %q: want a number of seconds greater than 0, at most %d",
				s, int(maxGatherTimeout/time.Second))
		}
		v.Timeout = d
	}
	if s, ok := a["finishOnKey"]; ok {
		k := trimSpace(s)
		if len(k) > 1 || k != "" && !strings.Contains("0123456789*#", k) {
			p.errorf(n, "finishOnKey", nil, "invalid finishOnKey %q: want one of 0-9, * and #, or empty for none", s)
		}
		v.FinishOnKey = k
	}
	v.Action, v.Method = p.action(n, a, v.Method)
	if s, ok := a["actionOnEmptyResult"]; ok {
		switch strings.ToLower(trimSpace(s)) {
		case "true":
			v.ActionOnEmptyResult = true
		case "false":
		default:
			p.errorf(n, "actionOnEmptyResult", nil, "invalid actionOnEmptyResult %q; allowed: true, false", s)
		}
	}
	if s, ok := a["input"]; ok {
		p.gatherInput(n, s)
	}
	if v.ActionOnEmptyResult && v.Action == "" {
		p.warnf(n, "actionOnEmptyResult", "actionOnEmptyResult has no effect without action")
	}
	p.noText(n)
	for _, k := range n.kids {
		if !k.closed {
			continue
		}
		switch {
		case isElem(k, elemPlay):
			pl := p.play(k)
			if pl.Digits != "" {
				p.errorf(k, "digits", nil, "<Play> sending digits cannot be nested in <Gather>")
			}
			v.Prompts = append(v.Prompts, pl)
		case isElem(k, elemPause):
			v.Prompts = append(v.Prompts, p.pause(k))
		case isElem(k, elemSay):
			v.Prompts = append(v.Prompts, p.say(k))
		case isUnsupported(k.name):
			p.errorf(k, "", ErrNotSupported, "<%s> is not supported yet", displayName(k.name))
		default:
			p.misplaced(k, n)
		}
	}
	return v
}

// gatherInput checks Gather's input attribute: "dtmf" is the only input
// the gateway collects.
func (p *parser) gatherInput(n *node, s string) {
	fields := strings.Fields(strings.ToLower(s))
	if len(fields) == 0 {
		p.errorf(n, "input", nil, "invalid input %q; allowed: dtmf", s)
		return
	}
	for _, f := range fields {
		switch f {
		case "dtmf":
		case "speech":
			p.errorf(n, "input", ErrNotSupported, "%s", errSpeech)
			return
		default:
			p.errorf(n, "input", nil, "invalid input %q; allowed: dtmf", s)
			return
		}
	}
}

func (p *parser) dtmf(n *node) *Dtmf {
	p.attrs(n, nil)
	p.noKids(n)
	return &Dtmf{Pos: n.pos, Digits: p.digits(n, "", string(n.text))}
}

// digits checks digits to send, from n's attribute attr (or its body when
// attr is empty), and returns them trimmed.
func (p *parser) digits(n *node, attr, s string) string {
	d := trimSpace(s)
	what := "body"
	if attr != "" {
		what = fmt.Sprintf("attribute %q", attr)
	}
	switch {
	case d == "":
		p.errorf(n, attr, nil, "%s is required: the digits to send (0-9, *, #, A-D, w for a half-second pause)", what)
		return ""
	case len(d) > MaxSendDigits:
		p.errorf(n, attr, nil, "%s has %d characters; at most %d digits are sent at once", what, len(d), MaxSendDigits)
		return d
	}
	for i, c := range d {
		if !strings.ContainsRune("0123456789*#ABCDabcdwW", c) {
			p.errorf(n, attr, nil, "invalid digit %q at character %d of %s: want 0-9, *, #, A-D or w (a half-second pause)",
				c, i+1, strings.TrimPrefix(what, "attribute "))
			break
		}
	}
	return d
}

// action reads a verb's action and method attributes (the URL requested
// when the verb ends, and how): method keeps its default when absent.
func (p *parser) action(n *node, a map[string]string, method string) (string, string) {
	var action string
	if s, ok := a["action"]; ok {
		u, msg := checkHTTPURL(s)
		if msg != "" {
			p.errorf(n, "action", nil, "attribute \"action\" %s", msg)
		}
		action = u
	}
	if s, ok := a["method"]; ok {
		method = p.method(n, "method", s)
	}
	return action, method
}
