package records

import (
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/callstream/callstream/internal/media"
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
		rs, err := Open(t.TempDir(), time.Hour, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		name, path := rs.Add()
		if !nameShape.MatchString(name) || filepath.Base(path) != name {
			t.Fatalf("name %q path %q", name, path)
		}
		other, _ := rs.Add()
		if other == name {
			t.Fatal("two recordings got the same name")
		}
		if err := WriteFile(path, media.EncodingULaw, 8000, []byte{0xff}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Hour) // still recording: no TTL yet
		synctest.Wait()
		if !exists(t, path) {
			t.Fatal("a recording in progress was deleted")
		}
		rs.Ended(name, time.Now())
		time.Sleep(time.Hour - time.Second)
		synctest.Wait()
		if _, ok := rs.Path(name); !ok || !exists(t, path) {
			t.Fatal("deleted before its TTL")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if _, ok := rs.Path(name); ok || exists(t, path) {
			t.Fatal("not deleted after its TTL")
		}
		if rs.Len() != 1 {
			t.Fatalf("%d recordings known, want the one in progress", rs.Len())
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
		rs, err := Open(dir, time.Hour, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		if exists(t, old) || !exists(t, young) || !exists(t, foreign) {
			t.Fatalf("after the scan: old %v young %v foreign %v", exists(t, old), exists(t, young), exists(t, foreign))
		}
		if _, ok := rs.Path(filepath.Base(young)); !ok {
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
		rs, err := Open(dir, -1, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
			t.Fatalf("directory: %v %v", st, err)
		}
		name, path := rs.Add()
		if err := WriteFile(path, media.EncodingULaw, 8000, nil); err != nil {
			t.Fatal(err)
		}
		rs.Ended(name, time.Now())
		time.Sleep(1000 * time.Hour)
		synctest.Wait()
		if !exists(t, path) {
			t.Fatal("a recording was deleted without a TTL")
		}
	})
}

// A recording asking to be kept for less than the store's TTL is deleted
// then; asking for more changes nothing.
func TestRecordStoreEndedWithin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rs, err := Open(t.TempDir(), time.Hour, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		defer rs.Close()
		short, shortPath := rs.Add()
		long, longPath := rs.Add()
		for _, p := range []string{shortPath, longPath} {
			if err := WriteFile(p, media.EncodingULaw, 8000, []byte{0xff}); err != nil {
				t.Fatal(err)
			}
		}
		rs.EndedWithin(short, time.Now(), 10*time.Minute)
		rs.EndedWithin(long, time.Now(), 90*24*time.Hour)
		time.Sleep(11 * time.Minute)
		synctest.Wait()
		if exists(t, shortPath) || !exists(t, longPath) {
			t.Fatalf("after 11 min: short kept %v, long kept %v; want the short one deleted only", exists(t, shortPath), exists(t, longPath))
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		if exists(t, longPath) {
			t.Fatal("a recording asking for longer outlived the store's TTL")
		}
	})
}
