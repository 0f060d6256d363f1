package tts

import (
	"strings"
)

// Voices of the FlexML voice attribute (CarrierX's).
const (
	VoiceMan   = "man"
	VoiceWoman = "woman"
)

// DefaultLanguage is the language of speech whose language is not given.
const DefaultLanguage = "en-US"

// femaleVariant is the espeak-ng variant that makes a voice a woman's.
const femaleVariant = "+f3"

// languages maps lower-case language tags (FlexML's and Twilio's, such as
// "en-us") to espeak-ng voices. Bare primary languages ("es") are looked
// up here too.
var languages = map[string]string{
	"en-us": "en-us", "en-gb": "en-gb", "en-au": "en-gb", "en-ca": "en-us", "en-in": "en-gb",
	"en-ie": "en-gb", "en-nz": "en-gb", "en-za": "en-gb", "en": "en-us",
	"es-es": "es", "es-mx": "es-419", "es-us": "es-419", "es": "es",
	"fr-fr": "fr-fr", "fr-ca": "fr-fr", "fr-be": "fr-be", "fr-ch": "fr-ch", "fr": "fr-fr",
	"de-de": "de", "de-at": "de", "de-ch": "de", "de": "de",
	"it-it": "it", "it": "it",
	"pt-br": "pt-br", "pt-pt": "pt", "pt": "pt",
	"nl-nl": "nl", "nl-be": "nl", "nl": "nl",
	"da-dk": "da", "da": "da",
	"sv-se": "sv", "sv": "sv",
	"nb-no": "nb", "no-no": "nb", "nb": "nb",
	"fi-fi": "fi", "fi": "fi",
	"pl-pl": "pl", "pl": "pl",
	"ru-ru": "ru", "ru": "ru",
	"ca-es": "ca", "ca": "ca",
	"ja-jp": "ja", "ja": "ja",
	"ko-kr": "ko", "ko": "ko",
	"zh-cn": "cmn", "zh-tw": "cmn", "cmn-cn": "cmn", "zh": "cmn",
	"zh-hk": "yue", "yue-hk": "yue",
	"hi-in": "hi", "hi": "hi",
	"ar-ae": "ar", "ar-sa": "ar", "ar": "ar",
	"tr-tr": "tr", "tr": "tr",
	"el-gr": "el", "el": "el",
	"he-il": "he", "he": "he",
	"cs-cz": "cs", "cs": "cs",
	"hu-hu": "hu", "hu": "hu",
	"ro-ro": "ro", "ro": "ro",
	"uk-ua": "uk", "uk": "uk",
	"id-id": "id", "id": "id",
	"vi-vn": "vi", "vi": "vi",
	"is-is": "is", "is": "is",
	"cy-gb": "cy", "cy": "cy",
}

// pollyVoices gives the gender and language of Amazon Polly voices as
// Twilio names them ("Polly.Joanna", "Polly.Joanna-Neural").
var pollyVoices = map[string]struct {
	woman bool
	lang  string
}{
	"joanna": {true, "en-US"}, "salli": {true, "en-US"}, "kendra": {true, "en-US"}, "kimberly": {true, "en-US"},
	"ivy": {true, "en-US"}, "ruth": {true, "en-US"}, "danielle": {true, "en-US"},
	"matthew": {false, "en-US"}, "joey": {false, "en-US"}, "justin": {false, "en-US"}, "kevin": {false, "en-US"},
	"stephen": {false, "en-US"}, "gregory": {false, "en-US"},
	"amy": {true, "en-GB"}, "emma": {true, "en-GB"}, "brian": {false, "en-GB"}, "arthur": {false, "en-GB"},
	"nicole": {true, "en-AU"}, "olivia": {true, "en-AU"}, "russell": {false, "en-AU"},
	"raveena": {true, "en-IN"}, "aditi": {true, "en-IN"}, "geraint": {false, "en-GB"},
	"conchita": {true, "es-ES"}, "lucia": {true, "es-ES"}, "enrique": {false, "es-ES"}, "sergio": {false, "es-ES"},
	"mia": {true, "es-MX"}, "lupe": {true, "es-US"}, "penelope": {true, "es-US"}, "miguel": {false, "es-US"},
	"celine": {true, "fr-FR"}, "lea": {true, "fr-FR"}, "mathieu": {false, "fr-FR"}, "remi": {false, "fr-FR"},
	"chantal": {true, "fr-CA"}, "gabrielle": {true, "fr-CA"}, "liam": {false, "fr-CA"},
	"marlene": {true, "de-DE"}, "vicki": {true, "de-DE"}, "hans": {false, "de-DE"}, "daniel": {false, "de-DE"},
	"carla": {true, "it-IT"}, "bianca": {true, "it-IT"}, "giorgio": {false, "it-IT"}, "adriano": {false, "it-IT"},
	"camila": {true, "pt-BR"}, "vitoria": {true, "pt-BR"}, "ricardo": {false, "pt-BR"}, "thiago": {false, "pt-BR"},
	"ines": {true, "pt-PT"}, "cristiano": {false, "pt-PT"},
	"lotte": {true, "nl-NL"}, "ruben": {false, "nl-NL"},
	"mizuki": {true, "ja-JP"}, "takumi": {false, "ja-JP"},
	"tatyana": {true, "ru-RU"}, "maxim": {false, "ru-RU"},
	"zhiyu": {true, "zh-CN"}, "seoyeon": {true, "ko-KR"},
}

