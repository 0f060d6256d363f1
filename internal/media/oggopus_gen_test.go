//go:build opus

package media

import (
	"flag"
	"os"
	"testing"

	"github.com/hraban/opus"
)

var updateOpus = flag.Bool("update-opus", false, "rewrite the Ogg/Opus fixtures in testdata with libopus")

// TestWriteOpusFixtures makes testdata/tone440_*.opus with libopus: the
// tone of toneSamples, in CELT (64 kbit/s, audio) and in SILK (12 kbit/s,
// VoIP, narrowband) modes. It runs only with -update-opus.
func TestWriteOpusFixtures(t *testing.T) {
	if !*updateOpus {
		t.Skip("run with -tags opus -update-opus to rewrite the fixtures")
	}
	for _, f := range []struct {
		name    string
		app     opus.Application
		bitrate int
	}{{"testdata/tone440_celt.opus", opus.AppAudio, 64000}, {"testdata/tone440_silk.opus", opus.AppVoIP, 12000}} {
		enc, err := opus.NewEncoder(48000, 1, f.app)
		if err != nil {
			t.Fatal(err)
		}
		if err := enc.SetBitrate(f.bitrate); err != nil {
			t.Fatal(err)
		}
		if f.app == opus.AppVoIP {
			if err := enc.SetMaxBandwidth(opus.Narrowband); err != nil {
				t.Fatal(err)
			}
		}
		const frame = 960 // 20 ms
		x := toneSamples()
		preSkip := 312
		w := &oggWriter{serial: 0x0C5}
		w.page(0, false, opusHead(1, preSkip))
		w.page(0, false, opusTags())
		// The decoder drops preSkip samples (the encoder's delay): the
		// input goes on that long after the tone, in whole frames.
		n := len(x) + preSkip
		pad := append(x, make([]int16, frame*((n+frame-1)/frame)-len(x))...)
		out := make([]byte, 4000)
		var granule int64 = int64(preSkip)
		for i := 0; i < len(pad); i += frame {
			n, err := enc.Encode(pad[i:i+frame], out)
			if err != nil {
				t.Fatal(err)
			}
			granule += frame
			last := i+frame >= len(pad)
			if last {
				granule = int64(preSkip + len(x))
			}
			w.page(granule, last, append([]byte(nil), out[:n]...))
		}
		if err := os.WriteFile(f.name, w.buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
