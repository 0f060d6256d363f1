package media

import (
	"bytes"
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

// FuzzDecodeOgg feeds broken Ogg/Opus files to Decode: it returns audio
// or an error, never panics, and stays within its bounds.
func FuzzDecodeOgg(f *testing.F) {
	for _, name := range []string{"tone440_celt.opus", "tone440_silk.opus"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := Decode(b, 10*time.Second)
		if err == nil && a.Duration() > 10*time.Second {
			t.Fatalf("%s of audio", a.Duration())
		}
	})
}

// TestOggOpusMutations decodes the fixtures with audio packets changed at
// random (re-paged, so the checksums hold and the Opus decoder sees the
// damage): each decode returns audio or an error, within its bound.
func TestOggOpusMutations(t *testing.T) {
	for _, name := range []string{"tone440_celt.opus", "tone440_silk.opus"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		o := newOggReader(bytes.NewReader(b))
		var pkts [][]byte
		for {
			p, err := o.nextPacket()
			if err != nil {
				break
			}
			pkts = append(pkts, bytes.Clone(p))
		}
		r := rand.New(rand.NewPCG(1, 2))
		failed := 0
		for range 200 {
			w := &oggWriter{serial: 1}
			for j, p := range pkts {
				p = bytes.Clone(p)
				if j >= 2 && r.IntN(3) == 0 && len(p) > 0 {
					for range 1 + r.IntN(4) {
						p[r.IntN(len(p))] = byte(r.IntN(256))
					}
					if r.IntN(4) == 0 {
						p = p[:r.IntN(len(p))]
					}
				}
				w.page(int64(j*960), j == len(pkts)-1, p)
			}
			a, err := Decode(w.buf.Bytes(), 2*time.Second)
			if err != nil {
				failed++
				continue
			}
			if a.Duration() > 2*time.Second {
				t.Fatalf("%s: %s of audio", name, a.Duration())
			}
		}
		t.Logf("%s: %d of 200 damaged files refused", name, failed)
	}
}
