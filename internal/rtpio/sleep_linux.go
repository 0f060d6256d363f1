//go:build linux

package rtpio

import (
	"time"

	"golang.org/x/sys/unix"
)

// sleepUntil blocks the calling thread in the kernel until due on the
// monotonic clock (clock_nanosleep with an absolute deadline), which wakes
// within tens of microseconds; the runtime's timers wake up to a
// millisecond late. It reports false when the clock cannot be read, and
// the caller then waits with a timer.
func sleepUntil(due time.Time) bool {
	var now unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &now) != nil {
		return false
	}
	target := unix.NsecToTimespec(now.Nano() + int64(time.Until(due)))
	for {
		err := unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &target, nil)
		if err != unix.EINTR {
			return err == nil
		}
	}
}
