package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/servetest"
)

// goodDoc is valid; badDoc has three errors and one warning at known
// places.
const (
	goodDoc = `<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Pause length="1"/>
  <Hangup/>
</Response>
`
	badDoc = `<Response>
  <Pause length="x"/>
  <Hangup/>
  <Pause lenght="2"/>
  <Foo/>
</Response>
`
)

// badDocWant is what validate prints for badDoc named name.
func badDocWant(name string) []string {
	return []string{
		name + `:2:3: error: <Pause>: invalid length "x": want a number of seconds, 0 or more, such as 2 or 1.5`,
		name + `:4:3: error: <Pause>: unknown attribute "lenght"; allowed: length`,
		name + `:4:3: warning: <Pause>: unreachable: follows <Hangup> at 3:3`,
		name + `:5:3: error: <Foo>: unknown verb <Foo>`,
		`3 errors, 1 warning`,
	}
}

// runCmd runs the command line args through run and returns its exit
// code, stdout and stderr.
func runCmd(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(ctx, args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeFile(t *testing.T, dir, name, data string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func lines(s string) []string { return strings.Split(strings.TrimRight(s, "\n"), "\n") }

func sameLines(t *testing.T, what string, got string, want []string) {
	t.Helper()
	if g := lines(got); strings.Join(g, "\n") != strings.Join(want, "\n") {
		t.Errorf("%s:\n%s\nwant:\n%s", what, got, strings.Join(want, "\n"))
	}
}

func TestValidateGoodFile(t *testing.T) {
	p := writeFile(t, t.TempDir(), "good.xml", goodDoc)
	code, out, errOut := runCmd(t, t.Context(), "validate", p)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	sameLines(t, "stdout", out, []string{"0 errors, 0 warnings"})
}

// Every error and warning of every document is printed with its line and
// column, in document order; one bad document makes the exit code 1.
func TestValidateErrorsInSeveralFiles(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.xml", goodDoc)
	bad := writeFile(t, dir, "bad.xml", badDoc)
	broken := writeFile(t, dir, "broken.xml", "<Response>\n  <Start>\n</Response>\n")
	code, out, errOut := runCmd(t, t.Context(), "validate", good, bad, broken)
	if code != 1 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	want := badDocWant(bad)
	want = append(want[:len(want)-1],
		broken+`:3:1: error: XML syntax error: element <Start> at 2:3 closed by </Response>`,
		`4 errors, 1 warning`)
	sameLines(t, "stdout", out, want)

	// -q leaves out the summary.
	code, out, _ = runCmd(t, t.Context(), "validate", "-q", good)
	if code != 0 || out != "" {
		t.Errorf("-q: exit %d, stdout %q", code, out)
	}
}

// A URL is fetched (GET, then POST with --method) and named without its
// query string; an HTTP error status is an I/O failure (exit 2).
func TestValidateURL(t *testing.T) {
	var lastMethod atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lastMethod.Store(r.Method)
		switch r.URL.Path {
		case "/bad.xml":
			w.Header().Set("Content-Type", "application/xml")
			fmt.Fprint(w, badDoc)
		case "/big.xml":
			fmt.Fprint(w, "<Response>"+strings.Repeat(" ", maxDocumentBytes)+"</Response>")
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	code, out, errOut := runCmd(t, t.Context(), "validate", srv.URL+"/bad.xml?token=secret")
	if code != 1 || errOut != "" {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	sameLines(t, "stdout", out, badDocWant(srv.URL+"/bad.xml"))
	if strings.Contains(out, "secret") {
		t.Error("the query string is printed")
	}

	code, _, _ = runCmd(t, t.Context(), "validate", "--method", "post", srv.URL+"/bad.xml")
	if code != 1 || lastMethod.Load() != http.MethodPost {
		t.Errorf("POST: exit %d, method %v", code, lastMethod.Load())
	}

	code, out, errOut = runCmd(t, t.Context(), "validate", srv.URL+"/missing.xml")
	if code != 2 || !strings.Contains(errOut, srv.URL+"/missing.xml: HTTP 404 Not Found") {
		t.Errorf("404: exit %d, stderr %q", code, errOut)
	}
	sameLines(t, "stdout after 404", out, []string{"0 errors, 0 warnings"})

	code, _, errOut = runCmd(t, t.Context(), "validate", srv.URL+"/big.xml")
	if code != 2 || !strings.Contains(errOut, "response too large") {
		t.Errorf("too large: exit %d, stderr %q", code, errOut)
	}
}

// A URL nothing answers at is a clear error and exit 2, within the
// timeout; so is a missing file and bad usage.
func TestValidateUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now: the connection is refused

	code, _, errOut := runCmd(t, t.Context(), "validate", "http://"+addr+"/app.xml?token=secret")
	if code != 2 || !strings.Contains(errOut, "http://"+addr+"/app.xml: ") ||
		!strings.Contains(errOut, "connection refused") || strings.Contains(errOut, "secret") {
		t.Errorf("refused: exit %d, stderr %q", code, errOut)
	}

	// A server that accepts and never answers: the timeout ends it.
	hang, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hang.Close()
	start := time.Now()
	code, _, errOut = runCmd(t, t.Context(), "validate", "--timeout", "300ms", "http://"+hang.Addr().String()+"/")
	if code != 2 || !strings.Contains(errOut, "no answer within 300ms") {
		t.Errorf("silent server: exit %d, stderr %q", code, errOut)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %s with a 300ms timeout", d)
	}

	code, _, errOut = runCmd(t, t.Context(), "validate", filepath.Join(t.TempDir(), "none.xml"))
	if code != 2 || !strings.Contains(errOut, "no such file") {
		t.Errorf("missing file: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runCmd(t, t.Context(), "validate")
	if code != 2 || !strings.Contains(errOut, "no document given") || !strings.Contains(errOut, "Exit status:") {
		t.Errorf("no argument: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runCmd(t, t.Context(), "validate", "-h")
	if code != 0 || !strings.Contains(errOut, "2  bad usage, or a document could not be read or fetched") {
		t.Errorf("-h: exit %d, help %q", code, errOut)
	}
}

// "-" reads the document from standard input (through the built command,
// as a user pipes it).
func TestValidateStdin(t *testing.T) {
	bin := servetest.Binary(t)
	cmd := exec.CommandContext(t.Context(), bin, "validate", "-")
	cmd.Stdin = strings.NewReader(badDoc)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("exit %d (%v), stderr %q", code, err, errOut.String())
	}
	sameLines(t, "stdout", out.String(), badDocWant("stdin"))
}