// Choice is the espeak-ng voice chosen for a voice and language, and what
// was not understood on the way (for a warning).
type Choice struct {
	// Espeak is the espeak-ng voice, such as "en-us" or "en-us+f3".
	Espeak string
	// Warning, when not empty, says what was replaced by a default or by
	// the closest voice, such as `voice "Polly.Joanna" spoken by espeak-ng
	// voice "en-us+f3"`.
	Warning string
}

// ChooseVoice maps a FlexML or TwiML voice ("man", the default; "woman";
// Twilio's "alice", "Polly.*" and "Google.*") and language ("en-US", the
// default; case and '-' or '_' do not matter) to an espeak-ng voice. A
// language it does not know falls back to the default with a warning; a
// Twilio voice is spoken by the closest espeak-ng voice, with a warning.
func ChooseVoice(voice, language string) Choice {
	voice = strings.TrimSpace(voice)
	language = strings.TrimSpace(language)
	var warns []string
	woman := false
	voiceLang := ""
	lv := strings.ToLower(voice)
	switch {
	case lv == "" || lv == VoiceMan:
	case lv == VoiceWoman:
		woman = true
	case lv == "alice":
		woman = true
		warns = append(warns, "voice \"alice\" is spoken by espeak-ng")
	case strings.HasPrefix(lv, "polly."):
		name, _, _ := strings.Cut(lv[len("polly."):], "-")
		if pv, ok := pollyVoices[name]; ok {
			woman, voiceLang = pv.woman, pv.lang
		} else {
			woman = true
		}
		warns = append(warns, "voice "+quote(voice)+" is spoken by espeak-ng")
	case strings.HasPrefix(lv, "google."):
		// Google.en-US-Standard-C: the language is in the name, the
		// gender is not.
		rest := lv[len("google."):]
		if parts := strings.SplitN(rest, "-", 3); len(parts) >= 2 {
			voiceLang = parts[0] + "-" + parts[1]
		}
		warns = append(warns, "voice "+quote(voice)+" is spoken by espeak-ng")
	default:
		warns = append(warns, "unknown voice "+quote(voice)+"; using \"man\"")
	}
	lang := language
	if lang == "" {
		lang = voiceLang
	}
	if lang == "" {
		lang = DefaultLanguage
	}
	key := strings.ReplaceAll(strings.ToLower(lang), "_", "-")
	espeak, ok := languages[key]
	if !ok {
		if primary, _, found := strings.Cut(key, "-"); found {
			espeak, ok = languages[primary]
		}
	}
	if !ok {
		espeak = languages[strings.ToLower(DefaultLanguage)]
		warns = append(warns, "unknown language "+quote(lang)+"; using "+DefaultLanguage)
	}
	if woman {
		espeak += femaleVariant
	}
	c := Choice{Espeak: espeak}
	if len(warns) > 0 {
		c.Warning = strings.Join(warns, "; ") + " (espeak-ng voice " + quote(espeak) + ")"
	}
	return c
}

// quote quotes s for a message, cut to 64 bytes: names come from documents.
func quote(s string) string {
	const limit = 64
	if len(s) > limit {
		s = strings.ToValidUTF8(s[:limit], "") + "…"
	}
	return "\"" + strings.ReplaceAll(s, "\"", "'") + "\""
}
