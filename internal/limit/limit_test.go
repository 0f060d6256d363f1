package limit

import (
	"bytes"
	"flag"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestBucketsRateAndBurst(t *testing.T) {
	b := NewBuckets[netip.Addr](10, 3)
	a := netip.MustParseAddr("192.0.2.1")
	other := netip.MustParseAddr("192.0.2.2")
	t0 := time.Unix(1000, 0)
	for i := range 3 {
		if ok, _ := b.Allow(a, t0); !ok {
			t.Fatalf("burst token %d refused", i)
		}
	}
	ok, wait := b.Allow(a, t0)
	if ok || wait != 100*time.Millisecond {
		t.Fatalf("4th at once: ok=%v wait=%s, want refused with 100ms", ok, wait)
	}
	if ok, _ := b.Allow(other, t0); !ok {
		t.Fatal("another source shares the first one's bucket")
	}
	if ok, _ := b.Allow(a, t0.Add(100*time.Millisecond)); !ok {
		t.Fatal("a token earned after 100 ms at 10/s was refused")
	}
	if ok, _ := b.Allow(a, t0.Add(100*time.Millisecond)); ok {
		t.Fatal("a second token in the same instant was allowed")
	}
}

func TestBucketsOffAllowsAll(t *testing.T) {
	var nilb *Buckets[string]
	if ok, _ := nilb.Allow("x", time.Now()); !ok {
		t.Fatal("nil buckets refused")
	}
	b := NewBuckets[string](-1, 1)
	for range 100 {
		if ok, _ := b.Allow("x", time.Now()); !ok {
			t.Fatal("rate <= 0 refused")
		}
	}
}

// Many sources cannot grow the map past maxKeys; past it they share one
// bucket.
func TestBucketsBoundedKeys(t *testing.T) {
	b := NewBuckets[int](1, 1)
	now := time.Unix(0, 0)
	for i := range maxKeys + 10 {
		b.Allow(i, now)
	}
	if n := b.Len(); n > maxKeys {
		t.Fatalf("%d keys tracked, bound %d", n, maxKeys)
	}
	// The overflow bucket has one token: the second new source is refused.
	ok1, _ := b.Allow(-1, now)
	ok2, _ := b.Allow(-2, now)
	if ok1 && ok2 {
		t.Fatal("sources past the key bound escaped the rate")
	}
	// Once the buckets refill they are pruned and new sources get their own.
	later := now.Add(10 * time.Second)
	if ok, _ := b.Allow(-3, later); !ok {
		t.Fatal("a new source after refill was refused")
	}
	if n := b.Len(); n > 2 {
		t.Fatalf("%d keys after prune, want the refilled ones forgotten", n)
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int{0: 1, 10 * time.Millisecond: 1, 1500 * time.Millisecond: 2, 3 * time.Second: 3} {
		if got := RetryAfterSeconds(d); got != want {
			t.Errorf("RetryAfterSeconds(%s) = %d, want %d", d, got, want)
		}
	}
}

func TestWarnerSuppressesAndCounts(t *testing.T) {
	var buf bytes.Buffer
	w := NewWarner(slog.New(slog.NewTextHandler(&buf, nil)), slog.LevelWarn, time.Hour)
	if !w.Log("bad thing", "n", 1) {
		t.Fatal("first line not logged")
	}
	for range 5 {
		if w.Log("bad thing") {
			t.Fatal("a line within the period was logged")
		}
	}
	w.last.Store(0) // the period has passed
	w.Log("bad thing")
	out := buf.String()
	if strings.Count(out, "bad thing") != 2 || !strings.Contains(out, "suppressed=5") || !strings.Contains(out, "level=WARN") {
		t.Fatalf("log:\n%s", out)
	}
	var zero Warner
	if zero.Log("x") {
		t.Fatal("a Warner without a logger logged")
	}
}

func TestLimitsDefaultsAndFlags(t *testing.T) {
	l := Limits{MaxCalls: 7, InviteRate: -1}.WithDefaults()
	if l.MaxCalls != 7 || l.InviteRate != -1 || l.WSMessage != 1<<20 || l.MaxCallDuration != 4*time.Hour {
		t.Fatalf("WithDefaults: %+v", l)
	}
	if On(l.InviteRate) || !On(l.MaxCalls) {
		t.Fatal("On")
	}
	var f Limits
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	f.Register(fs)
	if err := fs.Parse([]string{"--invite-rate", "0", "--max-calls", "5", "--max-call-duration", "2s"}); err != nil {
		t.Fatal(err)
	}
	got := f.FromFlags()
	if got.InviteRate != -1 || got.MaxCalls != 5 || got.MaxCallDuration != 2*time.Second || got.PendingMarks != 1000 {
		t.Fatalf("FromFlags: %+v", got)
	}
}
