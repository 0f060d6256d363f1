// Command callstream is a programmable-voice media gateway: it answers SIP
// calls, runs FlexML from the app's URL and streams call audio to WebSocket
// servers.
//
//	callstream serve --app URL|FILE   run the gateway
//	callstream demo                   one call end to end on this machine
//	callstream bench                  load generator and benchmarks
//	callstream validate FILE|URL       check FlexML documents
//	callstream call SIP_URI           place a test call
//	callstream scenario check FILE.js list the VoxEngine members a scenario uses that callstream lacks
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/callstream/callstream/internal/logsafe"
)

const usage = `callstream — programmable-voice media gateway

Usage:
  callstream serve [flags]   run the gateway (see 'callstream serve -h')
  callstream demo [flags]    place one call through a gateway on this machine and check the audio
  callstream bench [flags]   load-test a gateway and measure latency, loss, pacing and CPU (see 'callstream bench -h')
  callstream validate [flags] FILE|URL|- ...
                             check FlexML documents: every error and warning with file:line:col
                             (exit 0 valid, 1 errors, 2 usage or unreadable; see 'callstream validate -h')
  callstream call [flags] SIP_URI
                             place a test call: speak a WAV, send digits, record what is heard
                             (exit 0 answered, 1 refused or failed, 2 usage; see 'callstream call -h')
  callstream scenario check FILE.js
                             load a JavaScript scenario without a call and list every VoxEngine
                             member it uses that callstream lacks, with file:line:col
                             (exit 0 all implemented, 1 missing or errors, 2 usage; see 'callstream scenario -h')
  callstream version         print the version
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, release := notifyStages()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	release()
	os.Exit(code)
}

// run runs the command in args. ctx ends at the first SIGTERM or SIGINT
// (serve drains, other commands stop) and carries, for serve, the context
// of the second one (see notifyStages).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], stderr)
	case "demo":
		err = runDemo(ctx, args[1:], stdout, stderr)
	case "bench":
		err = runBench(ctx, args[1:], stdout, stderr)
	case "validate":
		return runValidate(ctx, args[1:], os.Stdin, stdout, stderr)
	case "call":
		return runCall(ctx, args[1:], stdout, stderr)
	case "scenario":
		return runScenario(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "callstream", version)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "callstream: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "callstream:", err)
		return 1
	}
	return 0
}

// envFlags fills every flag not given on the command line from the
// environment variable CALLSTREAM_<NAME> (upper case, '-' as '_').
func envFlags(fs *flag.FlagSet) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		name := "CALLSTREAM_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
	})
	return errors.Join(errs...)
}

// newLogger makes the process logger from --log-level and --log-format.
// Records above DEBUG go through logsafe: no secrets, no query strings,
// no value over 200 bytes.
func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler
	switch format {
	case "text":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", format)
	}
	return slog.New(logsafe.NewHandler(h)), nil
}
