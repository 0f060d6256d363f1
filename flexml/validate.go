package flexml

import (
	"encoding/xml"
	"fmt"
	"slices"
	"strings"
)

// Element names.
const (
	elemResponse  = "Response"
	elemStart     = "Start"
	elemStop      = "Stop"
	elemConnect   = "Connect"
	elemPause     = "Pause"
	elemPlay      = "Play"
	elemSay       = "Say"
	elemHangup    = "Hangup"
	elemReject    = "Reject"
	elemRedirect  = "Redirect"
	elemStream    = "Stream"
	elemParameter = "Parameter"
)

// isVerb reports whether name is a FlexML verb, runnable or not.
func isVerb(name xml.Name) bool {
	if name.Space != "" {
		return false
	}
	switch name.Local {
	case elemStart, elemStop, elemConnect, elemPause, elemPlay, elemSay, elemGather, elemDtmf, elemDial, elemRecord, elemHangup, elemReject, elemRedirect:
		return true
	}
	return isUnsupported(name)
}

// isUnsupported reports whether name is a FlexML verb or noun that
// callstream does not run yet.
func isUnsupported(name xml.Name) bool {
	if name.Space != "" {
		return false
	}
	switch name.Local {
	case "Sms", "Override":
		return true
	}
	return false
}

// nounHome returns where the FlexML noun name belongs, or "" if name is not
// a noun.
func nounHome(name xml.Name) string {
	if name.Space != "" {
		return ""
	}
	switch name.Local {
	case elemStream:
		return "it belongs in <Start>, <Stop> or <Connect>"
	case elemParameter:
		return "it belongs in <Stream>"
	case elemNumber, elemSip:
		return "it belongs in <Dial>"
	case "File":
		return "it belongs in <Play>"
	}
	return ""
}

// elementHint suggests a known element that differs from name only in case.
func elementHint(name string) string {
	known := []string{elemStart, elemStop, elemConnect, elemPause, elemPlay, elemHangup, elemReject,
		elemRedirect, elemDial, elemGather, elemSay, elemRecord, "Sms", "Override", elemStream, elemParameter,
		elemNumber, elemSip, "File", elemDtmf, elemResponse}
	for _, k := range known {
		if strings.EqualFold(k, name) {
			return fmt.Sprintf("; did you mean <%s>?", k)
		}
	}
	return ""
}

// isNamespaceDecl reports whether an attribute declares an XML namespace.
// Such attributes are ignored.
func isNamespaceDecl(name xml.Name) bool {
	return name.Space == "xmlns" || (name.Space == "" && name.Local == "xmlns")
}

// response validates the root element and fills doc.Verbs.
func (p *parser) response(root *node, doc *Document) {
	if root.name.Space != "" || root.name.Local != elemResponse {
		p.errorf(root, "", nil, "root element must be <Response>")
		return
	}
	p.attrs(root, nil)
	p.noText(root)
	var end *node // the first verb that ends the document
	for _, n := range root.kids {
		if !n.closed {
			continue // cut off by a syntax error, which is reported
		}
		if end != nil && isVerb(n.name) {
			p.warnf(n, "", "unreachable: follows <%s> at %d:%d", end.name.Local, end.pos.Line, end.pos.Col)
		}
		if v := p.verb(n); v != nil {
			doc.Verbs = append(doc.Verbs, v)
		}
		if end == nil && n.name.Space == "" {
			switch n.name.Local {
			case elemHangup, elemReject, elemRedirect:
				end = n
			case elemDial:
				// A Dial with an action always requests it.
				if hasAttr(n, "action") {
					end = n
				}
			}
		}
	}
}

