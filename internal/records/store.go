// Package records keeps the calls' recordings: WAV files under
// unguessable names in one directory, served to API token holders at
// GET /records/{name} and deleted a time to live after they ended. Both
// call controllers (FlexML's <Record> and the scenario runtime's
// recorders) write into the same Store.
package records

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"time"
)

// DefaultTTL is how long a recording is kept after it ended.
const DefaultTTL = 24 * time.Hour

// recordName is the shape of a recording's file name, which is also its
// name under /records/: 128 random bits, so that names cannot be guessed,
// in hex, so that they are safe in a path.
var nameShape = regexp.MustCompile(`^rec-[0-9a-f]{32}\.wav$`)

// Store keeps the recordings served under /records/ and deletes each one
// TTL after it ended. Its janitor goroutine runs from Open until Close;
// files left then are deleted by the next run's start-up scan once their
// time has come. Its methods are safe for concurrent use.
type Store struct {
	dir string
	ttl time.Duration // <= 0: recordings are kept
	log *slog.Logger

	mu    sync.Mutex
	files map[string]*recordFile // by name

	wake    chan struct{} // cap 1: a recording ended
	done    chan struct{} // closed by close
	stopped chan struct{} // closed when the janitor has returned
	once    sync.Once
}

// recordFile is one recording on disk.
type recordFile struct {
	path    string
	expires time.Time // zero while it is being recorded
}

// Open makes dir (0700) when missing, deletes the recordings of an earlier
// run older than ttl, serves the others until their time comes, and
// starts the janitor. A ttl <= 0 keeps recordings.
func Open(dir string, ttl time.Duration, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("recordings directory: %w", err)
	}
	rs := &Store{
		dir:     dir,
		ttl:     ttl,
		log:     log,
		files:   map[string]*recordFile{},
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	if err := rs.scan(); err != nil {
		return nil, err
	}
	go rs.run()
	return rs, nil
}

// scan takes in the recordings an earlier run left in the directory.
func (rs *Store) scan() error {
	entries, err := os.ReadDir(rs.dir)
	if err != nil {
		return fmt.Errorf("recordings directory: %w", err)
	}
	now := time.Now()
	deleted := 0
	for _, e := range entries {
		if !e.Type().IsRegular() || !nameShape.MatchString(e.Name()) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		path := filepath.Join(rs.dir, e.Name())
		expires := info.ModTime().Add(rs.ttl)
		if rs.ttl > 0 && !expires.After(now) {
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				rs.log.Warn("old recording not deleted", "name", e.Name(), "err", err)
				continue
			}
			deleted++
			continue
		}
		if rs.ttl <= 0 {
			expires = time.Time{}
		}
		rs.files[e.Name()] = &recordFile{path: path, expires: expires}
	}
	if deleted > 0 || len(rs.files) > 0 {
		rs.log.Info("recordings of an earlier run", "dir", rs.dir, "deleted", deleted, "kept", len(rs.files), "ttl", rs.ttl)
	}
	return nil
}

// Add reserves a name and a path for a new recording.
func (rs *Store) Add() (name, path string) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	name = "rec-" + hex.EncodeToString(b[:]) + ".wav"
	path = filepath.Join(rs.dir, name)
	rs.mu.Lock()
	rs.files[name] = &recordFile{path: path}
	rs.mu.Unlock()
	return name, path
}

// Ended starts the recording's time to live.
func (rs *Store) Ended(name string, at time.Time) { rs.EndedWithin(name, at, 0) }

// TTL returns how long a recording is kept after it ended (<= 0: kept).
func (rs *Store) TTL() time.Duration { return rs.ttl }

// EndedWithin starts the recording's time to live, shortened to ttl when
// ttl > 0 is shorter than the store's (a recording asked to be kept for
// less); a longer ttl changes nothing.
func (rs *Store) EndedWithin(name string, at time.Time, ttl time.Duration) {
	keep := rs.ttl
	if ttl > 0 && (keep <= 0 || ttl < keep) {
		keep = ttl
	}
	if keep <= 0 {
		return
	}
	rs.mu.Lock()
	if f, ok := rs.files[name]; ok {
		f.expires = at.Add(keep)
	}
	rs.mu.Unlock()
	select {
	case rs.wake <- struct{}{}:
	default:
	}
}

// Drop forgets a recording that was not written.
func (rs *Store) Drop(name string) {
	rs.mu.Lock()
	delete(rs.files, name)
	rs.mu.Unlock()
}

// Path returns the file of the recording name (it exists once the
// recording has stopped); false for a name not in the store.
func (rs *Store) Path(name string) (string, bool) {
	if !nameShape.MatchString(name) {
		return "", false
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	f, ok := rs.files[name]
	if !ok {
		return "", false
	}
	return f.path, true
}

// Len returns the recordings known now.
func (rs *Store) Len() int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return len(rs.files)
}

// Close stops the janitor and waits for it.
func (rs *Store) Close() {
	rs.once.Do(func() { close(rs.done) })
	<-rs.stopped
}

// run is the janitor: it deletes each recording when its time comes.
func (rs *Store) run() {
	defer close(rs.stopped)
	for {
		next, ok := rs.expire(time.Now())
		var timer *time.Timer
		var fire <-chan time.Time
		if ok {
			timer = time.NewTimer(time.Until(next))
			fire = timer.C
		}
		select {
		case <-rs.wake:
		case <-fire:
		case <-rs.done:
		}
		if timer != nil {
			timer.Stop()
		}
		select {
		case <-rs.done:
			return
		default:
		}
	}
}

// expire deletes the recordings whose time has come and returns the time
// of the next one, if any.
func (rs *Store) expire(now time.Time) (next time.Time, ok bool) {
	var due []string
	rs.mu.Lock()
	for name, f := range rs.files {
		switch {
		case f.expires.IsZero():
		case !f.expires.After(now):
			due = append(due, f.path)
			delete(rs.files, name)
		case !ok || f.expires.Before(next):
			next, ok = f.expires, true
		}
	}
	rs.mu.Unlock()
	for _, p := range due {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			rs.log.Warn("recording not deleted", "name", filepath.Base(p), "err", err)
			continue
		}
		rs.log.Info("recording deleted: its time to live is over", "name", filepath.Base(p), "ttl", rs.ttl)
	}
	return next, ok
}
