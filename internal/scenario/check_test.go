package scenario

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pendingMembers are members examples use that the runtime is still
// gaining; a missing one of these is no failure, and once implemented it
// counts like any other. None today.
var pendingMembers = map[string]bool{}

// exampleData is the custom data an example needs to load.
var exampleData = map[string]string{
	"outbound-bot.js": `{"to":"sip:bob@127.0.0.1:9"}`,
}

// TestCheckExamples runs Check on every example scenario: each loads and
// uses only what the runtime implements (or a pending member).
func TestCheckExamples(t *testing.T) {
	files, err := filepath.Glob("../../examples/scenarios/*.js")
	if err != nil || len(files) < 5 {
		t.Fatalf("examples: %v %v", files, err)
	}
	for _, path := range files {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Check(filepath.Base(path), string(src), exampleData[filepath.Base(path)])
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		for _, e := range r.LoadErrors {
			t.Errorf("%s", e)
		}
		for _, f := range r.Missing {
			if !pendingMembers[f.Member] {
				t.Errorf("%s", f)
			}
		}
		if r.Used < 10 {
			t.Errorf("%s: only %d members counted", path, r.Used)
		}
	}
}

// TestCheckFindings checks positions, the member text of nested
// receivers, members a script defines itself, and property reads.
func TestCheckFindings(t *testing.T) {
	src := `VoxEngine.myHelper = function () { return 1; };
var bot = { greet: function () {} };
VoxEngine.addEventListener(AppEvents.CallAlerting, function (e) {
  VoxEngine.myHelper();
  bot.greet();
  var url = e.call.headers().url;
  e.call.startRecording({ stereo: true });
  if (CallEvents.NoSuchEvent) { VoxEngine.createASR(); }
  var Local = { x: 1 }, list = [Local.x, Math.max(1, 2), JSON.stringify(Local)];
  e.call.say('hi', { language: Language.US_ENGLISH_FEMALE, profile: Frobnicator.Google.en_US });
  try { bot.greet(); } catch (Failure) { Logger.write(Failure.message); }
  new Promise(function (ok) { ok(); }).then(function () {});
});
`
	r, err := Check("f.js", src, "")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range r.Missing {
		got = append(got, f.String())
	}
	want := []string{
		"f.js:7:3: e.call.startRecording is not implemented by callstream",
		"f.js:8:7: CallEvents.NoSuchEvent is not implemented by callstream",
		"f.js:8:33: VoxEngine.createASR is not implemented by callstream",
		"f.js:10:69: Frobnicator.Google is not implemented by callstream",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(r.LoadErrors) != 0 {
		t.Errorf("load errors: %v", r.LoadErrors)
	}
}
