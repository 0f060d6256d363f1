package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/callstream/callstream/flexml"
	"github.com/callstream/callstream/internal/fetch"
	"github.com/callstream/callstream/internal/logsafe"
)

// maxDocumentBytes bounds a document validate reads: the bound the gateway
// puts on a document it fetches for a call.
const maxDocumentBytes = 1 << 20

// Exit codes of validate (and call).
const (
	exitOK      = 0 // valid / answered
	exitFailed  = 1 // errors found / refused or failed
	exitUsageIO = 2 // bad usage, or a document that could not be read
)

const validateUsage = `Usage: callstream validate [flags] FILE|URL|- ...

Parses and validates FlexML documents as the gateway does before a call runs
and prints every problem, in document order, as

  FILE:LINE:COL: error: message
  FILE:LINE:COL: warning: message

then a summary line such as "2 errors, 1 warning". A URL (http or https) is
fetched with GET (or --method) and named without its query string; "-"
reads standard input. Errors stop a document from running; warnings do not.

Exit status:
  0  no document has errors (warnings are allowed)
  1  at least one document has errors
  2  bad usage, or a document could not be read or fetched

Flags:
`

// validateOptions are validate's flags.
type validateOptions struct {
	timeout time.Duration
	method  string
	quiet   bool
}

// runValidate runs `callstream validate` and returns its exit code.
func runValidate(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), validateUsage)
		fs.PrintDefaults()
	}
	var o validateOptions
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "bound on fetching one URL, body included")
	fs.StringVar(&o.method, "method", http.MethodGet, "HTTP method for URLs: GET or POST (an empty body)")
	fs.BoolVar(&o.quiet, "q", false, "print only errors and warnings, no summary")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsageIO
	}
	o.method = strings.ToUpper(o.method)
	if o.method != http.MethodGet && o.method != http.MethodPost {
		fmt.Fprintf(stderr, "callstream validate: --method %q: want GET or POST\n", o.method)
		return exitUsageIO
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "callstream validate: no document given")
		fs.Usage()
		return exitUsageIO
	}
	var nErrs, nWarns int
	unreadable := false
	stdinUsed := false
	for _, arg := range fs.Args() {
		if arg == "-" {
			if stdinUsed {
				fmt.Fprintln(stderr, `callstream validate: "-" given twice`)
				unreadable = true
				continue
			}
			stdinUsed = true
		}
		name, data, err := readDocument(ctx, arg, stdin, o)
		if err != nil {
			fmt.Fprintf(stderr, "callstream validate: %v\n", err)
			unreadable = true
			continue
		}
		errs, warns := flexml.Check(name, data)
		nErrs += len(errs)
		nWarns += len(warns)
		printDiagnostics(stdout, errs, warns)
	}
	if !o.quiet {
		fmt.Fprintf(stdout, "%s, %s\n", plural(nErrs, "error"), plural(nWarns, "warning"))
	}
	switch {
	case unreadable:
		return exitUsageIO
	case nErrs > 0:
		return exitFailed
	}
	return exitOK
}

// printDiagnostics prints errs and warns merged in document order, each as
// "file:line:col: error|warning: message".
func printDiagnostics(w io.Writer, errs, warns []*flexml.Error) {
	for len(errs) > 0 || len(warns) > 0 {
		if len(warns) == 0 || (len(errs) > 0 && !before(warns[0], errs[0])) {
			printDiagnostic(w, "error", errs[0])
			errs = errs[1:]
		} else {
			printDiagnostic(w, "warning", warns[0])
			warns = warns[1:]
		}
	}
}

// before reports whether a comes strictly before b in the document.
func before(a, b *flexml.Error) bool {
	return a.Line < b.Line || (a.Line == b.Line && a.Col < b.Col)
}

func printDiagnostic(w io.Writer, severity string, e *flexml.Error) {
	msg := e.Msg
	if e.Element != "" {
		msg = "<" + e.Element + ">: " + msg
	}
	fmt.Fprintf(w, "%s:%d:%d: %s: %s\n", e.File, e.Line, e.Col, severity, msg)
}

// plural returns "1 error", "2 errors".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// readDocument returns the name a document's messages carry and its bytes:
// a file, an http(s) URL or "-" for stdin, each bounded by
// maxDocumentBytes.
func readDocument(ctx context.Context, arg string, stdin io.Reader, o validateOptions) (string, []byte, error) {
	switch {
	case arg == "-":
		b, err := fetch.ReadAll(stdin, maxDocumentBytes)
		if err != nil {
			return "", nil, fmt.Errorf("stdin: %w", err)
		}
		return "stdin", b, nil
	case hasSchemeFold(arg, "http://") || hasSchemeFold(arg, "https://"):
		name := logsafe.URL(arg)
		b, err := fetchDocument(ctx, arg, o)
		if err != nil {
			return "", nil, fmt.Errorf("%s: %w", name, err)
		}
		return name, b, nil
	}
	f, err := os.Open(arg)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	b, err := fetch.ReadAll(f, maxDocumentBytes)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", arg, err)
	}
	return arg, b, nil
}

// fetchDocument fetches rawURL with the gateway's HTTP client. The URL is
// the user's own, so its origin is trusted (loopback and private addresses
// are fine); redirects elsewhere go through the default URL policy.
func fetchDocument(ctx context.Context, rawURL string, o validateOptions) ([]byte, error) {
	client := fetch.New(fetch.Config{Trusted: rawURL, Timeout: o.timeout, DialTimeout: o.timeout})
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, o.method, rawURL, http.NoBody)
	if err != nil {
		return nil, errors.New("not a valid URL")
	}
	req.Header.Set("Accept", "application/xml, text/xml")
	req.Header.Set("User-Agent", "callstream-validate")
	resp, err := client.Do(req, slog.New(slog.DiscardHandler))
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("no answer within %s", o.timeout)
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("HTTP %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	b, err := fetch.ReadAll(resp.Body, maxDocumentBytes)
	if err != nil {
		return nil, fmt.Errorf("reading the body: %w", err)
	}
	return b, nil
}

// hasSchemeFold is strings.HasPrefix ignoring ASCII case (URL schemes are
// case-insensitive).
func hasSchemeFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
