package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/callstream/callstream/internal/scenario"
)

// maxScenarioBytes bounds a scenario file scenario check reads.
const maxScenarioBytes = 4 << 20

const scenarioUsage = `Usage: callstream scenario check [--scenario-data STRING] FILE.js

Loads a JavaScript scenario without a call, as the gateway would before a
call runs it: parses it, runs its top level in a sandbox with no network,
and scans every member it uses on the VoxEngine API's globals
(VoxEngine.x, CallEvents.x, ...) and every method it calls (call.x(...))
against what callstream implements. Each missing member is printed as

  FILE:LINE:COL: VoxEngine.createFoo is not implemented by callstream

then "N missing". A scenario that uses only implemented members prints
"ok: N members used, all implemented".

--scenario-data is what VoxEngine.customData() returns, as with serve.

Exit status:
  0  every member used is implemented and the top level ran
  1  missing members, a syntax error or an error at load
  2  bad usage, or the file could not be read
`

// runScenario runs `callstream scenario SUBCOMMAND` and returns its exit code.
func runScenario(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "check" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(stdout, scenarioUsage)
			return exitOK
		}
		fmt.Fprint(stderr, scenarioUsage)
		return exitUsageIO
	}
	fs := flag.NewFlagSet("scenario check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, scenarioUsage) }
	data := fs.String("scenario-data", "", "what VoxEngine.customData() returns")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsageIO
	}
	if fs.NArg() != 1 {
		fmt.Fprint(stderr, scenarioUsage)
		return exitUsageIO
	}
	name := fs.Arg(0)
	src, err := readScenario(name)
	if err != nil {
		fmt.Fprintln(stderr, "callstream scenario check:", err)
		return exitUsageIO
	}
	r, err := scenario.Check(name, src, *data)
	if errors.Is(err, scenario.ErrScript) {
		fmt.Fprintln(stdout, strings.TrimPrefix(err.Error(), scenario.ErrScript.Error()+": "))
		return exitFailed
	}
	if err != nil {
		fmt.Fprintln(stderr, "callstream scenario check:", err)
		return exitUsageIO
	}
	for _, e := range r.LoadErrors {
		fmt.Fprintln(stdout, e)
	}
	for _, f := range r.Missing {
		fmt.Fprintln(stdout, f)
	}
	if !r.OK() {
		if len(r.Missing) > 0 {
			fmt.Fprintf(stdout, "%d missing\n", len(r.Missing))
		}
		return exitFailed
	}
	fmt.Fprintf(stdout, "ok: %d members used, all implemented\n", r.Used)
	return exitOK
}

// readScenario reads a scenario file of at most maxScenarioBytes.
func readScenario(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxScenarioBytes+1))
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	if len(b) > maxScenarioBytes {
		return "", fmt.Errorf("%s: larger than %d bytes", name, maxScenarioBytes)
	}
	return string(b), nil
}
