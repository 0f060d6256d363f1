package edge

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipp"
)

// The attackers of the SIP tests: a helper process (the test binary run
// again) for floods that would take time from the test's own callers, a
// sender of raw INVITEs that counts the answers, and SIPp answering a
// digest challenge (the scenario uac_digest.xml of package sipp).

// openIdle opens n TCP connections to addr that send nothing, from a
// process of its own; close closes them.
func openIdle(t *testing.T, addr string, n int) (close func()) {
	t.Helper()
	h := runHelper(t, "idle", addr, strconv.Itoa(n))
	if line := h.line(t); line != "open "+strconv.Itoa(n) {
		t.Fatalf("idle connections: %s", line)
	}
	return func() { h.wait(t) }
}

// helper is the test binary run as an attacker (attackerMain): the
// attack runs in a process of its own, so it takes no time from the
// test's own callers.
type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
	done  bool
}

// runHelper starts the attack kind with args.
func runHelper(t *testing.T, kind string, args ...string) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "EDGE_HELPER="+kind, "EDGE_HELPER_ARGS="+strings.Join(args, " "))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	t.Cleanup(func() {
		if !h.done {
			stdin.Close()
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return h
}

// line returns the helper's next line of output.
func (h *helper) line(t *testing.T) string {
	t.Helper()
	if !h.out.Scan() {
		t.Fatalf("helper: no output: %v", h.out.Err())
	}
	return h.out.Text()
}

// wait tells the helper to finish (closes its stdin) and returns its last
// line of output.
func (h *helper) wait(t *testing.T) string {
	t.Helper()
	h.stdin.Close()
	var last string
	for h.out.Scan() {
		last = h.out.Text()
	}
	if err := h.cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	h.done = true
	return last
}

// attackerMain runs the test binary as an attacker process instead of the
// tests (see TestMain): it attacks the gateway named in EDGE_HELPER_ARGS as
// EDGE_HELPER says and exits. It reports whether it ran.
func attackerMain() bool {
	kind := os.Getenv("EDGE_HELPER")
	if kind == "" {
		return false
	}
	args := strings.Fields(os.Getenv("EDGE_HELPER_ARGS"))
	n, _ := strconv.Atoi(args[1])
	switch kind {
	case "idle":
		conns := make([]net.Conn, 0, n)
		for i := range n {
			c, err := net.DialTimeout("tcp", args[0], 5*time.Second)
			if err != nil {
				fmt.Printf("connection %d: %v\n", i, err)
				os.Exit(1)
			}
			conns = append(conns, c)
		}
		fmt.Printf("open %d\n", len(conns))
		_, _ = io.Copy(io.Discard, os.Stdin) // until the test is done with them
		for _, c := range conns {
			c.Close()
		}
	case "garbage":
		fmt.Println(sendGarbage(args[0], n))
	}
	return true
}

// sendGarbage sends total bytes of garbage datagrams to target from
// 127.0.0.3, about 20 MB/s, and returns how many datagrams it sent.
func sendGarbage(target string, total int) int {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 3)})
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	to := netip.MustParseAddrPort(target)
	// A few kinds of garbage, some of it with a SIP-like start.
	junks := make([][]byte, 16)
	for i := range junks {
		junks[i] = make([]byte, 1400)
		for j := range junks[i] {
			junks[i][j] = byte(rand.Uint32())
		}
		if i%3 == 0 {
			copy(junks[i], "INVITE sip:x@y SIP/2.0\r\nVia: garbage\r\n")
		}
	}
	datagrams := 0
	for sent := 0; sent < total; sent += 1400 {
		if _, err := conn.WriteToUDPAddrPort(junks[datagrams%len(junks)], to); err != nil {
			panic(err)
		}
		if datagrams++; datagrams%200 == 0 {
			time.Sleep(2 * time.Millisecond)
		}
	}
	return datagrams
}

// floodSender sends INVITEs from its own address and counts the answers.
type floodSender struct {
	conn   *net.UDPConn
	target string
	local  string

	mu         sync.Mutex
	codes      map[int]int
	retryAfter int                      // 503s that carry a valid Retry-After
	answered   map[string]*sip.Response // 200s by Call-ID
	ended      map[string]bool          // calls whose BYE was answered
}

func newFloodSender(t *testing.T, ip, target string) *floodSender {
	t.Helper()
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip), 0)))
	if err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadBuffer(8 << 20)
	f := &floodSender{conn: conn, target: target, local: conn.LocalAddr().String(), codes: map[int]int{}, answered: map[string]*sip.Response{}, ended: map[string]bool{}}
	done := make(chan struct{})
	go f.read(done)
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	return f
}

