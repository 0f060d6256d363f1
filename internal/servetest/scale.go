package servetest

import (
	"os"
	"testing"
)

// FullScale reports whether attack tests run at the magnitudes of the
// original findings (CALLSTREAM_ATTACK=full), as for the figures of
// SECURITY.md, rather than the smaller ones that prove the same bound
// within the test suite's time.
func FullScale() bool { return os.Getenv("CALLSTREAM_ATTACK") == "full" }

// Scale returns quick, or full under CALLSTREAM_ATTACK=full.
func Scale[T any](quick, full T) T {
	if FullScale() {
		return full
	}
	return quick
}

// Figure logs one measured figure of an attack test as "figure: name =
// value unit", so a run at full scale can be collected for SECURITY.md.
func Figure(t testing.TB, name string, value any, unit string) {
	t.Helper()
	t.Logf("figure: %s = %v %s", name, value, unit)
}
