package scenario

import (
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
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

// A recording is kept while it is being made and for the TTL after it
// ended, then deleted and no longer served.
func TestRecordStoreTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rs, err := newRecordStore(t.TempDir(), time.Hour, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer rs.close()
		name, path := rs.add()
		if !recordName.MatchString(name) || filepath.Base(path) != name {
			t.Fatalf("name %q path %q", name, path)
		}
		other, _ := rs.add()
		if other == name {
			t.Fatal("two recordings got the same name")
		}
		if err := writeRecording(path, []byte{0xff}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Hour) // still recording: no TTL yet
		synctest.Wait()
		if !exists(t, path) {
			t.Fatal("a recording in progress was deleted")
		}
		rs.ended(name, time.Now())
		time.Sleep(time.Hour - time.Second)
		synctest.Wait()
		if _, ok := rs.path(name); !ok || !exists(t, path) {
			t.Fatal("deleted before its TTL")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if _, ok := rs.path(name); ok || exists(t, path) {
			t.Fatal("not deleted after its TTL")
		}
		if rs.len() != 1 {
			t.Fatalf("%d recordings known, want the one in progress", rs.len())
		}
	})
}

// At start, recordings of an earlier run older than the TTL are deleted,
// younger ones are served until their time comes, other files are left
// alone.
func TestRecordStoreStartupScan(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		now := time.Now()
		old := filepath.Join(dir, "rec-"+strings.Repeat("a", 32)+".wav")
		young := filepath.Join(dir, "rec-"+strings.Repeat("b", 32)+".wav")
		foreign := filepath.Join(dir, "rec-notours.wav")
		for path, age := range map[string]time.Duration{old: 2 * time.Hour, young: 30 * time.Minute, foreign: 5 * time.Hour} {
			if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(path, now.Add(-age), now.Add(-age)); err != nil {
				t.Fatal(err)
			}
		}
		rs, err := newRecordStore(dir, time.Hour, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer rs.close()
		if exists(t, old) || !exists(t, young) || !exists(t, foreign) {
			t.Fatalf("after the scan: old %v young %v foreign %v", exists(t, old), exists(t, young), exists(t, foreign))
		}
		if _, ok := rs.path(filepath.Base(young)); !ok {
			t.Fatal("the younger recording is not served")
		}
		time.Sleep(31 * time.Minute)
		synctest.Wait()
		if exists(t, young) || !exists(t, foreign) {
			t.Fatalf("after its TTL: young %v foreign %v", exists(t, young), exists(t, foreign))
		}
	})
}

// With no TTL recordings are kept; the directory is made private.
func TestRecordStoreKeeps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "made")
		rs, err := newRecordStore(dir, -1, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer rs.close()
		if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
			t.Fatalf("directory: %v %v", st, err)
		}
		name, path := rs.add()
		if err := writeRecording(path, nil); err != nil {
			t.Fatal(err)
		}
		rs.ended(name, time.Now())
		time.Sleep(1000 * time.Hour)
		synctest.Wait()
		if !exists(t, path) {
			t.Fatal("a recording was deleted without a TTL")
		}
	})
}

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
