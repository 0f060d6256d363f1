// Package servetest runs `callstream serve` as a real operating-system
// process for integration tests: it builds the command once per test
// binary, starts it on free loopback ports (optionally under a lower
// open-file limit), collects its JSON logs, reads its /metrics and its
// /proc figures, and stops it in the test's cleanup.
package servetest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/logtest"
)

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

// Main runs the tests of a package that uses this one and removes the
// binary it built: call it from TestMain as os.Exit(servetest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
	return code
}

// Binary returns the path of the callstream command, built once per test
// binary.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "callstream-servetest-")
		if buildErr != nil {
			return
		}
		buildBin = filepath.Join(buildDir, "callstream")
		args := []string{"build", "-o", buildBin}
		if buildTags != "" {
			args = append(args, "-tags", buildTags)
		}
		out, err := exec.Command("go", append(args, "github.com/callstream/callstream/cmd/callstream")...).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// Options configure one gateway process.
type Options struct {
	// Args are the serve flags besides --sip, --http, --rtp-ports,
	// --log-format and --jitter-buffer (300ms), which Start sets (an Args
	// entry for one of them wins).
	Args []string
	// Env is added to the process's environment.
	Env []string
	// NoFile, when set, is the process's open-file limit (soft and hard).
	NoFile int
	// RTPPorts is the size of the RTP port range (default 200).
	RTPPorts int
	// Ready is the path polled until it answers 200 (default /healthz on
	// the metrics listener when Args has --metrics-addr, else on the HTTP
	// listener; a full URL polls that instead).
	Ready string
}

// Proc is one running `callstream serve`.
type Proc struct {
	t        testing.TB
	cmd      *exec.Cmd
	Logs     *logtest.Buffer
	sip      string
	http     string
	metrics  string // --metrics-addr, "" when health and metrics are on http
	rtpLo    int
	rtpHi    int
	exited   chan struct{}
	exitErr  error
	stopping atomic.Bool
}

// rtpBlock hands each process its own RTP range.
var rtpBlock atomic.Int32

// Start starts `callstream serve` and waits until it is healthy; t's
// cleanup stops it (SIGTERM, then a second SIGTERM, then SIGKILL) and
// prints its logs when t failed.
func Start(t testing.TB, opts Options) *Proc {
	t.Helper()
	bin := Binary(t)
	size := opts.RTPPorts
	if size <= 0 {
		size = 200
	}
	// 40000-59999, in blocks of 250 ports.
	lo := 40000 + int(rtpBlock.Add(1)%80)*250
	p := &Proc{t: t, Logs: &logtest.Buffer{}, sip: FreeSIPAddr(t), http: FreeTCPAddr(t), rtpLo: lo, rtpHi: lo + size - 1, exited: make(chan struct{})}
	args := []string{"serve", "--sip", p.sip, "--http", p.http, "--rtp-ports", fmt.Sprintf("%d-%d", p.rtpLo, p.rtpHi), "--log-format", "json",
		// Tests compare callers' audio byte for byte: a fixed jitter
		// buffer long enough that a busy machine's stalls conceal
		// nothing (an Args entry wins: the last value of a flag counts).
		"--jitter-buffer", "300ms"}
	args = append(args, opts.Args...)
	for i := 0; i+1 < len(opts.Args); i++ {
		switch opts.Args[i] {
		case "--sip":
			p.sip = opts.Args[i+1]
		case "--http":
			p.http = opts.Args[i+1]
		case "--metrics-addr":
			p.metrics = opts.Args[i+1]
		}
	}
	var cmd *exec.Cmd
	if opts.NoFile > 0 {
		// The shell sets the limit, then becomes the gateway.
		sh := fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, opts.NoFile)
		cmd = exec.Command("/bin/sh", append([]string{"-c", sh, bin}, args...)...)
	} else {
		cmd = exec.Command(bin, args...)
	}
	cmd.Env = append(os.Environ(), opts.Env...)
	cmd.Stderr = p.Logs
	cmd.Stdout = p.Logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.cmd = cmd
	go func() {
		p.exitErr = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(p.stop)
	ready := opts.Ready
	switch {
	case ready == "":
		ready = p.MetricsURL("/healthz")
	case strings.HasPrefix(ready, "/"):
		ready = p.URL(ready)
	}
	p.waitHealthy(ready)
	return p
}