// verb validates a child of <Response>. It returns nil for elements that
// are not runnable verbs.
func (p *parser) verb(n *node) Verb {
	if n.name.Space == "" {
		switch n.name.Local {
		case elemStart:
			return p.start(n)
		case elemStop:
			return p.stop(n)
		case elemConnect:
			return p.connect(n)
		case elemPause:
			return p.pause(n)
		case elemPlay:
			return p.play(n)
		case elemGather:
			return p.gather(n)
		case elemDtmf:
			return p.dtmf(n)
		case elemSay:
			return p.say(n)
		case elemDial:
			return p.dial(n)
		case elemRecord:
			return p.record(n)
		case elemHangup:
			p.attrs(n, nil)
			p.noText(n)
			p.noKids(n)
			return &Hangup{Pos: n.pos}
		case elemReject:
			return p.reject(n)
		case elemRedirect:
			return p.redirect(n)
		}
	}
	name := displayName(n.name)
	switch {
	case isUnsupported(n.name):
		p.errorf(n, "", ErrNotSupported, "<%s> is not supported yet", name)
	case nounHome(n.name) != "":
		p.errorf(n, "", nil, "<%s> is not a verb; %s", name, nounHome(n.name))
	default:
		p.errorf(n, "", nil, "unknown verb <%s>%s", name, elementHint(name))
	}
	return nil
}

func (p *parser) start(n *node) *Start {
	v := &Start{Pos: n.pos}
	p.attrs(n, nil)
	p.noText(n)
	for _, k := range n.kids {
		if isElem(k, elemStream) {
			v.Streams = append(v.Streams, p.stream(k, elemStart))
		} else {
			p.misplaced(k, n)
		}
	}
	if len(v.Streams) == 0 {
		p.errorf(n, "", nil, "must contain at least one <Stream>")
	}
	return v
}

func (p *parser) stop(n *node) *Stop {
	v := &Stop{Pos: n.pos}
	p.attrs(n, nil)
	p.noText(n)
	for _, k := range n.kids {
		if isElem(k, elemStream) {
			v.Streams = append(v.Streams, p.stopStream(k))
		} else {
			p.misplaced(k, n)
		}
	}
	if len(v.Streams) == 0 {
		p.errorf(n, "", nil, "must contain at least one <Stream>")
	}
	return v
}

func (p *parser) connect(n *node) *Connect {
	v := &Connect{Pos: n.pos}
	p.attrs(n, nil)
	p.noText(n)
	count := 0
	for _, k := range n.kids {
		if isElem(k, elemStream) {
			s := p.stream(k, elemConnect)
			if count == 0 {
				v.Stream = s
			}
			count++
		} else {
			p.misplaced(k, n)
		}
	}
	switch {
	case count == 0:
		p.errorf(n, "", nil, "must contain exactly one <Stream>")
	case count > 1:
		p.errorf(n, "", nil, "must contain exactly one <Stream>, found %d", count)
	}
	return v
}

