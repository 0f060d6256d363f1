package logtest

import (
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// Records written from many goroutines at once all arrive whole, and
// Records, Find and String see them.
func TestBufferConcurrentRecords(t *testing.T) {
	log, b := JSON(slog.LevelInfo)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				log.Warn("refused", "g", g, "i", i)
				log.Debug("hidden")
			}
		})
	}
	wg.Wait()
	if n := len(b.Lines()); n != 200 {
		t.Fatalf("%d records, want 200", n)
	}
	if n := len(b.Records("WARN", "refused")); n != 200 {
		t.Fatalf("%d WARN refused records, want 200", n)
	}
	if n := len(b.Records("INFO", "")); n != 0 {
		t.Fatalf("%d INFO records", n)
	}
	if len(b.Records("", "refuse")) != 0 {
		t.Fatal("Records matched a part of the message")
	}
	if m := b.Find("WARN", "refuse", map[string]string{"g": "3", "i": "49"}); m == nil {
		t.Fatal("Find missed g=3 i=49")
	}
	if m := b.Find("ERROR", "refused", nil); m != nil {
		t.Fatalf("Find at ERROR: %v", m)
	}
	if strings.Contains(b.String(), "hidden") {
		t.Fatal("a record below the level was written")
	}
}

// Wait returns once another goroutine has written what it waits for, and
// fails, naming what it waited for, when that does not come in time.
func TestBufferWait(t *testing.T) {
	log, b := Text(slog.LevelInfo)
	go func() {
		for i := range 5 {
			log.Info("step", "n", i)
		}
	}()
	b.WaitContains(t, 10*time.Second, "n=4")
	_, jb := JSON(slog.LevelInfo)
	go func() {
		_, _ = jb.Write([]byte(`{"level":"WARN","msg":"listener stopped","listener":"sip-tcp"}` + "\n"))
	}()
	if m := jb.WaitFind(t, 10*time.Second, "WARN", "stopped", map[string]string{"listener": "tcp"}); m["listener"] != "sip-tcp" {
		t.Fatalf("WaitFind returned %v", m)
	}

	start := time.Now()
	if b.await(50*time.Millisecond, func() bool { return strings.Contains(b.String(), "n=5") }) {
		t.Fatal("waiting for a line never written succeeded")
	}
	if time.Since(start) < 50*time.Millisecond {
		t.Fatal("gave up before the time was up")
	}
}
