package records

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callstream/callstream/internal/media"
)

// A File written piece by piece, then cut, reads back as the WAV file
// WriteFile makes of the same audio, in every encoding.
func TestFileMatchesWriteFile(t *testing.T) {
	dir := t.TempDir()
	audio := make([]byte, 999)
	for i := range audio {
		audio[i] = byte(i * 7)
	}
	for _, tc := range []struct {
		enc  media.Encoding
		rate int
		keep int
	}{{media.EncodingULaw, 8000, 501}, {media.EncodingALaw, 8000, 998}, {media.EncodingPCM16, 16000, 640}} {
		streamed := filepath.Join(dir, tc.enc.String()+"-streamed.wav")
		w, err := Create(streamed, tc.enc, tc.rate)
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off < len(audio)-1; off += 160 {
			if _, err := w.Write(audio[off:min(off+160, len(audio)-1)]); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Truncate(int64(tc.keep)); err != nil {
			t.Fatal(err)
		}
		if w.Len() != int64(tc.keep) {
			t.Fatalf("%v: Len %d after Truncate(%d)", tc.enc, w.Len(), tc.keep)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		whole := filepath.Join(dir, tc.enc.String()+"-whole.wav")
		if err := WriteFile(whole, tc.enc, tc.rate, audio[:tc.keep]); err != nil {
			t.Fatal(err)
		}
		a, _ := os.ReadFile(streamed)
		b, _ := os.ReadFile(whole)
		if !bytes.Equal(a, b) {
			t.Fatalf("%v: the streamed file (%d bytes) differs from WriteFile's (%d bytes)", tc.enc, len(a), len(b))
		}
		got, err := media.ReadWAV(bytes.NewReader(a))
		if err != nil {
			t.Fatalf("%v: %v", tc.enc, err)
		}
		if got.Encoding != tc.enc || got.SampleRate != tc.rate || !bytes.Equal(got.Data, audio[:tc.keep]) {
			t.Fatalf("%v: read back %v %d Hz %d bytes", tc.enc, got.Encoding, got.SampleRate, len(got.Data))
		}
		if st, err := os.Stat(streamed); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%v: mode %v %v", tc.enc, st.Mode(), err)
		}
	}
}

// The handler serves a recording of the store by its name and nothing
// else: not unknown names, not other files of the directory.
func TestServeHTTP(t *testing.T) {
	dir := t.TempDir()
	rs, err := Open(dir, -1, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	name, path := rs.Add()
	if err := WriteFile(path, media.EncodingULaw, 8000, []byte{1, 2, 3, 4}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "other.wav"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(Pattern, rs)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(path string) (int, string, []byte) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), b
	}
	if u := URL(srv.URL+"/", name); !strings.HasPrefix(u, srv.URL+"/records/rec-") {
		t.Fatalf("URL %q", u)
	}
	code, ct, body := get("/records/" + name)
	want, _ := os.ReadFile(path)
	if code != http.StatusOK || ct != "audio/wav" || !bytes.Equal(body, want) {
		t.Fatalf("GET the recording: %d %q %d bytes", code, ct, len(body))
	}
	for _, bad := range []string{"/records/other.wav", "/records/rec-" + strings.Repeat("0", 32) + ".wav", "/records/..%2fother.wav"} {
		if code, _, _ := get(bad); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", bad, code)
		}
	}
}