// stream validates a <Stream> inside <Start> or <Connect>.
func (p *parser) stream(n *node, in string) *Stream {
	s := &Stream{Pos: n.pos, Track: TrackInbound, TimestampStart: TimestampRelative, StatusCallbackMethod: "POST",
		Encoding: EncodingMulaw, SampleRate: 8000}
	a := p.attrs(n, []string{"url", "name", "track", "audio_track", "maxLength", "timestampStart",
		"encoding", "statusCallback", "statusCallbackMethod"})
	if v, ok := a["url"]; ok {
		if u, msg := checkStreamURL(v); msg != "" {
			p.errorf(n, "url", nil, "%s", msg)
		} else {
			s.URL = u
		}
	} else {
		p.errorf(n, "url", nil, "attribute \"url\" is required in <%s>", in)
	}
	if v, ok := a["name"]; ok {
		s.Name = p.streamName(n, v)
	}
	track, hasTrack := a["track"]
	audioTrack, hasAudioTrack := a["audio_track"]
	switch {
	case hasTrack && hasAudioTrack:
		p.errorf(n, "audio_track", nil, "use either track or audio_track, not both")
	case hasTrack:
		s.Track = p.track(n, "track", track)
	case hasAudioTrack:
		s.Track = p.track(n, "audio_track", audioTrack)
	}
	if v, ok := a["maxLength"]; ok {
		d, ok := parseSeconds(trimSpace(v))
		if !ok || d <= 0 {
			p.errorf(n, "maxLength", nil,
				"invalid maxLength %q: want a number of seconds greater than 0, such as 2 or 1.5", v)
		}
		s.MaxLength = d
	}
	if v, ok := a["timestampStart"]; ok {
		switch t := trimSpace(v); t {
		case TimestampRelative, TimestampAbsolute:
			s.TimestampStart = t
		default:
			p.errorf(n, "timestampStart", nil, "invalid timestampStart %q; allowed: relative, absolute", v)
		}
	}
	if v, ok := a["encoding"]; ok {
		if enc, rate, ok := parseStreamEncoding(v); ok {
			s.Encoding, s.SampleRate = enc, rate
		} else {
			p.errorf(n, "encoding", nil,
				"invalid encoding %q; allowed: audio/x-mulaw, audio/l16;rate=8000, audio/l16;rate=16000", v)
		}
	}
	if v, ok := a["statusCallback"]; ok {
		u, msg := checkHTTPURL(v)
		if msg != "" {
			p.errorf(n, "statusCallback", nil, "attribute \"statusCallback\" %s", msg)
		}
		s.StatusCallback = u
	}
	if v, ok := a["statusCallbackMethod"]; ok {
		s.StatusCallbackMethod = p.method(n, "statusCallbackMethod", v)
	}
	p.noText(n)
	index := make(map[string]int)
	for _, k := range n.kids {
		if isElem(k, elemParameter) {
			p.parameter(k, s, index)
		} else {
			p.misplaced(k, n)
		}
	}
	return s
}

// stopStream validates a <Stream> inside <Stop>, where only name is allowed.
func (p *parser) stopStream(n *node) *Stream {
	s := &Stream{Pos: n.pos}
	for _, a := range n.attrs {
		name := displayName(a.Name)
		switch {
		case isNamespaceDecl(a.Name):
		case name == "name":
			s.Name = p.streamName(n, a.Value)
		case a.Name.Space == "" && (name == "url" || name == "track" || name == "audio_track" ||
			name == "maxLength" || name == "timestampStart" || name == "encoding" || name == "statusCallback" ||
			name == "statusCallbackMethod"):
			p.errorf(n, name, nil, "attribute %q is not allowed in <Stop>; only \"name\" is", name)
		default:
			p.unknownAttr(n, name, []string{"name"})
		}
	}
	p.noText(n)
	for _, k := range n.kids {
		if isElem(k, elemParameter) {
			p.errorf(k, "", nil, "<Parameter> is not allowed in a <Stream> inside <Stop>")
		} else {
			p.misplaced(k, n)
		}
	}
	return s
}

// streamName checks a Stream's name attribute. An empty name is refused:
// in <Stop> it would silently mean every stream.
func (p *parser) streamName(n *node, v string) string {
	if v == "" {
		p.errorf(n, "name", nil, "attribute \"name\" must not be empty")
	}
	return v
}

func (p *parser) track(n *node, attr, v string) Track {
	t, ok := parseTrack(trimSpace(v))
	if !ok {
		p.errorf(n, attr, nil,
			"invalid %s %q; allowed: inbound, outbound, both, mixed, inbound_track, outbound_track, both_tracks",
			attr, v)
	}
	return t
}

func (p *parser) method(n *node, attr, v string) string {
	m := strings.ToUpper(trimSpace(v))
	if m != "GET" && m != "POST" {
		p.errorf(n, attr, nil, "invalid %s %q; allowed: GET, POST", attr, v)
	}
	return m
}

