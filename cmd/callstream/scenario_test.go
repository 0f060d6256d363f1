package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callstream/callstream/internal/servetest"
)

// checkFixtures are scenarios scenario check is run on, with what it must
// print and its exit status.
var checkFixtures = []struct {
	name, src string
	code      int
	want      []string // lines of the output, {} for the file's path
}{
	{
		name: "good.js",
		src: `require(Modules.WebSocket);
VoxEngine.addEventListener(AppEvents.CallAlerting, (e) => {
  const ws = VoxEngine.createWebSocket('ws://127.0.0.1:9/bot');
  e.call.answer();
  e.call.addEventListener(CallEvents.Connected, () => e.call.sendMediaTo(ws));
  const parts = ['a', 'b'].map((s) => s.toUpperCase()).join(',');
  Logger.write(parts);
});
`,
		code: 0,
		want: []string{"ok: 9 members used, all implemented"},
	},
	{
		name: "missing.js",
		src: `VoxEngine.addEventListener(AppEvents.CallAlerting, (e) => {
  const call = e.call;
  const thing = VoxEngine.createFooBar();
  call.answer();
    call.fooBar({ x: 1 });
});
`,
		code: 1,
		want: []string{
			"{}:3:17: VoxEngine.createFooBar is not implemented by callstream",
			"{}:5:5: call.fooBar is not implemented by callstream",
			"2 missing",
		},
	},
	{
		name: "syntax.js",
		src:  "var a = 1;\nfunction ( {\n",
		code: 1,
		want: []string{"{}:2:10: SyntaxError: Unexpected token ("},
	},
	{
		name: "throws.js",
		src:  "Logger.write('loading');\nnull.x;\n",
		code: 1,
		want: []string{"{}:2:6: error at load: TypeError: Cannot read property 'x' of undefined"},
	},
}

// TestScenarioCheck runs `callstream scenario check` in process on each
// fixture and compares its output and exit status.
func TestScenarioCheck(t *testing.T) {
	dir := t.TempDir()
	for _, f := range checkFixtures {
		t.Run(f.name, func(t *testing.T) {
			path := filepath.Join(dir, f.name)
			if err := os.WriteFile(path, []byte(f.src), 0o644); err != nil {
				t.Fatal(err)
			}
			var out, errOut bytes.Buffer
			code := run(context.Background(), []string{"scenario", "check", path}, &out, &errOut)
			want := strings.ReplaceAll(strings.Join(f.want, "\n")+"\n", "{}", path)
			if code != f.code || out.String() != want {
				t.Errorf("exit %d, output:\n%s\nstderr: %s\nwant exit %d, output:\n%s", code, out.String(), errOut.String(), f.code, want)
			}
		})
	}
}

// TestScenarioCheckUsage covers the usage errors: exit 2 with the usage.
func TestScenarioCheckUsage(t *testing.T) {
	for _, args := range [][]string{{"scenario"}, {"scenario", "lint"}, {"scenario", "check"}, {"scenario", "check", filepath.Join(t.TempDir(), "absent.js")}} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), args, &out, &errOut); code != 2 || errOut.Len() == 0 {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut.String())
		}
	}
}

// TestScenarioCheckProcess runs the built binary on the examples: the
// outbound bot passes with its custom data; a scenario with a missing
// member exits 1 naming it.
func TestScenarioCheckProcess(t *testing.T) {
	bin := servetest.Binary(t)
	cmd := exec.Command(bin, "scenario", "check", "--scenario-data", `{"to":"sip:bob@127.0.0.1:9"}`, "../../examples/scenarios/outbound-bot.js")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "ok: ") {
		t.Errorf("outbound-bot.js: %v\n%s", err, out)
	}
	path := filepath.Join(t.TempDir(), "asr.js")
	if err := os.WriteFile(path, []byte("VoxEngine.addEventListener(AppEvents.Started, () => {\n  VoxEngine.createFooBar();\n});\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(bin, "scenario", "check", path).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), path+":2:3: VoxEngine.createFooBar is not implemented by callstream") {
		t.Errorf("asr.js: %v\n%s", err, out)
	}
}
