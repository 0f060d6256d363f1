//go:build !unix

package tts

import "os/exec"

// killGroup leaves cmd as it is: cancellation kills the process alone.
func killGroup(*exec.Cmd) {}
