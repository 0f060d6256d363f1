package scenario

import (
	"strings"
	"testing"
	"time"
)

// TestResolveVoice maps Language members, VoiceList paths and bare
// languages to a voice and language, and finds nothing in unknown names.
func TestResolveVoice(t *testing.T) {
	for name, want := range map[string]ttsVoice{
		"":                            {},
		"US_ENGLISH_FEMALE":           {"woman", "en-US"},
		"UK_ENGLISH_MALE":             {"man", "en-GB"},
		"RU_RUSSIAN_FEMALE":           {"woman", "ru-RU"},
		"Amazon.en_US_Joanna":         {"woman", "en-US"},
		"Amazon.en_GB_Brian":          {"", "en-GB"},
		"Google.en_US_Wavenet_A":      {"", "en-US"},
		"Default.en_US_Female":        {"woman", "en-US"},
		"Default.ru_RU_Male":          {"man", "ru-RU"},
		"Microsoft.de_DE_KatjaNeural": {"", "de-DE"},
		"Yandex.Neural.ru_RU_alena":   {"", "ru-RU"},
		"en-US":                       {"", "en-US"},
		"fr":                          {"", "fr"},
		"ElevenLabs.Rachel":           {},
		"Acme.xx_XX_Nobody":           {},
		strings.Repeat("en_US_", 30):  {},
	} {
		got, ok := resolveVoice(name)
		known := want != ttsVoice{} || name == ""
		if got != want || ok != known {
			t.Errorf("%.40q: %+v %v, want %+v %v", name, got, ok, want, known)
		}
	}
}

// TestLanguageAndVoiceList: Language holds every legacy voice, read-only;
// VoiceList resolves any provider and name; an unknown voice is warned
// about once per session and name, and still spoken (the default voice).
func TestLanguageAndVoiceList(t *testing.T) {
	t.Parallel()
	e := newEnv(t, `
VoxEngine.addEventListener(AppEvents.Started, function () {
  Logger.write('keys ' + Object.keys(Language).length + ' ' + Language.US_ENGLISH_FEMALE + ' ' + Object.isFrozen(Language));
  Language.US_ENGLISH_FEMALE = 'x';
  Logger.write('still ' + Language.US_ENGLISH_FEMALE);
  Logger.write('voice ' + VoiceList.Amazon.en_US_Joanna + ' ' + String(VoiceList.Google.en_US_Wavenet_A));
  var left = 3;
  [VoiceList.Acme.nobody, {language: VoiceList.Acme.nobody}, {voice: 'Other.voice'}].forEach(function (v) {
    var p = VoxEngine.createTTSPlayer('', v);
    p.addEventListener(PlayerEvents.PlaybackFinished, function () { if (--left === 0) Logger.write('all done'); });
  });
});`, nil)
	e.start(t, "")
	e.logs.waitText(t, 5*time.Second, "keys 45 US_ENGLISH_FEMALE true")
	e.logs.waitText(t, 5*time.Second, "still US_ENGLISH_FEMALE")
	e.logs.waitText(t, 5*time.Second, "voice Amazon.en_US_Joanna Google.en_US_Wavenet_A")
	e.logs.waitText(t, 5*time.Second, "all done")
	warned := map[string]int{}
	for _, r := range e.logs.all() {
		if strings.Contains(r.str("msg"), "unknown TTS voice") {
			warned[r.str("voice")]++
		}
	}
	if len(warned) != 2 || warned["Acme.nobody"] != 1 || warned["Other.voice"] != 1 {
		t.Errorf("voice warnings %v, want one each for Acme.nobody and Other.voice", warned)
	}
}

// TestTTSProgramMissing: without the TTS program each TTS player finishes
// with an error naming it, the session warns once and goes on.
func TestTTSProgramMissing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, `
VoxEngine.addEventListener(AppEvents.Started, function () {
  var n = 0;
  ['one', 'two', 'three'].forEach(function (text) {
    VoxEngine.createTTSPlayer(text, Language.US_ENGLISH_MALE).addEventListener(PlayerEvents.PlaybackFinished, function (e) {
      Logger.write('finished ' + e.error);
      if (++n === 3) setTimeout(function () { Logger.write('goes on'); }, 10);
    });
  });
});`, func(c *Config) { c.TTSCommand = "callstream-no-such-tts" })
	e.start(t, "")
	e.logs.waitText(t, 5*time.Second, "goes on")
	warns, finished := 0, 0
	for _, r := range e.logs.all() {
		if r.str("msg") == "playback failed" && r.str("level") == "WARN" {
			warns++
		}
		if strings.HasPrefix(r.str("text"), "finished ") {
			finished++
			if !strings.Contains(r.str("text"), "callstream-no-such-tts") {
				t.Errorf("%q does not name the program", r.str("text"))
			}
		}
	}
	if warns != 1 || finished != 3 {
		t.Errorf("%d warnings and %d finished, want 1 and 3", warns, finished)
	}
}

// TestTTSTextBound: text over the session's bound finishes with an error
// naming the bound.
func TestTTSTextBound(t *testing.T) {
	t.Parallel()
	e := newEnv(t, `
VoxEngine.addEventListener(AppEvents.Started, function () {
  var p = VoxEngine.createTTSPlayer(new Array(1502).join('a'));
  p.addEventListener(PlayerEvents.PlaybackFinished, function (e) { Logger.write('finished ' + e.error); });
});`, nil)
	e.start(t, "")
	got := e.logs.waitText(t, 5*time.Second, "finished *")
	if !strings.Contains(got, "text of 1501 characters, at most 1500") {
		t.Errorf("%q", got)
	}
}
