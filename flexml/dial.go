package flexml

import (
	"strings"
	"time"
)

// Element names of this file.
const (
	elemDial   = "Dial"
	elemSip    = "Sip"
	elemNumber = "Number"
)

// Bounds and defaults of <Dial>.
const (
	// DefaultDialTimeout is how long a Dial rings without a timeout
	// attribute.
	DefaultDialTimeout = 30 * time.Second
	// MaxDialTimeout bounds the timeout attribute.
	MaxDialTimeout = 600 * time.Second
	// DefaultDialTimeLimit is how long a bridge lasts at most without a
	// timeLimit attribute.
	DefaultDialTimeLimit = 4 * time.Hour
	// MaxDialTimeLimit bounds the timeLimit attribute.
	MaxDialTimeLimit = 24 * time.Hour
	// maxDialTarget bounds a SIP URI or a number to dial, in bytes.
	maxDialTarget = 512
	// maxNumberDigits bounds the digits of a number to dial (E.164 has 15).
	maxNumberDigits = 20
)

// Dial connects the caller to a second call, placed by the gateway, and
// bridges their audio both ways until either hangs up.
type Dial struct {
	Pos
	// Target is the one party to call: a SIP URI or a phone number.
	Target DialTarget
	// CallerID is the From user the callee sees; empty: the caller's own
	// number (or the gateway's --caller-id).
	CallerID string
	// Timeout is how long the callee may ring (default 30 s, at most
	// MaxDialTimeout).
	Timeout time.Duration
	// TimeLimit ends the bridge after this long (default 4 h, at most
	// MaxDialTimeLimit).
	TimeLimit time.Duration
	// HangupOnStar lets the caller end the bridge (not the call) with *.
	HangupOnStar bool
	// AnswerOnBridge leaves the caller unanswered (ringing) until the
	// callee answers.
	AnswerOnBridge bool
	// Record is whether and how the bridged call is recorded (record).
	Record DialRecord
	// Action is requested when the Dial ends, with DialCallStatus,
	// DialCallDuration and DialCallSid (and, when it recorded,
	// RecordingUrl, RecordingDuration and RecordingSid); empty: the
	// document goes on.
	Action string
	// Method is "GET" or "POST" (default) for Action.
	Method string
}

// DialRecord is how a Dial records its bridged call.
type DialRecord int

// The recordings of a Dial (record="record-from-answer[-dual]"; the
// from-ringing values record from the answer too).
const (
	// DialRecordNone records nothing (do-not-record, false: the default).
	DialRecordNone DialRecord = iota
	// DialRecordMono records both parties summed into one channel
	// (record-from-answer, true).
	DialRecordMono
	// DialRecordDual records the caller on the first channel and the
	// callee on the second (record-from-answer-dual).
	DialRecordDual
)

// DialTarget is the party a Dial calls: a <Sip> or a <Number> noun, or the
// Dial's body.
type DialTarget struct {
	Pos
	// Number reports a phone number (sent through the gateway's PSTN
	// trunk); otherwise URI is a SIP URI.
	Number bool
	// URI is "sip:user@host[:port][;params]", or, for a number, its
	// digits with a leading "+" when given.
	URI string
	// Username and Password answer the callee's digest challenge (<Sip>).
	Username, Password string
	// SendDigits are DTMF digits sent to the callee once it answers
	// (<Number sendDigits>).
	SendDigits string
}

// VerbName returns "Dial".
func (Dial) VerbName() string { return elemDial }

// dialNounsUnsupported are TwiML's other <Dial> nouns.
var dialNounsUnsupported = []string{"Client", "Conference", "Queue", "Sim", "Application", "WhatsApp"}

