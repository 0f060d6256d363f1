// Package api tests the REST API for live calls on a real `callstream
// serve`, with a real SIP caller, FlexML app server and WebSocket app.
package api

import (
	"os"
	"testing"

	"github.com/callstream/callstream/internal/servetest"
)

func TestMain(m *testing.M) { os.Exit(servetest.Main(m)) }
