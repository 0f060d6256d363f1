//go:build tools

// Package callstream pins the module's dependencies before every package uses them.
package callstream

import (
	_ "github.com/dop251/goja"
	_ "github.com/emiago/sipgo"
	_ "github.com/gorilla/websocket"
	_ "github.com/pion/rtp"
	_ "github.com/pion/sdp/v3"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
)
