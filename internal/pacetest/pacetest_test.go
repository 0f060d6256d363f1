package pacetest

import (
	"testing"
	"time"
)

func grid(n int, jitter func(i int) time.Duration) []time.Time {
	t0 := time.Unix(100, 0)
	out := make([]time.Time, n)
	for i := range out {
		out[i] = t0.Add(time.Duration(i)*20*time.Millisecond + jitter(i))
	}
	return out
}

func TestCheck(t *testing.T) {
	even := grid(100, func(int) time.Duration { return 0 })
	if err := Check(even, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	// A receiver scheduled 12 ms late twice: still paced.
	hiccup := grid(100, func(i int) time.Duration {
		if i == 30 || i == 70 {
			return 12 * time.Millisecond
		}
		return 0
	})
	if err := Check(hiccup, 20*time.Millisecond); err != nil {
		t.Fatalf("scheduling hiccups failed the check: %v", err)
	}
	// Bursts: frames sent two at a time every 40 ms.
	burst := grid(100, func(i int) time.Duration { return -time.Duration(i%2) * 20 * time.Millisecond })
	if Check(burst, 20*time.Millisecond) == nil {
		t.Fatal("bursts passed")
	}
	// A clock running 10 % slow.
	slow := grid(100, func(i int) time.Duration { return time.Duration(i) * 2 * time.Millisecond })
	if Check(slow, 20*time.Millisecond) == nil {
		t.Fatal("a slow clock passed")
	}
	// A stall of 200 ms in the middle, then catching up.
	stall := grid(100, func(i int) time.Duration {
		if i >= 50 && i < 60 {
			return time.Duration(60-i) * 20 * time.Millisecond
		}
		return 0
	})
	if Check(stall, 20*time.Millisecond) == nil {
		t.Fatal("a 200 ms stall passed")
	}
}
