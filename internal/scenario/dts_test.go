package scenario

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var updateDTS = flag.Bool("update", false, "rewrite examples/scenarios/vox.d.ts from the runtime")

// dtsFile is the committed declaration file.
const dtsFile = "../../examples/scenarios/vox.d.ts"

// TestVoxDTS regenerates vox.d.ts from the runtime's API surface and fails
// when the committed file differs: every global, enum value and method a
// session has must be declared, and nothing else.
func TestVoxDTS(t *testing.T) {
	sf, err := APISurface()
	if err != nil {
		t.Fatal(err)
	}
	got := sf.DTS()
	if *updateDTS {
		if err := os.WriteFile(dtsFile, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(dtsFile)
	if err != nil {
		t.Fatalf("%v (write it with: go test ./internal/scenario -run TestVoxDTS -update)", err)
	}
	if d := lineDiff(string(want), got); d != "" {
		t.Errorf("examples/scenarios/vox.d.ts differs from the runtime (- file, + runtime):\n%s\nupdate it with: go test ./internal/scenario -run TestVoxDTS -update", d)
	}
}

// TestAPISurfaceMembers checks the walk itself against members the runtime
// is known to have, so that an empty or shallow walk cannot pass.
func TestAPISurfaceMembers(t *testing.T) {
	sf, err := APISurface()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"VoxEngine":       {"addEventListener", "createWebSocket", "callSIP", "terminate", "easyProcess"},
		"CallEvents":      {"Connected", "Disconnected"},
		"Net":             {"httpRequestAsync"},
		"Logger":          {"write"},
		"WebSocketEvents": {"MEDIA_STARTED"},
	}
	for g, items := range want {
		m, ok := sf.Global(g)
		if !ok {
			t.Errorf("global %s missing", g)
			continue
		}
		for _, it := range items {
			if _, ok := m.Item(it); !ok {
				t.Errorf("%s.%s missing", g, it)
			}
		}
	}
	if m, _ := sf.Global("CallEvents"); len(m.Items) > 0 {
		if c, _ := m.Item("Connected"); c.Kind != KindString || c.Value != evConnected {
			t.Errorf("CallEvents.Connected = %+v", c)
		}
	}
	if _, ok := sf.Global("JSON"); ok {
		t.Error("JavaScript's own JSON listed as a scenario global")
	}
	types := map[string][]string{
		"Call":      {"answer", "hangup", "sendMediaTo", "addEventListener", "state"},
		"Player":    {"stop", "sendMediaTo"},
		"Recorder":  {"stop"},
		"WebSocket": {"send", "close", "clearMediaBuffer", "readyState", "onmessage"},
	}
	for _, ty := range sf.Types {
		for _, name := range types[ty.Name] {
			found := false
			for _, m := range ty.Members {
				found = found || m.Name == name
			}
			if !found {
				t.Errorf("%s.%s missing", ty.Name, name)
			}
		}
		delete(types, ty.Name)
	}
	for name := range types {
		t.Errorf("type %s missing", name)
	}
	if w, ok := sf.Global("WebSocket"); !ok || !w.Class {
		t.Errorf("WebSocket is not declared a class: %+v", w)
	}
}

// TestDTSMarksUnsupported checks that a member the runtime refuses is
// declared @deprecated with the reason.
func TestDTSMarksUnsupported(t *testing.T) {
	prev := unsupportedMember
	unsupportedMember = func(m string) (string, bool) { return "no ASR", m == "VoxEngine.createASR" }
	defer func() { unsupportedMember = prev }()
	sf, err := APISurface()
	if err != nil {
		t.Fatal(err)
	}
	dts := sf.DTS()
	if !strings.Contains(dts, "  /** @deprecated not supported by callstream: no ASR */\n  function createASR(") {
		t.Errorf("createASR not marked:\n%s", dts)
	}
}

// lineDiff returns the lines only in a (-) or only in b (+), in order, or
// "" when a and b are equal.
func lineDiff(a, b string) string {
	if a == b {
		return ""
	}
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	inA, inB := map[string]int{}, map[string]int{}
	for _, l := range al {
		inA[l]++
	}
	for _, l := range bl {
		inB[l]++
	}
	var out strings.Builder
	for _, l := range al {
		if inB[l] == 0 {
			out.WriteString("- " + l + "\n")
		}
	}
	for _, l := range bl {
		if inA[l] == 0 {
			out.WriteString("+ " + l + "\n")
		}
	}
	if out.Len() == 0 {
		out.WriteString("(the same lines in another order)\n")
	}
	return out.String()
}
