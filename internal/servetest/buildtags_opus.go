//go:build opus

package servetest

// buildTags are the tags the command under test is built with: a test
// binary built with Opus tests a command that speaks it.
const buildTags = "opus,nolibopusfile"