func (f *floodSender) read(done chan struct{}) {
	defer close(done)
	buf := make([]byte, 65535)
	for {
		n, _, err := f.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		res, ok := parseResponse(buf[:n])
		if ok && res.CSeq() != nil && res.CSeq().MethodName == sip.BYE && res.StatusCode >= 200 {
			f.mu.Lock()
			f.ended[res.CallID().Value()] = true
			f.mu.Unlock()
		}
		if !ok || res.CSeq() == nil || res.CSeq().MethodName != sip.INVITE || res.StatusCode < 200 {
			continue
		}
		f.mu.Lock()
		id := res.CallID().Value()
		if res.StatusCode == 200 {
			if _, seen := f.answered[id]; !seen {
				f.codes[200]++
				f.answered[id] = res
			}
		} else {
			f.codes[res.StatusCode]++
			if h := res.GetHeader("Retry-After"); res.StatusCode == 503 && h != nil {
				if s, err := strconv.Atoi(h.Value()); err == nil && s >= 1 {
					f.retryAfter++
				}
			}
		}
		f.mu.Unlock()
	}
}

func parseResponse(b []byte) (*sip.Response, bool) {
	msg, err := sip.ParseMessage(b)
	if err != nil {
		return nil, false
	}
	res, ok := msg.(*sip.Response)
	return res, ok
}

// message builds a request of the flood's call i.
func (f *floodSender) message(method string, i, cseq int, toTag, branch string, body string) string {
	host, _, _ := net.SplitHostPort(f.target)
	var b strings.Builder
	fmt.Fprintf(&b, "%s sip:flood@%s SIP/2.0\r\n", method, f.target)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=%s;rport\r\n", f.local, branch)
	b.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: <sip:attacker@%s>;tag=ft%d\r\n", f.local, i)
	fmt.Fprintf(&b, "To: <sip:flood@%s>%s\r\n", host, toTag)
	fmt.Fprintf(&b, "Call-ID: flood-%d@edge\r\n", i)
	fmt.Fprintf(&b, "CSeq: %d %s\r\n", cseq, method)
	fmt.Fprintf(&b, "Contact: <sip:attacker@%s>\r\n", f.local)
	if body != "" {
		b.WriteString("Content-Type: application/sdp\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	return b.String()
}

func (f *floodSender) send(msg string) {
	_, _ = f.conn.WriteToUDPAddrPort([]byte(msg), netip.MustParseAddrPort(f.target))
}

// invite sends the INVITE of call i.
func (f *floodSender) invite(i int) {
	host, _, _ := net.SplitHostPort(f.local)
	sdp := "v=0\r\no=x 1 1 IN IP4 " + host + "\r\ns=-\r\nc=IN IP4 " + host + "\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
	f.send(f.message("INVITE", i, 1, "", fmt.Sprintf("z9hG4bK-flood-%d", i), sdp))
}

// hangUp acknowledges and ends every answered call, resending for those
// whose BYE is not answered (datagrams get lost in a flood): the attacker
// leaves.
func (f *floodSender) hangUp(t *testing.T) {
	t.Helper()
	servetest.Eventually(t, 20*time.Second, "every flood call hung up", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		left := 0
		for id, res := range f.answered {
			if f.ended[id] {
				continue
			}
			if left++; left > 20 {
				continue // a few at a time
			}
			var i int
			fmt.Sscanf(id, "flood-%d@edge", &i)
			tag, _ := res.To().Params.Get("tag")
			f.send(f.message("ACK", i, 1, ";tag="+tag, fmt.Sprintf("z9hG4bK-ack-%d", i), ""))
			f.send(f.message("BYE", i, 2, ";tag="+tag, fmt.Sprintf("z9hG4bK-bye-%d-%d", i, rand.Uint32()), ""))
		}
		return left == 0
	})
}

func (f *floodSender) counts() (codes map[int]int, retryAfter int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[int]int{}
	for k, v := range f.codes {
		out[k] = v
	}
	return out, f.retryAfter
}

// sippAuthCall places one call with SIPp, a third-party SIP peer, that
// must authenticate with user and password.
func sippAuthCall(t *testing.T, env *servetest.Env, user, password string) {
	t.Helper()
	sipp.Require(t)
	env.App.DocTo("/app", "15559990000", `<Response><Pause length="5"/></Response>`)
	if _, err := sipp.Run(servetest.Context(t, 30*time.Second), sipp.Options{
		Scenario: "uac_digest.xml", Target: env.SIPAddr(), Service: "15559990000", Timeout: 20 * time.Second,
		Extra: []string{"-au", user, "-ap", password},
	}); err != nil {
		t.Fatalf("SIPp's authenticated call: %v", err)
	}
}

// cpuSeconds returns the CPU time process pid has used (user and system).
func cpuSeconds(t *testing.T, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name, which ends with ')': utime and stime
	// are the 12th and 13th.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ
}
