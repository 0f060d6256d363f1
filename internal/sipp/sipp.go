// Package sipp runs SIPp, a third-party SIP test tool, as a peer of the
// gateway in tests: it fills one of the scenarios kept here, runs sipp and
// reports how the call went.
package sipp

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"text/template"
	"time"
)

//go:embed scenarios/*.xml
var scenarios embed.FS

// Require returns the path of sipp. When it is missing the test fails under
// CI=true (the test command installs it) and is skipped elsewhere.
func Require(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("sipp")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("sipp is not installed (apt-get install sip-tester): %v", err)
		}
		t.Skip("sipp is not installed (apt-get install sip-tester)")
	}
	return p
}

// Params fill a scenario template.
type Params struct {
	PT           int    // payload type: 0 (PCMU) or 8 (PCMA)
	Codec        string // PCMU or PCMA
	File         string // headerless audio file for rtp_stream; empty: send no audio
	Pcap         string // uac_stream: a pcap file whose RTP packets play half a second after the answer (see DTMFPcap)
	PauseMs      int    // pause after starting the stream (uas_echo, uas_bye: before the 200 OK)
	HoldMs       int    // uas_bye: how long after the ACK the callee sends BYE
	WaitBye      bool   // wait for the gateway's BYE instead of sending one
	Code         int    // expected final response (uac_reject)
	ExtraHeaders string // extra INVITE header lines, each ending in "\n"
	ExpectHeader string // uas_echo: the INVITE must carry this header ...
	ExpectValue  string // ... with a value matching this regular expression
}

// DTMFPcap returns the path of a pcap file Debian's sip-tester package
// ships beside sipp: the RFC 4733 events of the digit 1 on payload type
// 101 (ten packets, the end packet three times). When it is missing the
// test fails under CI=true and is skipped elsewhere, as Require does.
func DTMFPcap(t testing.TB) string {
	t.Helper()
	const pcap = "dtmf_2833_1.pcap"
	for _, dir := range []string{"/usr/share/sip-tester", "/usr/local/share/sipp", "/usr/share/sipp"} {
		p := filepath.Join(dir, pcap)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not found (apt-get install sip-tester)", pcap)
	}
	t.Skipf("%s not found (apt-get install sip-tester)", pcap)
	return ""
}

// Options describe one sipp run.
type Options struct {
	Scenario string // file name under scenarios/, e.g. "uac_stream.xml"
	Params   Params
	Target   string // gateway host:port
	Service  string // request-URI user part (default 15559990000)
	Dir      string // working folder (the scenario and audio files live here)
	Timeout  time.Duration
	Extra    []string // more sipp arguments (e.g. "-rtp_echo")
}

// Result is how the run went.
type Result struct {
	ExitCode  int
	Output    string
	MediaPort int
	SIPPort   int
}

// FreeUDPPort returns a UDP port that was free a moment ago on 127.0.0.1.
func FreeUDPPort() (int, error) {
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port, nil
}

// Run fills the scenario and runs sipp for one call. It returns an error
// when sipp could not run or reported a failed call.
func Run(ctx context.Context, opts Options) (*Result, error) {
	p, err := Start(ctx, opts)
	if err != nil {
		return nil, err
	}
	return p.Wait()
}

// Process is a sipp run in the background, e.g. a UAS waiting for the
// gateway's call.
type Process struct {
	cmd     *exec.Cmd
	out     bytes.Buffer
	dir     string
	ownDir  bool
	cancel  context.CancelFunc
	res     *Result
	waited  chan struct{}
	waitErr error
}

