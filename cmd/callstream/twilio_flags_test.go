package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/callstream/callstream/internal/webhook"
)

func TestAppDialectOf(t *testing.T) {
	for _, tc := range []struct {
		app, stream string
		want        webhook.Dialect
	}{
		{"", "carrierx", webhook.CarrierX},
		{"", "twilio", webhook.Twilio},
		{"twilio", "carrierx", webhook.Twilio},
		{"carrierx", "twilio", webhook.CarrierX}, // set explicitly: kept
	} {
		if got, err := appDialectOf(tc.app, tc.stream); err != nil || got != tc.want {
			t.Errorf("appDialectOf(%q, %q) = %v, %v; want %v", tc.app, tc.stream, got, err, tc.want)
		}
	}
	if _, err := appDialectOf("twiml", "twilio"); err == nil || !strings.Contains(err.Error(), "--app-dialect") {
		t.Fatalf("bad --app-dialect: %v", err)
	}
}

func TestReadAuthToken(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("# the app's token\n  s3cret \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if tok, err := readAuthToken("", file); err != nil || tok != "s3cret" {
		t.Fatalf("token file: %q, %v", tok, err)
	}
	if tok, err := readAuthToken(" inline ", ""); err != nil || tok != "inline" {
		t.Fatalf("token flag: %q, %v", tok, err)
	}
	if _, err := readAuthToken("inline", file); err == nil {
		t.Fatal("both a token and a file accepted")
	}
	empty := filepath.Join(t.TempDir(), "empty")
	_ = os.WriteFile(empty, []byte("\n# none\n"), 0o600)
	if _, err := readAuthToken("", empty); err == nil || !strings.Contains(err.Error(), "--auth-token-file") {
		t.Fatalf("empty token file: %v", err)
	}
}

// A malformed --account-sid stops serve at start with an error naming it.
func TestServeRefusesBadAccountSid(t *testing.T) {
	var stderr strings.Builder
	err := serve(t.Context(), []string{"--app", "x.xml", "--sip", "127.0.0.1:0", "--http", "127.0.0.1:0", "--account-sid", "AC123"}, &stderr)
	if err == nil || !strings.Contains(err.Error(), "--account-sid") || !strings.Contains(err.Error(), "AC followed by 32 hex digits") {
		t.Fatalf("serve: %v", err)
	}
}
