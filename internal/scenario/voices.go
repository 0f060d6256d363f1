package scenario

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/dop251/goja"

	"github.com/callstream/callstream/internal/tts"
)

// ttsVoice is how a scenario's voice is spoken by the TTS program: a
// FlexML voice ("man" or "woman") and a language tag ("en-US"), both ""
// for the defaults (tts.ChooseVoice turns them into an espeak-ng voice).
type ttsVoice struct {
	voice, language string
}

// legacyLanguages maps the members of Voximplant's legacy Language enum
// (their values are their names) to a language tag and a gender. The
// prelude defines Language from this table's keys.
var legacyLanguages = map[string]ttsVoice{
	"AU_ENGLISH_FEMALE":     {"woman", "en-AU"},
	"BR_PORTUGUESE_FEMALE":  {"woman", "pt-BR"},
	"CA_ENGLISH_FEMALE":     {"woman", "en-CA"},
	"CA_FRENCH_FEMALE":      {"woman", "fr-CA"},
	"CA_FRENCH_MALE":        {"man", "fr-CA"},
	"CH_CHINESE_FEMALE":     {"woman", "zh-CN"},
	"CH_CHINESE_MALE":       {"man", "zh-CN"},
	"EUR_CATALAN_FEMALE":    {"woman", "ca-ES"},
	"EUR_CZECH_FEMALE":      {"woman", "cs-CZ"},
	"EUR_DANISH_FEMALE":     {"woman", "da-DK"},
	"EUR_DUTCH_FEMALE":      {"woman", "nl-NL"},
	"EUR_FINNISH_FEMALE":    {"woman", "fi-FI"},
	"EUR_FRENCH_FEMALE":     {"woman", "fr-FR"},
	"EUR_FRENCH_MALE":       {"man", "fr-FR"},
	"EUR_GERMAN_FEMALE":     {"woman", "de-DE"},
	"EUR_GERMAN_MALE":       {"man", "de-DE"},
	"EUR_GREEK_FEMALE":      {"woman", "el-GR"},
	"EUR_ITALIAN_FEMALE":    {"woman", "it-IT"},
	"EUR_ITALIAN_MALE":      {"man", "it-IT"},
	"EUR_NORWEGIAN_FEMALE":  {"woman", "nb-NO"},
	"EUR_POLISH_FEMALE":     {"woman", "pl-PL"},
	"EUR_PORTUGUESE_FEMALE": {"woman", "pt-PT"},
	"EUR_PORTUGUESE_MALE":   {"man", "pt-PT"},
	"EUR_SPANISH_FEMALE":    {"woman", "es-ES"},
	"EUR_SPANISH_MALE":      {"man", "es-ES"},
	"EUR_TURKISH_FEMALE":    {"woman", "tr-TR"},
	"EUR_TURKISH_MALE":      {"man", "tr-TR"},
	"HK_CHINESE_FEMALE":     {"woman", "zh-HK"},
	"HU_HUNGARIAN_FEMALE":   {"woman", "hu-HU"},
	"IN_ENGLISH_FEMALE":     {"woman", "en-IN"},
	"JP_JAPANESE_FEMALE":    {"woman", "ja-JP"},
	"JP_JAPANESE_MALE":      {"man", "ja-JP"},
	"KR_KOREAN_FEMALE":      {"woman", "ko-KR"},
	"KR_KOREAN_MALE":        {"man", "ko-KR"},
	"MX_SPANISH_FEMALE":     {"woman", "es-MX"},
	"RU_RUSSIAN_FEMALE":     {"woman", "ru-RU"},
	"RU_RUSSIAN_MALE":       {"man", "ru-RU"},
	"SW_SWEDISH_FEMALE":     {"woman", "sv-SE"},
	"TW_CHINESE_FEMALE":     {"woman", "zh-TW"},
	"UK_ENGLISH_FEMALE":     {"woman", "en-GB"},
	"UK_ENGLISH_MALE":       {"man", "en-GB"},
	"US_ENGLISH_FEMALE":     {"woman", "en-US"},
	"US_ENGLISH_MALE":       {"man", "en-US"},
	"US_SPANISH_FEMALE":     {"woman", "es-US"},
	"US_SPANISH_MALE":       {"man", "es-US"},
}

// voiceLanguage finds a language and region in a voice name
// ("en_US_Joanna", "en-US-Wavenet-A").
var voiceLanguage = regexp.MustCompile(`(?:^|[._-])([a-z]{2,3})[_-]([A-Z]{2})(?:$|[._-])`)