func (p *parser) dial(n *node) *Dial {
	v := &Dial{Pos: n.pos, Timeout: DefaultDialTimeout, TimeLimit: DefaultDialTimeLimit, Method: "POST"}
	a := p.attrs(n, []string{"callerId", "timeout", "timeLimit", "hangupOnStar", "answerOnBridge", "record",
		"action", "method", "ringTone"})
	if s, ok := a["callerId"]; ok {
		id := trimSpace(s)
		if id == "" || len(id) > 64 || strings.ContainsAny(id, " \t\r\n<>@;:\"") {
			p.errorf(n, "callerId", nil, "invalid callerId %q: want a phone number or a SIP user name, such as +15551234567", s)
		}
		v.CallerID = id
	}
	if s, ok := a["timeout"]; ok {
		d, ok := parseSeconds(trimSpace(s))
		if !ok || d < time.Second || d > MaxDialTimeout {
			p.errorf(n, "timeout", nil, "invalid timeout %q: want a number of seconds from 1 to %d",
				s, int(MaxDialTimeout/time.Second))
		}
		v.Timeout = d
	}
	if s, ok := a["timeLimit"]; ok {
		d, ok := parseSeconds(trimSpace(s))
		if !ok || d < time.Second || d > MaxDialTimeLimit {
			p.errorf(n, "timeLimit", nil, "invalid timeLimit %q: want a number of seconds from 1 to %d",
				s, int(MaxDialTimeLimit/time.Second))
		}
		v.TimeLimit = d
	}
	v.HangupOnStar = p.boolAttr(n, a, "hangupOnStar")
	v.AnswerOnBridge = p.boolAttr(n, a, "answerOnBridge")
	if s, ok := a["record"]; ok {
		switch val := strings.ToLower(trimSpace(s)); val {
		case "do-not-record", "false":
		case "record-from-answer", "true":
			v.Record = DialRecordMono
		case "record-from-answer-dual":
			v.Record = DialRecordDual
		case "record-from-ringing", "record-from-ringing-dual":
			v.Record = DialRecordMono
			if val == "record-from-ringing-dual" {
				v.Record = DialRecordDual
			}
			p.warnf(n, "record", "record=%q records from the answer: the caller hears silence while the callee rings, so there is no ringing to record", s)
		default:
			p.errorf(n, "record", nil, "invalid record %q; allowed: do-not-record, record-from-answer, record-from-answer-dual, record-from-ringing, record-from-ringing-dual, true, false", s)
		}
	}
	v.Action, v.Method = p.action(n, a, v.Method)
	if _, ok := a["ringTone"]; ok {
		p.warnf(n, "ringTone", "ringTone is ignored: the caller hears silence while the callee rings")
	}
	v.Target = p.dialTarget(n)
	return v
}

// boolAttr reads an optional true/false attribute (default false).
func (p *parser) boolAttr(n *node, a map[string]string, attr string) bool {
	s, ok := a[attr]
	if !ok {
		return false
	}
	switch strings.ToLower(trimSpace(s)) {
	case "true":
		return true
	case "false":
		return false
	}
	p.errorf(n, attr, nil, "invalid %s %q; allowed: true, false", attr, s)
	return false
}

// dialTarget reads the one party of a Dial: a <Sip> or <Number> noun, or
// the body (a SIP URI or a number).
func (p *parser) dialTarget(n *node) DialTarget {
	var t DialTarget
	count, misplaced := 0, false
	for _, k := range n.kids {
		if !k.closed {
			continue
		}
		switch {
		case isElem(k, elemSip):
			count++
			if count == 1 {
				t = p.sipNoun(k)
			}
		case isElem(k, elemNumber):
			count++
			if count == 1 {
				t = p.numberNoun(k)
			}
		case k.name.Space == "" && containsName(dialNounsUnsupported, k.name.Local):
			p.errorf(k, "", ErrNotSupported, "<%s> in <Dial> is not supported yet; dial a <Sip> URI or a <Number>", k.name.Local)
			count++
		default:
			p.misplaced(k, n)
			misplaced = true
		}
	}
	body := trimSpace(string(n.text))
	switch {
	case count > 1:
		p.errorf(n, "", ErrNotSupported, "<Dial> with %d nouns is not supported yet: one <Sip> or <Number> rings at a time", count)
	case count == 1 && body != "":
		p.noText(n)
	case count == 0 && body == "" && !misplaced:
		p.errorf(n, "", nil, "<Dial> needs whom to call: a <Sip> or <Number> noun, or a number or SIP URI as its body")
	case count == 0 && body != "":
		pos := n.textPos
		if hasPrefixFoldASCII(body, "sip:") || hasPrefixFoldASCII(body, "sips:") {
			t = DialTarget{Pos: pos, URI: p.sipURI(n, body)}
		} else {
			t = DialTarget{Pos: pos, Number: true, URI: p.number(n, body)}
		}
	}
	return t
}

