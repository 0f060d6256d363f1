//go:build !linux

package rtpio

import "time"

// sleepUntil is the precise sleep of Linux; elsewhere the Pacer waits with
// a timer.
func sleepUntil(time.Time) bool { return false }