// parameter validates a <Parameter> and adds it to s. A repeated name keeps
// the place of its first occurrence and takes the last value; index maps
// each name to its place in s.Parameters.
func (p *parser) parameter(n *node, s *Stream, index map[string]int) {
	a := p.attrs(n, []string{"name", "value"})
	p.noText(n)
	p.noKids(n)
	name, ok := a["name"]
	switch {
	case !ok:
		p.errorf(n, "name", nil, "attribute \"name\" is required")
		return
	case name == "":
		p.errorf(n, "name", nil, "attribute \"name\" must not be empty")
		return
	}
	if i, ok := index[name]; ok {
		p.warnf(n, "name", "duplicate parameter name %q; the last value wins", name)
		s.Parameters[i].Value = a["value"]
		return
	}
	index[name] = len(s.Parameters)
	s.Parameters = append(s.Parameters, Parameter{Pos: n.pos, Name: name, Value: a["value"]})
}

func (p *parser) pause(n *node) *Pause {
	v := &Pause{Pos: n.pos, Length: defaultPause}
	a := p.attrs(n, []string{"length"})
	p.noText(n)
	p.noKids(n)
	if s, ok := a["length"]; ok {
		d, ok := parseSeconds(trimSpace(s))
		if !ok {
			p.errorf(n, "length", nil, "invalid length %q: want a number of seconds, 0 or more, such as 2 or 1.5", s)
		}
		v.Length = d
	}
	return v
}

func (p *parser) play(n *node) *Play {
	v := &Play{Pos: n.pos, Loop: 1}
	a := p.attrs(n, []string{"loop", "digits"})
	if s, ok := a["loop"]; ok {
		loop, ok := parseCount(trimSpace(s))
		if !ok {
			p.errorf(n, "loop", nil, "invalid loop %q: want a whole number, 0 or more (0 = until the call ends)", s)
		}
		v.Loop = loop
	}
	if s, ok := a["digits"]; ok {
		v.Digits = p.digits(n, "digits", s)
	}
	var dtmf *node
	for _, k := range n.kids {
		switch {
		case isElem(k, elemDtmf) && dtmf == nil && v.Digits == "":
			// CarrierX's other syntax for the digits attribute.
			dtmf = k
			p.attrs(k, nil)
			p.noKids(k)
			v.Digits = p.digits(k, "", string(k.text))
		case isElem(k, elemDtmf):
			p.errorf(k, "", nil, "<Play> sends one set of digits: use either the digits attribute or one <Dtmf>")
		case isElem(k, "File"):
			p.errorf(k, "", ErrNotSupported, "<%s> is not supported yet", k.name.Local)
		default:
			p.misplaced(k, n)
		}
	}
	body := trimSpace(string(n.text))
	_, hasDigits := a["digits"]
	hasDigits = hasDigits || dtmf != nil
	switch {
	case hasDigits && body != "":
		p.errorf(n, "", nil, "use either digits to send or the URL of the audio, not both")
	case hasDigits:
		if _, ok := a["loop"]; ok {
			p.errorf(n, "loop", nil, "attribute \"loop\" is not allowed with digits")
		}
	case body == "" && len(n.kids) == 0:
		p.errorf(n, "", nil, "body is required: the http or https URL or the path of the audio")
	case body != "":
		if msg := checkPlayURL(body); msg != "" {
			p.errorf(n, "", nil, "%s", msg)
		}
		v.URL = body
	}
	return v
}

func (p *parser) reject(n *node) *Reject {
	v := &Reject{Pos: n.pos, Reason: "rejected", Code: 403}
	a := p.attrs(n, []string{"reason"})
	p.noText(n)
	p.noKids(n)
	if s, ok := a["reason"]; ok {
		code, ok := RejectCode(trimSpace(s))
		if !ok {
			p.errorf(n, "reason", nil, "invalid reason %q; allowed: %s", s, rejectReasons)
		}
		v.Reason, v.Code = trimSpace(s), code
	}
	return v
}

