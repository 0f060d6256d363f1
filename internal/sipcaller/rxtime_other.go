//go:build !linux

package sipcaller

import (
	"net"
	"time"
)

// oobSize is zero: without kernel timestamps an arrival is the read's time.
var oobSize = 0

func stampArrivals(*net.UDPConn) {}

func arrivalOf(_ []byte, now time.Time) time.Time { return now }
