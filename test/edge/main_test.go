package edge

import (
	"os"
	"testing"

	"github.com/callstream/callstream/internal/servetest"
)

func TestMain(m *testing.M) {
	if attackerMain() { // the binary runs as another test's attacker
		os.Exit(0)
	}
	os.Exit(servetest.Main(m))
}