func (p *parser) redirect(n *node) *Redirect {
	v := &Redirect{Pos: n.pos, Method: "POST"}
	a := p.attrs(n, []string{"method"})
	p.noKids(n)
	if s, ok := a["method"]; ok {
		v.Method = p.method(n, "method", s)
	}
	body := trimSpace(string(n.text))
	if body == "" {
		p.errorf(n, "", nil, "body is required: the URL of the next document")
		return v
	}
	u, msg := checkHTTPURL(body)
	if msg != "" {
		p.errorf(n, "", nil, "URL %q %s", body, msg)
	}
	v.URL = u
	return v
}

// attrs returns n's attributes by name and reports each one not in
// allowed. Namespace declarations are skipped.
func (p *parser) attrs(n *node, allowed []string) map[string]string {
	vals := make(map[string]string, len(n.attrs))
	for _, a := range n.attrs {
		if isNamespaceDecl(a.Name) {
			continue
		}
		if a.Name.Space == "" && slices.Contains(allowed, a.Name.Local) {
			vals[a.Name.Local] = a.Value
			continue
		}
		p.unknownAttr(n, displayName(a.Name), allowed)
	}
	return vals
}

func (p *parser) unknownAttr(n *node, name string, allowed []string) {
	if len(allowed) == 0 {
		p.errorf(n, name, nil, "unknown attribute %q: <%s> takes no attributes", name, displayName(n.name))
		return
	}
	for _, k := range allowed {
		if strings.EqualFold(k, name) {
			p.errorf(n, name, nil, "unknown attribute %q; did you mean %q?", name, k)
			return
		}
	}
	p.errorf(n, name, nil, "unknown attribute %q; allowed: %s", name, strings.Join(allowed, ", "))
}

// noText reports non-space text directly inside n.
func (p *parser) noText(n *node) {
	if n.hasText {
		p.errs = append(p.errs, p.newError(n.textPos, displayName(n.name), "",
			"unexpected text "+snippet(string(n.text))))
	}
}

// noKids reports every child element of n.
func (p *parser) noKids(n *node) {
	for _, k := range n.kids {
		p.misplaced(k, n)
	}
}

// misplaced reports child k, which is not allowed inside parent.
func (p *parser) misplaced(k, parent *node) {
	name, in := displayName(k.name), displayName(parent.name)
	switch home := nounHome(k.name); {
	case isVerb(k.name):
		p.errorf(k, "", nil, "<%s> cannot be nested in <%s>", name, in)
	case home != "":
		p.errorf(k, "", nil, "<%s> is not allowed in <%s>; %s", name, in, home)
	default:
		p.errorf(k, "", nil, "unknown noun <%s> in <%s>%s", name, in, elementHint(name))
	}
}

// isElem reports whether n is the unprefixed element local.
func isElem(n *node, local string) bool {
	return n.name.Space == "" && n.name.Local == local
}

// parseStreamEncoding reads a <Stream> encoding attribute: a MIME type,
// with a rate parameter for audio/l16 (required) and audio/x-mulaw
// (optional, 8000). Names and parameters ignore case and spaces.
func parseStreamEncoding(v string) (enc string, rate int, ok bool) {
	parts := strings.Split(v, ";")
	typ := strings.ToLower(trimSpace(parts[0]))
	rate = 0
	for _, param := range parts[1:] {
		name, val, found := strings.Cut(param, "=")
		if !found || !strings.EqualFold(trimSpace(name), "rate") || rate != 0 {
			return "", 0, false
		}
		switch trimSpace(val) {
		case "8000":
			rate = 8000
		case "16000":
			rate = 16000
		default:
			return "", 0, false
		}
	}
	switch typ {
	case EncodingMulaw:
		if rate == 0 || rate == 8000 {
			return EncodingMulaw, 8000, true
		}
	case EncodingL16:
		if rate != 0 {
			return EncodingL16, rate, true
		}
	}
	return "", 0, false
}
