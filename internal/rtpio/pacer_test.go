package rtpio

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"
)

const pacerSlack = 10 * time.Millisecond

// onTime returns an error unless at is d after start, within pacerSlack.
func onTime(what string, start, at time.Time, d time.Duration) error {
	if got := at.Sub(start); got < d-pacerSlack || got > d+pacerSlack {
		return fmt.Errorf("%s at %v, want %v ± %v", what, got, d, pacerSlack)
	}
	return nil
}

// realTime runs a wall-clock check up to five times: a loaded machine may
// wake a goroutine late now and then. Logic errors fail every attempt; the
// exact schedule is checked without wall-clock noise in TestPacerExact.
func realTime(t *testing.T, check func() error) {
	t.Helper()
	var err error
	for range 5 {
		if err = check(); err == nil {
			return
		}
		t.Log(err)
	}
	t.Fatal(err)
}

func TestPacerSchedule(t *testing.T) {
	t.Parallel() // real-time: overlap the sleeps
	realTime(t, func() error {
		ctx := context.Background()
		start := time.Now()
		p := NewPacer(start, 5*time.Millisecond, 0) // no skipping: a stall here must not hide drift
		for n := range uint64(101) {
			tick, err := p.Wait(ctx)
			if err != nil {
				return err
			}
			now := time.Now()
			if tick != n {
				return fmt.Errorf("tick %d, want %d", tick, n)
			}
			if due := start.Add(time.Duration(n) * 5 * time.Millisecond); now.Before(due) {
				return fmt.Errorf("tick %d returned %v early", n, due.Sub(now))
			}
		}
		if p.Skipped() != 0 {
			return fmt.Errorf("Skipped = %d", p.Skipped())
		}
		// 100 ticks of 5 ms: tick 100 is due at start+500ms.
		return onTime("tick 100", start, time.Now(), 500*time.Millisecond)
	})
}

func TestPacerCatchesUp(t *testing.T) {
	t.Parallel() // real-time: overlap the sleeps
	realTime(t, func() error {
		ctx := context.Background()
		start := time.Now()
		p := NewPacer(start, 5*time.Millisecond, 0)
		immediate := 0
		for n := range uint64(101) {
			if n == 20 {
				time.Sleep(40 * time.Millisecond) // ticks 20..28 are now due
			}
			before := time.Now()
			tick, err := p.Wait(ctx)
			if err != nil {
				return err
			}
			if tick != n {
				return fmt.Errorf("tick %d, want %d", tick, n)
			}
			if n > 20 && n <= 28 && time.Since(before) < time.Millisecond {
				immediate++
			}
		}
		if immediate < 6 {
			return fmt.Errorf("%d of the 8 overdue ticks returned at once", immediate)
		}
		if p.Skipped() != 0 {
			return fmt.Errorf("Skipped = %d", p.Skipped())
		}
		return onTime("tick 100", start, time.Now(), 500*time.Millisecond)
	})
}

func TestPacerSkipsAfterStall(t *testing.T) {
	t.Parallel() // real-time: overlap the sleeps
	realTime(t, func() error {
		ctx := context.Background()
		start := time.Now()
		p := NewPacer(start, 20*time.Millisecond, 200*time.Millisecond)
		if tick, _ := p.Wait(ctx); tick != 0 {
			return fmt.Errorf("first tick %d", tick)
		}
		time.Sleep(time.Second)
		tick, err := p.Wait(ctx)
		if err != nil {
			return err
		}
		// About 49 ticks were overdue: the schedule jumps to the newest one.
		if p.Skipped() < 45 || p.Skipped() > 55 || tick != p.Skipped()+1 {
			return fmt.Errorf("after a 1 s stall: tick %d, Skipped %d", tick, p.Skipped())
		}
		next, _ := p.Wait(ctx)
		if next != tick+1 {
			return fmt.Errorf("tick %d after %d", next, tick)
		}
		return onTime("tick after the skip", start, time.Now(), time.Duration(next)*20*time.Millisecond)
	})
}

