package servetest

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// maxGetBody bounds the body Get reads.
const maxGetBody = 64 << 20

// Get fetches url with token as its bearer token (none when "") and
// returns the status code and body; a failed request fails t.
func Get(t testing.TB, url, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(Context(t, 30*time.Second), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxGetBody))
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, b
}

// Post sends body (of contentType) to url with token as its bearer token
// (none when "") and returns the status code and body; a failed request
// fails t.
func Post(t testing.TB, url, token, contentType, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(Context(t, 30*time.Second), http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxGetBody))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	return resp.StatusCode, b
}
