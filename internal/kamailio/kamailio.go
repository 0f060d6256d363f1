// Package kamailio runs Kamailio, the SIP proxy, as a load balancer in
// front of callstream nodes in tests: the project's own dispatcher
// configuration (deploy/kamailio/kamailio.cfg) with a dispatcher list of
// the test's nodes, on loopback.
package kamailio

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/logtest"
)

// Require returns the path of kamailio. When it is missing the test fails
// under CI=true (the test command installs it) and is skipped elsewhere.
func Require(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("kamailio")
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/usr/local/sbin"} {
			if _, serr := os.Stat(filepath.Join(dir, "kamailio")); serr == nil {
				return filepath.Join(dir, "kamailio")
			}
		}
		if os.Getenv("CI") == "true" {
			t.Fatalf("kamailio is not installed (apt-get install kamailio): %v", err)
		}
		t.Skip("kamailio is not installed (apt-get install kamailio)")
	}
	return p
}

// ConfigFile returns the project's dispatcher configuration,
// deploy/kamailio/kamailio.cfg, found from the working directory up to the
// module's root.
func ConfigFile(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "deploy", "kamailio", "kamailio.cfg")
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Fatal("kamailio: no go.mod above the working directory")
		}
		dir = up
	}
}

// Options configure Start.
type Options struct {
	// Nodes are the SIP addresses (host:port, UDP) of the callstream
	// nodes of dispatcher set 1, in order.
	Nodes []string
	// PingInterval is the seconds between OPTIONS pings of the nodes
	// (default 1).
	PingInterval int
	// NodeTimeout is how long a node has to answer an INVITE or a ping
	// (default 500 ms).
	NodeTimeout time.Duration
	// Weighted runs the configuration's WEIGHTED variant: each new call
	// goes to the node with the fewest calls in progress.
	Weighted bool
}

// Proxy is a running Kamailio.
type Proxy struct {
	addr   string
	cmd    *exec.Cmd
	Logs   *logtest.Buffer // its standard error: Kamailio's log
	exited chan struct{}
}

// Start runs Kamailio with the project's configuration on a free loopback
// UDP port and waits until it answers OPTIONS; t's cleanup stops it.
func Start(t testing.TB, opts Options) *Proxy {
	t.Helper()
	bin := Require(t)
	cfg := ConfigFile(t)
	if opts.PingInterval <= 0 {
		opts.PingInterval = 1
	}
	if opts.NodeTimeout <= 0 {
		opts.NodeTimeout = 500 * time.Millisecond
	}
	dir := t.TempDir()
	var list strings.Builder
	for i, n := range opts.Nodes {
		fmt.Fprintf(&list, "1 sip:%s 0 0 duid=node%d;node=%d\n", n, i, i)
	}
	listFile := filepath.Join(dir, "dispatcher.list")
	if err := os.WriteFile(listFile, []byte(list.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeUDPAddr(t)
	p := &Proxy{addr: addr, Logs: &logtest.Buffer{}, exited: make(chan struct{})}
	args := []string{"-f", cfg, "-DD", "-E", "-m", "64", "-M", "8", "-Y", dir,
		"-A", "LISTEN=udp:" + addr,
		"-A", fmt.Sprintf("DISPATCHER_LIST=%q", listFile),
		"-A", fmt.Sprintf("PING_INTERVAL=%d", opts.PingInterval),
		"-A", fmt.Sprintf("NODE_TIMEOUT=%d", opts.NodeTimeout.Milliseconds())}
	if opts.Weighted {
		args = append(args, "-A", "WEIGHTED")
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout = p.Logs
	p.cmd.Stderr = p.Logs
	// Its own process group: Kamailio forks workers, stopped together.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("kamailio: %v", err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("kamailio log:\n%s", tail(p.Logs.String(), 8000))
		}
	})
	if err := p.waitReady(15 * time.Second); err != nil {
		t.Fatalf("kamailio: %v\n%s", err, tail(p.Logs.String(), 8000))
	}
	return p
}

// Addr returns Kamailio's SIP address (UDP), host:port.
func (p *Proxy) Addr() string { return p.addr }

// Stop stops Kamailio and its workers and waits for them.
func (p *Proxy) Stop() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
}

// waitReady sends OPTIONS to Kamailio until it answers 200 or d passes.
func (p *Proxy) waitReady(d time.Duration) error {
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer conn.Close()
	to, err := net.ResolveUDPAddr("udp", p.addr)
	if err != nil {
		return err
	}
	local := conn.LocalAddr().String()
	deadline := time.Now().Add(d)
	buf := make([]byte, 4096)
	for i := 0; time.Now().Before(deadline); i++ {
		select {
		case <-p.exited:
			return errors.New("exited before it was ready")
		default:
		}
		req := fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\n"+
			"Via: SIP/2.0/UDP %s;branch=z9hG4bK-ready-%d;rport\r\n"+
			"Max-Forwards: 70\r\nFrom: <sip:test@%s>;tag=ready\r\nTo: <sip:%s>\r\n"+
			"Call-ID: ready-%d@%s\r\nCSeq: %d OPTIONS\r\nContent-Length: 0\r\n\r\n",
			p.addr, local, i, local, p.addr, i, local, i+1)
		if _, err := conn.WriteTo([]byte(req), to); err != nil {
			return err
		}
		_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, _, err := conn.ReadFrom(buf)
		if err == nil && strings.HasPrefix(string(buf[:n]), "SIP/2.0 200") {
			return nil
		}
	}
	return fmt.Errorf("no 200 to OPTIONS on %s within %s", p.addr, d)
}

// freeUDPAddr returns a loopback UDP address that was free a moment ago.
func freeUDPAddr(t testing.TB) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