func TestPacerExact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		start := time.Now()
		p := NewPacer(start, 20*time.Millisecond, 200*time.Millisecond)
		for n := range uint64(5) {
			tick, _ := p.Wait(ctx)
			if tick != n || time.Since(start) != time.Duration(n)*20*time.Millisecond {
				t.Fatalf("tick %d at %v", tick, time.Since(start))
			}
		}
		time.Sleep(190 * time.Millisecond) // 170 ms behind tick 5: caught up, not skipped
		for n := uint64(5); n <= 13; n++ {
			if tick, _ := p.Wait(ctx); tick != n || time.Since(start) != 270*time.Millisecond {
				t.Fatalf("catch-up tick %d at %v", tick, time.Since(start))
			}
		}
		tick, _ := p.Wait(ctx)
		if tick != 14 || time.Since(start) != 280*time.Millisecond {
			t.Fatalf("tick %d at %v", tick, time.Since(start))
		}
		time.Sleep(time.Second) // now start+1280ms; tick 15 was due at 300ms
		tick, _ = p.Wait(ctx)
		if tick != 64 || p.Skipped() != 49 || time.Since(start) != 1280*time.Millisecond {
			t.Fatalf("after stall: tick %d skipped %d at %v", tick, p.Skipped(), time.Since(start))
		}
		tick, _ = p.Wait(ctx)
		if tick != 65 || time.Since(start) != 1300*time.Millisecond {
			t.Fatalf("tick %d at %v", tick, time.Since(start))
		}
	})
}

func TestPacerContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		p := NewPacer(start, time.Second, 0)
		if tick, _ := p.Wait(context.Background()); tick != 0 {
			t.Fatal("tick 0 not at start")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		if _, err := p.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 300*time.Millisecond {
			t.Fatalf("Wait = %v at %v, want DeadlineExceeded at 300ms", err, time.Since(start))
		}
		if _, err := p.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait on a done ctx = %v", err)
		}
		if tick, _ := p.Wait(context.Background()); tick != 1 || time.Since(start) != time.Second {
			t.Fatalf("tick %d at %v, want 1 at 1s (a cancelled Wait consumes no tick)", tick, time.Since(start))
		}
		time.Sleep(10 * time.Second) // maxBehind 0: never skips
		for n := uint64(2); n <= 11; n++ {
			if tick, _ := p.Wait(context.Background()); tick != n {
				t.Fatalf("tick %d, want %d", tick, n)
			}
		}
		if p.Skipped() != 0 {
			t.Fatalf("Skipped = %d", p.Skipped())
		}
	})
}

func TestPacerWaitAllocs(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := NewPacer(time.Now(), 50*time.Microsecond, time.Second)
	p.Wait(ctx)
	if allocs := testing.AllocsPerRun(100, func() { p.Wait(ctx) }); allocs != 0 {
		t.Fatalf("Wait: %v allocs per tick", allocs)
	}
}

// A precise Pacer returns its ticks in order and never before they are
// due, and a cancelled context ends Wait by the next tick.
func TestPrecisePacerNeverEarly(t *testing.T) {
	start := time.Now()
	p := NewPacer(start, 5*time.Millisecond, 0)
	p.SetPrecise()
	ctx, cancel := context.WithCancel(context.Background())
	for n := range uint64(20) {
		tick, err := p.Wait(ctx)
		if err != nil || tick != n {
			t.Fatalf("Wait = %d, %v; want %d", tick, err, n)
		}
		if early := start.Add(time.Duration(n) * 5 * time.Millisecond).Sub(time.Now()); early > 0 {
			t.Fatalf("tick %d returned %v early", n, early)
		}
	}
	cancel()
	if _, err := p.Wait(ctx); err == nil {
		t.Fatal("Wait after cancel returned no error")
	}
}
