package scenario

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func exists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Stat(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

var recordName = regexp.MustCompile(`^rec-[0-9a-f]{32}\.wav$`)

// A session's recording is served under its unguessable name until its
// TTL is over; other names are not found.
func TestRecordingServedThenDeleted(t *testing.T) {
	e := newEnv(t, `
VoxEngine.addEventListener(AppEvents.Started, function () {
  var rec = VoxEngine.createRecorder();
  rec.addEventListener(RecorderEvents.Stopped, function (ev) { Logger.write('recorded ' + ev.url); });
  setTimeout(function () { rec.stop(); }, 100);
});`, func(c *Config) { c.RecordTTL = 2 * time.Second })
	e.start(t, "")
	u := strings.TrimPrefix(e.logs.waitText(t, 5*time.Second, "recorded *"), "recorded ")
	name := u[strings.LastIndex(u, "/")+1:]
	if !recordName.MatchString(name) || !strings.HasPrefix(u, e.srv.URL+"/records/") {
		t.Fatalf("recording URL %q", u)
	}
	status := func(url string) int {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := status(u); got != http.StatusOK {
		t.Fatalf("GET the recording: %d", got)
	}
	for _, bad := range []string{"/records/rec-" + strings.Repeat("0", 32) + ".wav", "/records/..%2f..%2fetc%2fpasswd", "/records/" + strings.TrimSuffix(name, ".wav")} {
		if got := status(e.srv.URL + bad); got != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", bad, got)
		}
	}
	path := filepath.Join(e.rt.cfg.RecordDir, name)
	deadline := time.Now().Add(10 * time.Second)
	for exists(t, path) {
		if time.Now().After(deadline) {
			t.Fatal("the recording was not deleted after its TTL")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := status(u); got != http.StatusNotFound {
		t.Fatalf("GET after the TTL: %d, want 404", got)
	}
}
