package scenario

import (
	"testing"

	"github.com/callstream/callstream/internal/tts"
)

// TestSharedSynth: a runtime takes the gateway's synthesizer when both
// run the same program (one cache, one set of counters), and keeps its own
// when it was given another program.
func TestSharedSynth(t *testing.T) {
	shared := tts.New(tts.Config{Command: "espeak-ng"})
	defer shared.Close()
	for _, tc := range []struct {
		command string
		shares  bool
	}{{"", true}, {"espeak-ng", true}, {"other-tts", false}} {
		rt, err := New(Config{Source: "// nothing", TTSCommand: tc.command, RecordDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		own := rt.synthesizer()
		rt.UseGateway(Shared{TTS: shared})
		got := rt.synthesizer()
		if (got == shared) != tc.shares || (!tc.shares && got != own) {
			t.Errorf("TTSCommand %q: shared %v, want %v", tc.command, got == shared, tc.shares)
		}
		if err := rt.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
