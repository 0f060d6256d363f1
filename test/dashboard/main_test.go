// Package dashboard tests the live dashboard in a real headless Chromium:
// on a real `callstream serve` with SIP calls streaming to a real
// WebSocket app, and, for escaping, on the dashboard's handler with
// hostile data.
package dashboard

import (
	"os"
	"testing"

	"github.com/callstream/callstream/internal/servetest"
)

func TestMain(m *testing.M) { os.Exit(servetest.Main(m)) }
