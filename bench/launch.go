package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/callstream/callstream/bench/baseline"
	"github.com/callstream/callstream/internal/gateway"
	"github.com/callstream/callstream/internal/limit"
)

// GatewayRTPPorts is the RTP port range given to a gateway the generator
// starts: below Linux's ephemeral range, where the generator's own sockets
// live.
const GatewayRTPPorts = "20000-29999"

// GatewayCommand returns a Launcher that runs `bin serve` as a child
// process on free loopback ports, with the app's document URL, profiling on,
// logs at warn and the INVITE rate and call bounds off (the generator offers
// every call from one address, and measures the gateway, not its limits),
// plus extra flags; the process is sampled from /proc.
func GatewayCommand(bin string, extra ...string) Launcher {
	return func(ctx context.Context, app *App) (Target, func() error, error) {
		sipAddr, err := FreeSIPAddr()
		if err != nil {
			return Target{}, nil, err
		}
		httpAddr, err := FreeTCPAddr()
		if err != nil {
			return Target{}, nil, err
		}
		token := newToken()
		argv := append([]string{bin, "serve",
			"--sip", sipAddr, "--http", httpAddr, "--app", app.DocumentURL(),
			"--rtp-ports", GatewayRTPPorts, "--log-level", "warn", "--pprof", "--api-token", token,
			"--invite-rate", "0", "--max-calls", "0",
		}, extra...)
		t, stop, err := startChild(ctx, "gateway", argv, sipAddr, httpAddr)
		t.Token = token
		return t, stop, err
	}
}

// BaselineCommand returns a Launcher that runs the baseline relay as a
// child process: argv (e.g. the callstream binary and its hidden
// subcommand) followed by --sip, --http, --ws and --mode.
func BaselineCommand(argv ...string) Launcher {
	return func(ctx context.Context, app *App) (Target, func() error, error) {
		sipAddr, err := FreeSIPAddr()
		if err != nil {
			return Target{}, nil, err
		}
		httpAddr, err := FreeTCPAddr()
		if err != nil {
			return Target{}, nil, err
		}
		full := append(append([]string(nil), argv...),
			"--sip", sipAddr, "--http", httpAddr, "--ws", app.WSBase(), "--mode", string(app.Mode()))
		return startChild(ctx, "baseline", full, sipAddr, httpAddr)
	}
}

func startChild(ctx context.Context, name string, argv []string, sipAddr, httpAddr string) (Target, func() error, error) {
	var lastErr error
	for range 3 { // a port picked free may be taken before the child binds it
		p, err := StartProcess(ctx, argv, httpAddr)
		if err != nil {
			lastErr = err
			if errors.Is(err, ErrTargetExited) {
				if sipAddr, err = FreeSIPAddr(); err != nil {
					return Target{}, nil, err
				}
				if httpAddr, err = FreeTCPAddr(); err != nil {
					return Target{}, nil, err
				}
				argv = replaceFlag(replaceFlag(argv, "--sip", sipAddr), "--http", httpAddr)
				continue
			}
			return Target{}, nil, err
		}
		t := Target{Name: name, SIPAddr: sipAddr, PID: p.PID(), HTTPAddr: httpAddr, Exited: p.Exited()}
		return t, p.Stop, nil
	}
	return Target{}, nil, lastErr
}

func replaceFlag(argv []string, flag, value string) []string {
	for i := 0; i+1 < len(argv); i++ {
		if argv[i] == flag {
			argv[i+1] = value
		}
	}
	return argv
}

// External returns a Launcher for a gateway started by hand at sipAddr:
// its process is found by the UDP port (pid 0) unless pid is given;
// httpAddr (optional) must serve /debug/pprof/ for goroutine counts, to
// the bearer token (if any).
func External(sipAddr string, pid int, httpAddr, token string) Launcher {
	return func(context.Context, *App) (Target, func() error, error) {
		t := Target{Name: "gateway", SIPAddr: sipAddr, PID: pid, HTTPAddr: httpAddr, Token: token}
		if pid == 0 {
			_, port, err := net.SplitHostPort(sipAddr)
			if err != nil {
				return Target{}, nil, fmt.Errorf("%w: target %q: %w", ErrConfig, sipAddr, err)
			}
			n, _ := strconv.Atoi(port)
			if t.PID, err = PIDOfUDPPort(n); err != nil {
				t.PID = 0 // not sampled
			}
		}
		return t, func() error { return nil }, nil
	}
}

// GatewayInProcess returns a Launcher that runs a gateway inside this
// process (for tests): its CPU and memory figures include the generator.
func GatewayInProcess(log *slog.Logger) Launcher {
	return func(ctx context.Context, app *App) (Target, func() error, error) {
		d, err := gateway.Dialect("carrierx")
		if err != nil {
			return Target{}, nil, err
		}
		token := newToken()
		g, err := gateway.New(gateway.Config{
			SIPAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", App: app.DocumentURL(),
			RTPPorts: GatewayRTPPorts, Dialect: d, Pprof: true, Logger: log, APITokens: []string{token},
			Limits: limit.Limits{InviteRate: -1, MaxCalls: -1}, // as GatewayCommand
		})
		if err != nil {
			return Target{}, nil, err
		}
		t, stop, err := runInProcess(ctx, "gateway", g.Run, g.Ready(), g.SIPAddr, g.HTTPAddr)
		t.Token = token
		return t, stop, err
	}
}

// BaselineInProcess returns a Launcher that runs the baseline relay inside
// this process (for tests).
func BaselineInProcess(log *slog.Logger) Launcher {
	return func(ctx context.Context, app *App) (Target, func() error, error) {
		s, err := baseline.New(baseline.Config{HTTPAddr: "127.0.0.1:0", WSBase: app.WSBase(), Mode: string(app.Mode()), Logger: log})
		if err != nil {
			return Target{}, nil, err
		}
		return runInProcess(ctx, "baseline", s.Run, s.Ready(), s.SIPAddr, s.HTTPAddr)
	}
}

func runInProcess(ctx context.Context, name string, run func(context.Context) error, ready <-chan struct{}, sipAddr, httpAddr func() string) (Target, func() error, error) {
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		done <- run(rctx)
		close(exited)
	}()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		return Target{}, nil, fmt.Errorf("%w: %w", ErrTargetExited, err)
	case <-time.After(10 * time.Second):
		cancel()
		return Target{}, nil, ErrNotReady
	}
	t := Target{Name: name, SIPAddr: sipAddr(), PID: os.Getpid(), HTTPAddr: httpAddr(), InProcess: true, Exited: exited}
	return t, func() error {
		cancel()
		return <-done
	}, nil
}

// newToken returns a random bearer token for a gateway the bench starts.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
