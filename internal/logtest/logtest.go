// Package logtest captures log output for tests. A Buffer takes what a
// slog handler (or a child process's stderr) writes, from any goroutine,
// and gives it back as text or as JSON records; a test can wait for a
// line instead of sleeping until it is likely there.
package logtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// Buffer collects log output. Its zero value is ready to use; it is safe
// for concurrent use.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	// changed is closed (and forgotten) on every write, to wake Wait;
	// nil while nobody waits.
	changed chan struct{}
}

// Text returns a logger writing text lines at level and above into a new
// Buffer, and the Buffer.
func Text(level slog.Level) (*slog.Logger, *Buffer) {
	b := &Buffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: level})), b
}

// JSON returns a logger writing JSON records at level and above into a new
// Buffer, and the Buffer.
func JSON(level slog.Level) (*slog.Logger, *Buffer) {
	b := &Buffer{}
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: level})), b
}

// Write implements io.Writer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.changed != nil {
		close(b.changed)
		b.changed = nil
	}
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Lines returns every JSON record written so far, decoded; lines that are
// not JSON are skipped.
func (b *Buffer) Lines() []map[string]any {
	b.mu.Lock()
	data := bytes.Clone(b.buf.Bytes())
	b.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if json.Unmarshal(line, &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// Records returns the JSON records at level (e.g. "WARN") whose message is
// msg exactly; an empty level or msg matches any.
func (b *Buffer) Records(level, msg string) []map[string]any {
	var out []map[string]any
	for _, m := range b.Lines() {
		if (level == "" || m["level"] == level) && (msg == "" || m["msg"] == msg) {
			out = append(out, m)
		}
	}
	return out
}

// Find returns the first JSON record at level (any when empty) whose
// message contains msg and which has every attribute in attrs with a value
// that contains the given text; nil when there is none.
func (b *Buffer) Find(level, msg string, attrs map[string]string) map[string]any {
	for _, m := range b.Lines() {
		if level != "" && m["level"] != level {
			continue
		}
		if s, _ := m["msg"].(string); !strings.Contains(s, msg) {
			continue
		}
		ok := true
		for k, want := range attrs {
			if !strings.Contains(fmt.Sprint(m[k]), want) {
				ok = false
				break
			}
		}
		if ok {
			return m
		}
	}
	return nil
}

// Wait waits until ok holds, checking it now and after every write. It
// fails t, with what it waited for and the log so far, when d passes first.
func (b *Buffer) Wait(t testing.TB, d time.Duration, what string, ok func() bool) {
	t.Helper()
	if !b.await(d, ok) {
		t.Fatalf("no %s in the log within %s:\n%s", what, d, tail(b.String(), 8000))
	}
}

// await waits until ok holds, checking it now and after every write, and
// reports whether it did before d passed.
func (b *Buffer) await(d time.Duration, ok func() bool) bool {
	timeout := time.NewTimer(d)
	defer timeout.Stop()
	for {
		b.mu.Lock()
		if b.changed == nil {
			b.changed = make(chan struct{})
		}
		changed := b.changed
		b.mu.Unlock()
		if ok() {
			return true
		}
		select {
		case <-changed:
		case <-timeout.C:
			return ok()
		}
	}
}

// WaitContains waits until the log contains text.
func (b *Buffer) WaitContains(t testing.TB, d time.Duration, text string) {
	t.Helper()
	b.Wait(t, d, fmt.Sprintf("%q", text), func() bool { return strings.Contains(b.String(), text) })
}

// WaitFind waits until Find finds a record and returns it.
func (b *Buffer) WaitFind(t testing.TB, d time.Duration, level, msg string, attrs map[string]string) map[string]any {
	t.Helper()
	var rec map[string]any
	b.Wait(t, d, fmt.Sprintf("%s record %q %v", level, msg, attrs), func() bool {
		rec = b.Find(level, msg, attrs)
		return rec != nil
	})
	return rec
}

// tail returns the last n bytes of s at most.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
