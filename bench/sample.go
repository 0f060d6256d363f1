package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ,
// 100 on Linux).
const clockTick = 10 * time.Millisecond

// ProcSample is one reading of a process from /proc.
type ProcSample struct {
	User, System time.Duration // CPU time used so far
	RSSKiB       int64         // resident set size
	Threads      int
	OpenFiles    int
}

// CPU returns user + system time.
func (s ProcSample) CPU() time.Duration { return s.User + s.System }

// SampleProc reads pid's CPU time, RSS, threads and open files from /proc.
func SampleProc(pid int) (ProcSample, error) {
	var s ProcSample
	dir := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return s, fmt.Errorf("bench: sample %d: %w", pid, err)
	}
	// The command name is in parentheses and may hold spaces: fields are
	// counted from the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("bench: sample %d: malformed stat", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return s, fmt.Errorf("bench: sample %d: short stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return s, fmt.Errorf("bench: sample %d: %w", pid, err)
	}
	s.User, s.System = time.Duration(ut)*clockTick, time.Duration(st)*clockTick
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return s, fmt.Errorf("bench: sample %d: %w", pid, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			continue
		}
		switch k {
		case "VmRSS":
			s.RSSKiB, _ = strconv.ParseInt(fs[0], 10, 64)
		case "Threads":
			s.Threads, _ = strconv.Atoi(fs[0])
		}
	}
	fds, err := os.ReadDir(dir + "/fd")
	if err != nil {
		return s, fmt.Errorf("bench: sample %d: %w", pid, err)
	}
	s.OpenFiles = len(fds)
	return s, nil
}

// Goroutines returns the goroutine count a process reports on
// http://addr/debug/pprof/goroutine?debug=1 (token: its bearer token, if any).
func Goroutines(ctx context.Context, addr, token string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/debug/pprof/goroutine?debug=1", nil)
	if err != nil {
		return 0, err
	}
	authorize(req, token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("bench: goroutines: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("bench: goroutines: HTTP %d", resp.StatusCode)
	}
	line, err := bufio.NewReader(io.LimitReader(resp.Body, 4096)).ReadString('\n')
	if err != nil {
		return 0, fmt.Errorf("bench: goroutines: %w", err)
	}
	const prefix = "goroutine profile: total "
	if !strings.HasPrefix(line, prefix) {
		return 0, fmt.Errorf("bench: goroutines: unexpected %q", strings.TrimSpace(line))
	}
	return strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, prefix)))
}

// SaveProfile fetches a CPU profile of d from http://addr/debug/pprof/profile
// into file.
func SaveProfile(ctx context.Context, addr, token string, d time.Duration, file string) error {
	secs := max(1, int(d/time.Second))
	return fetchProfile(ctx, "http://"+addr+"/debug/pprof/profile?seconds="+strconv.Itoa(secs), token, d+30*time.Second, file)
}

// SaveHeapProfile fetches a heap profile from http://addr/debug/pprof/heap
// into file.
func SaveHeapProfile(ctx context.Context, addr, token, file string) error {
	return fetchProfile(ctx, "http://"+addr+"/debug/pprof/heap", token, 30*time.Second, file)
}

func fetchProfile(ctx context.Context, url, token string, limit time.Duration, file string) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	authorize(req, token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("bench: profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("bench: profile: HTTP %d", resp.StatusCode)
	}
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("bench: profile: %w", err)
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return fmt.Errorf("bench: profile: %w", err)
	}
	return f.Close()
}

// PIDOfUDPPort finds the local process with a UDP socket bound to port, from
// /proc/net/udp{,6} and the processes' fd tables. It returns 0 when none is
// found (e.g. the socket belongs to another user's process).
func PIDOfUDPPort(port int) (int, error) {
	inodes := map[string]bool{}
	for _, file := range []string{"/proc/net/udp", "/proc/net/udp6"} {
		b, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 {
				continue
			}
			_, hexPort, ok := strings.Cut(f[1], ":")
			if !ok {
				continue
			}
			if p, err := strconv.ParseUint(hexPort, 16, 16); err == nil && int(p) == port && f[9] != "0" {
				inodes["socket:["+f[9]+"]"] = true
			}
		}
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("bench: no UDP socket on port %d", port)
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("bench: %w", err)
	}
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		fds, err := os.ReadDir("/proc/" + p.Name() + "/fd")
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if link, err := os.Readlink("/proc/" + p.Name() + "/fd/" + fd.Name()); err == nil && inodes[link] {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("bench: no process owns UDP port %d", port)
}

// Machine describes the host the benchmark ran on.
type Machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model,omitempty"`
	MemoryMiB int64  `json:"memory_mib"`
	Kernel    string `json:"kernel,omitempty"`
	GoVersion string `json:"go_version"`
}

// ThisMachine describes the host from /proc.
func ThisMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				if f := strings.Fields(v); len(f) > 0 {
					kib, _ := strconv.ParseInt(f[0], 10, 64)
					m.MemoryMiB = kib / 1024
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// CPUTimes is the machine's CPU time from /proc/stat, all CPUs together.
type CPUTimes struct {
	Busy, Steal, Total time.Duration
}

// SampleMachine reads the machine's CPU times.
func SampleMachine() (CPUTimes, error) {
	var c CPUTimes
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return c, fmt.Errorf("bench: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return c, fmt.Errorf("bench: /proc/stat: unexpected %q", line)
	}
	// user nice system idle iowait irq softirq steal [guest guest_nice]
	v := make([]time.Duration, 8)
	for i := range v {
		n, err := strconv.ParseInt(f[i+1], 10, 64)
		if err != nil {
			return c, fmt.Errorf("bench: /proc/stat: %w", err)
		}
		v[i] = time.Duration(n) * clockTick
		c.Total += v[i]
	}
	c.Busy = v[0] + v[1] + v[2] + v[5] + v[6]
	c.Steal = v[7]
	return c, nil
}

// authorize adds the bearer token a gateway's /debug/pprof/ asks for.
func authorize(req *http.Request, token string) {
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
}
