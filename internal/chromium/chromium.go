// Package chromium runs a headless Chromium for integration tests and
// drives one page of it over the DevTools protocol (a WebSocket of JSON
// commands): navigate, evaluate JavaScript, wait on a condition, take a
// screenshot. It speaks the few commands the tests need itself, over the
// WebSocket library the project already uses.
package chromium

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Flags are the command-line flags Chromium runs with: headless, with no
// sandbox (tests may run as root), no GPU, and none of its own traffic.
var Flags = []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
	"--disable-dev-shm-usage", "--window-size=1280,1000", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0"}

// startWait bounds Chromium's start-up, up to its DevTools port.
const startWait = 30 * time.Second

// Find returns the Chromium binary: $CALLSTREAM_CHROMIUM, else chromium or
// chromium-browser on the PATH. Without one the test fails under CI=true
// (the test command installs it) and is skipped elsewhere.
func Find(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("CALLSTREAM_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (Debian package chromium; scripts/test.sh installs it)")
	}
	t.Skip("chromium is not installed (Debian package chromium)")
	return ""
}

// Browser is one running headless Chromium and the page it opened.
type Browser struct {
	t    testing.TB
	cmd  *exec.Cmd
	ws   *websocket.Conn
	wmu  sync.Mutex
	mu   sync.Mutex
	next int64
	wait map[int64]chan reply
	done chan struct{} // closed when the reader stops
	err  error         // why the reader stopped
}

// reply is the answer to one command.
type reply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// Start starts Chromium with a fresh profile in a temporary directory
// and connects to its first page; t's cleanup stops it (its whole process
// group).
func Start(t testing.TB) *Browser {
	t.Helper()
	bin := Find(t)
	dir := t.TempDir()
	args := append(append([]string(nil), Flags...), "--user-data-dir="+dir, "about:blank")
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr := &limitedWriter{n: 64 << 10}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	b := &Browser{t: t, cmd: cmd, wait: map[int64]chan reply{}, done: make(chan struct{})}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		if b.ws != nil {
			_ = b.ws.Close()
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		if t.Failed() {
			t.Logf("chromium stderr (tail):\n%s", tail(stderr.String(), 3000))
		}
	})
	port, err := devToolsPort(dir, exited)
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, tail(stderr.String(), 3000))
	}
	wsURL, err := pageSocket(port)
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	b.ws, _, err = websocket.DefaultDialer.Dial(wsURL, nil)
	if err != nil {
		t.Fatalf("chromium: DevTools socket: %v", err)
	}
	b.ws.SetReadLimit(64 << 20) // screenshots come as base64
	go b.read()
	return b
}

// devToolsPort waits for Chromium to write its DevTools port into the
// profile directory.
func devToolsPort(dir string, exited <-chan struct{}) (string, error) {
	deadline := time.Now().Add(startWait)
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "DevToolsActivePort")); err == nil {
			if port, _, ok := strings.Cut(string(b), "\n"); ok && port != "" {
				return port, nil
			}
		}
		select {
		case <-exited:
			return "", errors.New("exited before it listened for DevTools")
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no DevTools port after %s", startWait)
		}
	}
}

// pageSocket returns the DevTools WebSocket URL of the browser's page.
func pageSocket(port string) (string, error) {
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Get("http://127.0.0.1:" + port + "/json/list")
	if err != nil {
		return "", fmt.Errorf("list targets: %w", err)
	}
	defer resp.Body.Close()
	var targets []struct{ Type, WebSocketDebuggerURL string }
	if err := json.NewDecoder(resp.Body).Decode(&targets); err != nil {
		return "", fmt.Errorf("list targets: %w", err)
	}
	for _, tg := range targets {
		if tg.Type == "page" && tg.WebSocketDebuggerURL != "" {
			return tg.WebSocketDebuggerURL, nil
		}
	}
	return "", fmt.Errorf("no page among %d targets", len(targets))
}

