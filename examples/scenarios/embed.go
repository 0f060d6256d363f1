// Package scenarios holds the example call scenarios (the .js files beside
// this one), embedded so that the program can run them without the files.
package scenarios

import "embed"

// Files holds every example scenario, by file name (e.g. "echo-bot.js").
//
//go:embed *.js
var Files embed.FS

// Source returns the text of the example scenario called name.
func Source(name string) (string, error) {
	b, err := Files.ReadFile(name)
	return string(b), err
}