func (p *Proc) waitHealthy(url string) {
	p.t.Helper()
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := hc.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-p.exited:
			p.t.Fatalf("callstream serve exited before it was healthy: %v\n%s", p.exitErr, p.Logs.String())
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s not 200 within 15 s: %v\n%s", url, err, p.Logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends the process for the cleanup.
func (p *Proc) stop() {
	if p.stopping.Swap(true) {
		return
	}
	select {
	case <-p.exited:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(3 * time.Second):
			_ = p.cmd.Process.Signal(syscall.SIGTERM) // the second one cuts at once
			select {
			case <-p.exited:
			case <-time.After(5 * time.Second):
				_ = p.cmd.Process.Kill()
				<-p.exited
			}
		}
	}
	if p.t.Failed() {
		p.t.Logf("callstream serve logs:\n%s", tail(p.Logs.String(), 12000))
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// PID returns the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// SIPAddr returns the SIP listen address (UDP and TCP).
func (p *Proc) SIPAddr() string { return p.sip }

// HTTPAddr returns the HTTP listen address.
func (p *Proc) HTTPAddr() string { return p.http }

// URL returns the HTTP listener's URL for path.
func (p *Proc) URL(path string) string { return "http://" + p.http + path }

// MetricsURL returns the URL of path on the listener serving health and
// metrics: --metrics-addr when the process has one, else the HTTP one.
func (p *Proc) MetricsURL(path string) string {
	if p.metrics != "" {
		return "http://" + p.metrics + path
	}
	return p.URL(path)
}

// RTPRange returns the process's RTP port range.
func (p *Proc) RTPRange() (lo, hi int) { return p.rtpLo, p.rtpHi }

// Signal sends sig to the process.
func (p *Proc) Signal(sig os.Signal) error { return p.cmd.Process.Signal(sig) }

// Exited is closed when the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// ExitCode returns the exit code once the process has exited (-1 before,
// or when a signal ended it).
func (p *Proc) ExitCode() int {
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	default:
		return -1
	}
}

// Alive reports whether the process is still running.
func (p *Proc) Alive() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// FDs returns the process's open file descriptors.
func (p *Proc) FDs() int {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", p.PID()))
	if err != nil {
		return -1
	}
	return len(ents)
}

// RSS returns the process's resident set size in bytes (-1 if unknown).
func (p *Proc) RSS() int64 {
	return procStatus(p.PID(), "VmRSS:")
}

// HWM returns the process's peak resident set size in bytes.
func (p *Proc) HWM() int64 {
	return procStatus(p.PID(), "VmHWM:")
}

func procStatus(pid int, field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return -1
			}
			return kb << 10
		}
	}
	return -1
}

// FreeTCPAddr returns a loopback TCP address free now.
func FreeTCPAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// FreeSIPAddr returns a loopback port free for both UDP and TCP now.
func FreeSIPAddr(t testing.TB) string {
	t.Helper()
	for range 32 {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := u.LocalAddr().String()
		l, err := net.Listen("tcp", addr)
		u.Close()
		if err == nil {
			l.Close()
			return addr
		}
	}
	t.Fatal("no port free for both UDP and TCP")
	return ""
}

// Eventually polls cond every 20 ms until it holds or d passes; then it
// fails t, saying what did not happen. It is for conditions in another
// process, which no event in this one signals.
func Eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("within %s: %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Context returns a context bounded by d, cancelled in t's cleanup.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