func (p *parser) sipNoun(n *node) DialTarget {
	t := DialTarget{Pos: n.pos}
	a := p.attrs(n, []string{"username", "password"})
	t.Username, t.Password = a["username"], a["password"]
	if (t.Username == "") != (t.Password == "") {
		p.errorf(n, "", nil, "<Sip> needs both username and password, or neither")
	}
	p.noKids(n)
	body := trimSpace(string(n.text))
	if body == "" {
		p.errorf(n, "", nil, "body is required: the SIP URI to call, such as sip:alice@example.com")
		return t
	}
	t.URI = p.sipURI(n, body)
	return t
}

func (p *parser) numberNoun(n *node) DialTarget {
	t := DialTarget{Pos: n.pos, Number: true}
	a := p.attrs(n, []string{"sendDigits"})
	if s, ok := a["sendDigits"]; ok {
		t.SendDigits = p.digits(n, "sendDigits", s)
	}
	p.noKids(n)
	body := trimSpace(string(n.text))
	if body == "" {
		p.errorf(n, "", nil, "body is required: the phone number to call, such as +15551234567")
		return t
	}
	t.URI = p.number(n, body)
	return t
}

// sipURI checks a SIP URI to dial: sip:, a host, no spaces.
func (p *parser) sipURI(n *node, s string) string {
	switch {
	case len(s) > maxDialTarget:
		p.errorf(n, "", nil, "SIP URI of %d bytes is too long: at most %d", len(s), maxDialTarget)
	case hasPrefixFoldASCII(s, "sips:"):
		p.errorf(n, "", ErrNotSupported, "sips: URIs are not supported yet: dial a sip: URI")
	case !hasPrefixFoldASCII(s, "sip:"):
		p.errorf(n, "", nil, "invalid SIP URI %q: want sip:user@host[:port]", s)
	case strings.ContainsAny(s, " \t\r\n<>\""):
		p.errorf(n, "", nil, "invalid SIP URI %s: spaces, quotes and angle brackets are not allowed", snippet(s))
	default:
		rest := s[len("sip:"):]
		host := rest[strings.LastIndexByte(rest, '@')+1:]
		if host == "" || host[0] == ':' || host[0] == ';' {
			p.errorf(n, "", nil, "invalid SIP URI %q: no host; want sip:user@host[:port]", s)
		}
	}
	return s
}

// number checks a phone number to dial: digits with an optional leading
// "+"; spaces, dashes, dots and parentheses between them are dropped.
func (p *parser) number(n *node, s string) string {
	if strings.Contains(s, "@") {
		p.errorf(n, "", nil, "invalid phone number %s: a SIP address needs sip: in front, such as sip:alice@example.com", snippet(s))
		return s
	}
	var b strings.Builder
	for i, c := range s {
		switch {
		case c >= '0' && c <= '9':
			b.WriteRune(c)
		case c == '+' && i == 0:
			b.WriteRune(c)
		case strings.ContainsRune(" -.()", c):
		default:
			p.errorf(n, "", nil, "invalid phone number %s: want digits with an optional leading +, such as +15551234567", snippet(s))
			return s
		}
	}
	num := b.String()
	if d := len(strings.TrimPrefix(num, "+")); d == 0 || d > maxNumberDigits {
		p.errorf(n, "", nil, "invalid phone number %s: want 1 to %d digits", snippet(s), maxNumberDigits)
	}
	return num
}

// containsName reports whether names holds name.
func containsName(names []string, name string) bool {
	for _, k := range names {
		if k == name {
			return true
		}
	}
	return false
}

// hasPrefixFoldASCII is strings.HasPrefix ignoring ASCII case.
func hasPrefixFoldASCII(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// hasAttr reports whether n has the unprefixed attribute name.
func hasAttr(n *node, name string) bool {
	for _, a := range n.attrs {
		if a.Name.Space == "" && a.Name.Local == name {
			return true
		}
	}
	return false
}
