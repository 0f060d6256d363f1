package scenario

import (
	"testing"
	"time"
)

// The limits the reference notes give, as the defaults a session runs with.
func TestDefaultLimits(t *testing.T) {
	want := Limits{
		CallbackTime:    time.Second,
		Timers:          100,
		MinInterval:     100 * time.Millisecond,
		NoCallTimeout:   60 * time.Second,
		AnswerTimeout:   60 * time.Second,
		MediaBuffer:     10 * time.Second,
		MediaEndSilence: time.Second,
		ExtraSockets:    3,
		ShutdownWait:    5 * time.Second,
		FetchSize:       10 << 20,
		TTSChars:        1500,
	}
	if got := DefaultLimits(); got != want {
		t.Fatalf("DefaultLimits() = %+v, want %+v", got, want)
	}
	if got := (Limits{}).withDefaults(); got != want {
		t.Fatalf("zero Limits = %+v, want the defaults", got)
	}
	if got := (Limits{Timers: 5}).withDefaults(); got.Timers != 5 || got.CallbackTime != time.Second {
		t.Fatalf("a set limit is kept, the others defaulted: %+v", got)
	}
}