// read hands every answer to the command waiting for it; events are
// dropped.
func (b *Browser) read() {
	defer close(b.done)
	for {
		var m struct {
			ID int64 `json:"id"`
			reply
		}
		if err := b.ws.ReadJSON(&m); err != nil {
			b.mu.Lock()
			b.err = err
			b.mu.Unlock()
			return
		}
		if m.ID == 0 {
			continue
		}
		b.mu.Lock()
		ch := b.wait[m.ID]
		delete(b.wait, m.ID)
		b.mu.Unlock()
		if ch != nil {
			ch <- m.reply
		}
	}
}

// Call sends one DevTools command and decodes its result into out (when
// not nil).
func (b *Browser) Call(ctx context.Context, method string, params, out any) error {
	b.mu.Lock()
	b.next++
	id := b.next
	ch := make(chan reply, 1)
	b.wait[id] = ch
	b.mu.Unlock()
	b.wmu.Lock()
	err := b.ws.WriteJSON(struct {
		ID     int64  `json:"id"`
		Method string `json:"method"`
		Params any    `json:"params,omitempty"`
	}{id, method, params})
	b.wmu.Unlock()
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case r := <-ch:
		if r.Error != nil {
			return fmt.Errorf("%s: %d %s", method, r.Error.Code, r.Error.Message)
		}
		if out != nil {
			return json.Unmarshal(r.Result, out)
		}
		return nil
	case <-b.done:
		b.mu.Lock()
		defer b.mu.Unlock()
		return fmt.Errorf("%s: DevTools connection lost: %w", method, b.err)
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// Navigate opens url in the page.
func (b *Browser) Navigate(url string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var r struct {
		ErrorText string `json:"errorText"`
	}
	if err := b.Call(ctx, "Page.navigate", map[string]string{"url": url}, &r); err != nil {
		b.t.Fatal(err)
	}
	if r.ErrorText != "" {
		b.t.Fatalf("navigate: %s", r.ErrorText)
	}
}

// Eval evaluates a JavaScript expression in the page and decodes its
// value (JSON-serialisable) into out.
func (b *Browser) Eval(ctx context.Context, expr string, out any) error {
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	err := b.Call(ctx, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &r)
	if err != nil {
		return err
	}
	if e := r.ExceptionDetails; e != nil {
		return fmt.Errorf("%s: %s", e.Text, e.Exception.Description)
	}
	if out == nil || len(r.Result.Value) == 0 {
		return nil
	}
	return json.Unmarshal(r.Result.Value, out)
}

// WaitFor evaluates expr until its value, decoded into out, makes cond
// true, failing the test after d; it returns the last value's JSON for a
// message.
func WaitFor[T any](b *Browser, d time.Duration, what, expr string, cond func(T) bool) T {
	b.t.Helper()
	deadline := time.Now().Add(d)
	var last T
	var lastErr error
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var v T
		lastErr = b.Eval(ctx, expr, &v)
		cancel()
		if lastErr == nil {
			last = v
			if cond(v) {
				return v
			}
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("waited %s for %s: last value %+v, error %v", d, what, last, lastErr)
		}
		select {
		case <-b.done:
			b.t.Fatalf("waiting for %s: DevTools connection lost", what)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Screenshot saves a PNG of the page's viewport to path.
func (b *Browser) Screenshot(path string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var r struct {
		Data string `json:"data"`
	}
	if err := b.Call(ctx, "Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true}, &r); err != nil {
		return err
	}
	png, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		return fmt.Errorf("screenshot: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("screenshot: %w", err)
	}
	return os.WriteFile(path, png, 0o644)
}

// limitedWriter keeps the first n bytes written to it.
type limitedWriter struct {
	mu sync.Mutex
	w  strings.Builder
	n  int
}

// String returns what was kept.
func (l *limitedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.n - l.w.Len(); room > 0 {
		l.w.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
