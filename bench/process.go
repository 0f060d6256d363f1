package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Target is the system under test as the generator sees it.
type Target struct {
	Name     string // "gateway" or "baseline"
	SIPAddr  string // where calls go (UDP)
	PID      int    // process sampled from /proc; 0: not sampled
	HTTPAddr string // serves /debug/pprof/ (goroutines, profiles); "": none
	Token    string // bearer token of HTTPAddr's /debug/pprof/ ("": none)
	// InProcess means the target runs inside the generator's process: its
	// CPU and memory figures include the generator's.
	InProcess bool
	// Exited, when not nil, is closed if the target exits during the run.
	Exited <-chan struct{}
}

// Launcher starts the system under test once the app is listening and
// returns it with the function that stops it.
type Launcher func(ctx context.Context, app *App) (Target, func() error, error)

// FreeSIPAddr returns a loopback address whose port is free for both UDP
// and TCP now.
func FreeSIPAddr() (string, error) {
	for range 20 {
		tl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", fmt.Errorf("bench: free port: %w", err)
		}
		addr := tl.Addr().String()
		ul, err := net.ListenPacket("udp", addr)
		_ = tl.Close()
		if err != nil {
			continue
		}
		_ = ul.Close()
		return addr, nil
	}
	return "", errors.New("bench: no port free for both UDP and TCP")
}

// FreeTCPAddr returns a loopback TCP address free now.
func FreeTCPAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("bench: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Process is a system under test running as a child process.
type Process struct {
	cmd    *exec.Cmd
	done   chan struct{}
	err    error // set before done closes
	stderr *tail
}

// StartProcess starts argv as a child process, its stderr kept (the last
// 8 KiB) for error reports, and waits until http://healthAddr/healthz
// answers 200.
func StartProcess(ctx context.Context, argv []string, healthAddr string) (*Process, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("%w: empty command", ErrConfig)
	}
	p := &Process{cmd: exec.Command(argv[0], argv[1:]...), done: make(chan struct{}), stderr: &tail{max: 8 << 10}}
	p.cmd.Stderr = p.stderr
	// The child must not outlive the generator.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start %s: %w", argv[0], err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	if err := p.waitHealthy(ctx, healthAddr, 15*time.Second); err != nil {
		_ = p.Stop()
		return nil, err
	}
	return p, nil
}

// PID returns the child's process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Exited is closed when the child has exited.
func (p *Process) Exited() <-chan struct{} { return p.done }

// Stderr returns the end of what the child wrote to stderr.
func (p *Process) Stderr() string { return p.stderr.String() }

func (p *Process) waitHealthy(ctx context.Context, addr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	client := &http.Client{Timeout: time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/healthz", nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("%w: %v\n%s", ErrTargetExited, p.err, p.Stderr())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: no healthy answer on %s within %s\n%s", ErrNotReady, addr, limit, p.Stderr())
		}
	}
}

// Stop sends SIGTERM, waits up to 15 s for the child to exit (then kills
// it) and returns its exit error, if any.
func (p *Process) Stop() error {
	select {
	case <-p.done:
		return p.exitErr()
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(15 * time.Second)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("bench: %s did not stop within 15 s: killed", p.cmd.Path)
	}
	return p.exitErr()
}

func (p *Process) exitErr() error {
	if p.err != nil {
		return fmt.Errorf("bench: %s: %w\n%s", p.cmd.Path, p.err, p.Stderr())
	}
	return nil
}

// tail keeps the last max bytes written to it.
type tail struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
