package fleet

import (
	"os"
	"testing"

	"github.com/callstream/callstream/internal/servetest"
)

func TestMain(m *testing.M) { os.Exit(servetest.Main(m)) }