// maxVoiceName bounds the voice names a session looks at and warns about.
const maxVoiceName = 128

// resolveVoice turns a voice name (a Language member, a VoiceList path
// such as "Amazon.en_US_Joanna" or "Google.en_US_Wavenet_A", or a bare
// language such as "en-US") into a TTS voice. ok is false when nothing in
// the name says how to speak it: the default voice is used then.
func resolveVoice(name string) (v ttsVoice, ok bool) {
	name = strings.TrimSpace(name)
	if name == "" {
		return ttsVoice{}, true
	}
	if len(name) > maxVoiceName {
		return ttsVoice{}, false
	}
	if lv, found := legacyLanguages[name]; found {
		return lv, true
	}
	provider, rest, dotted := strings.Cut(name, ".")
	if !dotted {
		provider, rest = "", name
	}
	m := voiceLanguage.FindStringSubmatch(rest)
	if m == nil {
		// A bare language ("en-US", "fr").
		if c := tts.ChooseVoice("", rest); c.Warning == "" {
			return ttsVoice{language: rest}, true
		}
		return ttsVoice{}, false
	}
	v.language = m[1] + "-" + m[2]
	lower := strings.ToLower(rest)
	switch {
	case strings.Contains(lower, "female"):
		v.voice = tts.VoiceWoman
	case strings.Contains(lower, "male"):
		v.voice = tts.VoiceMan
	case strings.EqualFold(provider, "Amazon"):
		// Amazon.en_US_Joanna: the voice's name after the language.
		speaker := rest[strings.Index(rest, m[0])+len(m[0]):]
		speaker, _, _ = strings.Cut(speaker, "_")
		if strings.HasSuffix(tts.ChooseVoice("Polly."+speaker, v.language).Espeak, "+f3") {
			v.voice = tts.VoiceWoman
		}
	}
	if c := tts.ChooseVoice(v.voice, v.language); c.Warning != "" {
		return ttsVoice{}, false
	}
	return v, true
}

// voiceName reads say's or createTTSPlayer's second argument: a Language
// member or VoiceList voice, or options {language} or {voice}.
func voiceName(v goja.Value) string {
	if isNothing(v) {
		return ""
	}
	if o, isObj := v.(*goja.Object); isObj {
		if _, isFn := goja.AssertFunction(o); !isFn && o.ClassName() == "Object" {
			if l := optString(v, "language"); l != "" {
				return l
			}
			return optString(v, "voice")
		}
	}
	return v.String()
}

// voiceOf resolves say's or createTTSPlayer's second argument; an unknown
// voice is spoken by the default voice, with one warning per session and
// voice name.
func (s *session) voiceOf(arg goja.Value) ttsVoice {
	name := voiceName(arg)
	v, ok := resolveVoice(name)
	if ok {
		return v
	}
	if len(name) > maxVoiceName {
		name = name[:maxVoiceName]
	}
	if !s.voicesWarned[name] && len(s.voicesWarned) < maxWarnedVoices {
		if s.voicesWarned == nil {
			s.voicesWarned = map[string]bool{}
		}
		s.voicesWarned[name] = true
		s.log.Warn("scenario: unknown TTS voice; speaking with the default voice", "voice", name)
	}
	return ttsVoice{}
}

// maxWarnedVoices bounds the unknown voices a session remembers warning
// about.
const maxWarnedVoices = 64

// installLanguage defines the global Language: Voximplant's legacy TTS
// voices, each member's value its name, read-only.
func (s *session) installLanguage() error {
	vm := s.vm
	names := make([]string, 0, len(legacyLanguages))
	for name := range legacyLanguages {
		names = append(names, name)
	}
	slices.Sort(names)
	obj := vm.NewObject()
	for _, name := range names {
		if err := obj.DefineDataProperty(name, vm.ToValue(name), goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_TRUE); err != nil {
			return fmt.Errorf("scenario: Language.%s: %w", name, err)
		}
	}
	if freeze, ok := goja.AssertFunction(vm.Get("Object").ToObject(vm).Get("freeze")); ok {
		if _, err := freeze(nil, obj); err != nil {
			return fmt.Errorf("scenario: Language: %w", err)
		}
	}
	return vm.GlobalObject().DefineDataProperty("Language", obj, goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_FALSE)
}
