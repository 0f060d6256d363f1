//go:build !opus

package servetest

// buildTags are the tags the command under test is built with: those of
// the test binary that codecs depend on.
const buildTags = ""