// Start fills the scenario and starts sipp for one call. With an empty
// Target sipp is a UAS: it waits for one call on Addr.
func Start(ctx context.Context, opts Options) (*Process, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Service == "" {
		opts.Service = "15559990000"
	}
	if opts.Params.Codec == "" {
		opts.Params.Codec = "PCMU"
	}
	raw, err := scenarios.ReadFile("scenarios/" + opts.Scenario)
	if err != nil {
		return nil, fmt.Errorf("sipp scenario %s: %w", opts.Scenario, err)
	}
	tmpl, err := template.New(opts.Scenario).Parse(string(raw))
	if err != nil {
		return nil, fmt.Errorf("sipp scenario %s: %w", opts.Scenario, err)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, opts.Params); err != nil {
		return nil, fmt.Errorf("sipp scenario %s: %w", opts.Scenario, err)
	}
	p := &Process{dir: opts.Dir, waited: make(chan struct{})}
	if p.dir == "" {
		if p.dir, err = os.MkdirTemp("", "sipp"); err != nil {
			return nil, err
		}
		p.ownDir = true
	}
	fail := func(err error) (*Process, error) {
		if p.ownDir {
			os.RemoveAll(p.dir)
		}
		return nil, err
	}
	scen := filepath.Join(p.dir, opts.Scenario)
	if err := os.WriteFile(scen, buf.Bytes(), 0o644); err != nil {
		return fail(err)
	}
	sipPort, err := FreeUDPPort()
	if err != nil {
		return fail(err)
	}
	mediaPort, err := freeEvenPortPair()
	if err != nil {
		return fail(err)
	}
	var args []string
	if opts.Target != "" {
		args = append(args, opts.Target, "-s", opts.Service)
	}
	args = append(args,
		"-sf", scen, "-m", "1", "-l", "1",
		"-i", "127.0.0.1", "-p", strconv.Itoa(sipPort),
		"-mi", "127.0.0.1", "-mp", strconv.Itoa(mediaPort),
		"-nostdin", "-timeout", fmt.Sprintf("%ds", int(opts.Timeout.Seconds())), "-timeout_error",
		"-recv_timeout", "15000", "-trace_err", "-error_file", filepath.Join(p.dir, "errors.log"),
	)
	args = append(args, opts.Extra...)
	rctx, cancel := context.WithTimeout(ctx, opts.Timeout+5*time.Second)
	p.cancel = cancel
	p.cmd = exec.CommandContext(rctx, "sipp", args...)
	p.cmd.Dir = p.dir
	p.cmd.Stdout = &p.out
	p.cmd.Stderr = &p.out
	p.res = &Result{MediaPort: mediaPort, SIPPort: sipPort}
	if err := p.cmd.Start(); err != nil {
		cancel()
		return fail(fmt.Errorf("sipp: %w", err))
	}
	go p.wait()
	return p, nil
}

// Addr returns where sipp takes SIP: 127.0.0.1 and its port.
func (p *Process) Addr() string { return "127.0.0.1:" + strconv.Itoa(p.res.SIPPort) }

func (p *Process) wait() {
	defer close(p.waited)
	defer p.cancel()
	err := p.cmd.Wait()
	res := p.res
	res.Output = p.out.String()
	if errLog, rerr := os.ReadFile(filepath.Join(p.dir, "errors.log")); rerr == nil && len(errLog) > 0 {
		res.Output += "\n--- sipp errors ---\n" + string(errLog)
	}
	if p.ownDir {
		os.RemoveAll(p.dir)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.ExitCode = ee.ExitCode()
		p.waitErr = fmt.Errorf("sipp exited %d: %s", res.ExitCode, tail(res.Output, 2000))
	default:
		p.waitErr = fmt.Errorf("sipp: %w", err)
	}
}

// Wait waits for sipp to exit and reports how the call went.
func (p *Process) Wait() (*Result, error) {
	<-p.waited
	return p.res, p.waitErr
}

// Stop kills sipp if it still runs and waits for it.
func (p *Process) Stop() {
	p.cancel()
	<-p.waited
}

// freeEvenPortPair finds an even UDP port whose next port is free too (SIPp
// uses the pair for RTP and RTCP, and more above it for video).
func freeEvenPortPair() (int, error) {
	for i := 0; i < 50; i++ {
		p, err := FreeUDPPort()
		if err != nil {
			return 0, err
		}
		p &^= 1
		if p < 1024 || p > 65000 {
			continue
		}
		ok := true
		for q := p; q < p+4; q++ {
			c, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(q))
			if err != nil {
				ok = false
				break
			}
			c.Close()
		}
		if ok {
			return p, nil
		}
	}
	return 0, errors.New("no free media port pair")
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
