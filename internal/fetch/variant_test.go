package fetch

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"
)

// Each variant of a URL is decoded by its own decoder and kept apart;
// gets of a kept variant make no request.
func TestCacheVariantsKeptApart(t *testing.T) {
	fs := newFileServer(t)
	fs.set("/a.mp3", "abc", "Cache-Control", "max-age=60")
	k, _ := newCache(t, CacheConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	decoder := func(suffix string) func(io.Reader) ([]byte, error) {
		return func(r io.Reader) ([]byte, error) {
			b, err := io.ReadAll(r)
			return append(b, suffix...), err
		}
	}
	get := func(variant string) []byte {
		t.Helper()
		b, err := k.GetVariant(ctx, fs.url+"/a.mp3", variant, decoder("-"+variant), nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for range 3 {
		if b := get("PCMU"); !bytes.Equal(b, []byte("abc-PCMU")) {
			t.Fatalf("PCMU variant = %q", b)
		}
		if b := get("G722"); !bytes.Equal(b, []byte("abc-G722")) {
			t.Fatalf("G722 variant = %q", b)
		}
	}
	if n := len(fs.requests("/a.mp3")); n != 2 {
		t.Fatalf("%d requests, want one per variant", n)
	}
	if b := cacheGet(t, k, fs.url+"/a.mp3"); !bytes.Equal(b, []byte("abc")) {
		t.Fatalf("plain get = %q, want the file as it is", b)
	}
	if st := k.Stats(); st.Entries != 3 || st.Hits != 4 || st.Downloads != 3 {
		t.Fatalf("stats %+v, want 3 entries, 4 hits, 3 downloads", st)
	}
}
