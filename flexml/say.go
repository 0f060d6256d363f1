package flexml

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// languageTag is what a <Say> language may look like: a BCP 47 tag such
// as "en-US" (or "en_US").
var languageTag = regexp.MustCompile(`^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8}){0,3}$`)

// say validates a <Say>: plain text, voice, language, loop and loopPause.
func (p *parser) say(n *node) *Say {
	v := &Say{Pos: n.pos, Voice: "man", Loop: 1}
	a := p.attrs(n, []string{"voice", "language", "loop", "loopPause"})
	if s, ok := a["voice"]; ok {
		v.Voice = p.sayVoice(n, trimSpace(s))
	}
	if s, ok := a["language"]; ok {
		lang := trimSpace(s)
		if !languageTag.MatchString(lang) {
			p.errorf(n, "language", nil, "invalid language %q: want a language tag such as en-US, en-GB, es-ES or fr-FR", s)
		}
		v.Language = lang
	}
	if s, ok := a["loop"]; ok {
		loop, ok := parseCount(trimSpace(s))
		if !ok || loop > MaxSayLoop {
			p.errorf(n, "loop", nil, "invalid loop %q: want a whole number from 0 to %d (0 = until the call ends)", s, MaxSayLoop)
		}
		v.Loop = loop
	}
	if s, ok := a["loopPause"]; ok {
		d, ok := parseSeconds(trimSpace(s))
		if !ok || d > MaxSayLoopPause {
			p.errorf(n, "loopPause", nil, "invalid loopPause %q: want a number of seconds from 0 to %d, such as 1 or 0.5",
				s, int(MaxSayLoopPause.Seconds()))
		}
		v.LoopPause = d
	}
	for _, k := range n.kids {
		// Twilio's SSML elements (<break>, <emphasis>, <prosody>, ...).
		p.errorf(k, "", nil, "<%s> in <Say>: SSML is not supported; write the text to speak as plain text",
			displayName(k.name))
	}
	text := trimSpace(string(n.text))
	switch count := utf8.RuneCountInString(text); {
	case text == "" && len(n.kids) == 0:
		p.errorf(n, "", nil, "body is required: the text to speak")
	case count > MaxSayText:
		p.errs = append(p.errs, p.newError(n.textPos, displayName(n.name), "",
			fmt.Sprintf("text of %d characters is too long: at most %d", count, MaxSayText)))
	}
	v.Text = text
	return v
}

// sayVoice checks a <Say> voice: man and woman (CarrierX's), and Twilio's
// names, which the gateway speaks with its closest voice. Other names are
// spoken as "man", with a warning.
func (p *parser) sayVoice(n *node, s string) string {
	l := strings.ToLower(s)
	switch {
	case l == "man" || l == "woman":
		return l
	case l == "alice" || strings.HasPrefix(l, "polly.") || strings.HasPrefix(l, "google."):
		return s
	case s == "":
		p.errorf(n, "voice", nil, "attribute \"voice\" must not be empty; allowed: man, woman")
		return "man"
	}
	p.warnf(n, "voice", "unknown voice %q; \"man\" speaks instead (allowed: man, woman)", s)
	return "man"
}
