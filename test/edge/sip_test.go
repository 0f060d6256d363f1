package edge

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/callstream/callstream/internal/limit"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipcaller"
	"github.com/callstream/callstream/internal/tlstest"
)

// refused returns how often the gateway counted refusal r.
func refused(m servetest.Metrics, r limit.Refusal) float64 {
	return m.Get("callstream_refusals_total", "limit="+string(r))
}

// scrape reads /metrics, reporting false while the gateway cannot answer
// (say, it has no file descriptor left for the connection).
func scrape(env *servetest.Env) (servetest.Metrics, bool) {
	m, err := servetest.Scrape(env.URL("/metrics"))
	return m, err == nil
}

// newCaller returns a SIP caller for the test.
func newCaller(t *testing.T, cfg sipcaller.ClientConfig) *sipcaller.Client {
	t.Helper()
	c, err := sipcaller.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// noErrorLogs fails t if the gateway logged at ERROR.
func noErrorLogs(t *testing.T, env *servetest.Env) {
	t.Helper()
	if m := env.Logs.Find("ERROR", "", nil); m != nil {
		t.Fatalf("the gateway logged an ERROR: %v", m)
	}
}

// tcpCallAfter places a bystander call over TCP and checks it; its SIP
// connection idles longer than the idle timeout while the call is up,
// and must not be closed for it.
func tcpCallAfter(t *testing.T, env *servetest.Env) {
	t.Helper()
	idleBefore := refused(env.Metrics(t), limit.SIPConnIdle)
	udp := env.Caller
	env.Caller = newCaller(t, sipcaller.ClientConfig{Transport: "tcp"})
	defer func() { env.Caller = udp }()
	b := env.Bystander(t)
	b.Check(t)
	// The connection may idle out after the call (one closure), not during it.
	if got := refused(env.Metrics(t), limit.SIPConnIdle); got > idleBefore+1 {
		t.Fatalf("idle closures went from %v to %v during a TCP call: its connection was not pinned", idleBefore, got)
	}
}

// 1,100 idle TCP connections under a 1,024 open-file limit: the bound
// (lowered to 256) closes the excess at once, the idle timeout the rest;
// the process lives, a UDP call beside the flood is intact, a TCP call
// afterwards works, and the figures come back to the baseline.
func TestSIPTCPConnectionFlood(t *testing.T) {
	const idle = 2 * time.Second
	env := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{
		NoFile: 1024,
		Args:   []string{"--sip-tcp-idle", idle.String()},
	}})
	if env.Logs.Find("INFO", "connection bound lowered", map[string]string{"max_per_listener": "256", "file_limit": "1024"}) == nil {
		t.Fatalf("no log line about the lowered bound:\n%s", env.Logs.String())
	}
	base := env.Baseline(t)
	b := env.Bystander(t)
	const n = 1100
	closeIdle := openIdle(t, env.SIPAddr(), n)
	// Every connection ends one of two ways: refused at once, or closed idle.
	servetest.Eventually(t, 30*time.Second, "every connection refused or closed idle", func() bool {
		m, ok := scrape(env)
		return ok && refused(m, limit.SIPConnsFull)+refused(m, limit.SIPConnIdle) >= n
	})
	m := env.Metrics(t)
	full, idled := refused(m, limit.SIPConnsFull), refused(m, limit.SIPConnIdle)
	t.Logf("%d connections: %v refused over the bound, %v closed idle", n, full, idled)
	if full < n-256 || idled > 256 || full+idled != n {
		t.Fatalf("refused %v + idle %v, want %d refused past 256 open and the rest idle", full, idled, n)
	}
	if !env.Alive() {
		t.Fatal("the gateway died")
	}
	b.Check(t)
	closeIdle()
	tcpCallAfter(t, env)
	if env.Logs.Find("", "too many open files", nil) != nil {
		t.Fatal("the gateway ran out of file descriptors")
	}
	noErrorLogs(t, env)
	env.Settled(t, base, 10*time.Second)
}

// With the bound off, 1,100 connections under a 1,024 open-file limit make
// accept fail with EMFILE: it backs off and retries (counted, logged with
// a hint), the process lives, the UDP call beside it is intact, and once
// the idle connections are closed every waiting one is served and closed
// in turn.
func TestSIPTCPAcceptOutOfFiles(t *testing.T) {
	const idle = 2 * time.Second
	env := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{
		NoFile: 1024,
		Args:   []string{"--sip-tcp-idle", idle.String(), "--sip-tcp-max-conns", "0"},
	}})
	base := env.Baseline(t)
	b := env.Bystander(t)
	const n = 1100
	closeIdle := openIdle(t, env.SIPAddr(), n)
	servetest.Eventually(t, 60*time.Second, "every connection accepted and closed idle", func() bool {
		m, ok := scrape(env)
		return ok && refused(m, limit.SIPConnIdle) >= n
	})
	m := env.Metrics(t)
	t.Logf("accept failures %v, idle closures %v", refused(m, limit.SIPAcceptError), refused(m, limit.SIPConnIdle))
	if refused(m, limit.SIPAcceptError) == 0 {
		t.Fatal("accept never failed: the test did not reach the open-file limit")
	}
	if env.Logs.Find("WARN", "accept failed; retrying", map[string]string{"hint": "no file descriptors left"}) == nil {
		t.Fatalf("no WARN about the failing accept:\n%.3000s", env.Logs.String())
	}
	if !env.Alive() {
		t.Fatal("the gateway died")
	}
	b.Check(t)
	closeIdle()
	tcpCallAfter(t, env)
	env.Settled(t, base, 10*time.Second)
}

// 3,000 INVITEs (6,000 at full scale) in about 3 s from one address, none acknowledged: past the
// burst they get 503 with Retry-After before any app fetch or RTP port; the
// calls let in stay within the rate, as do the ports they hold; a call from
// another address goes through intact; the refusals are logged a few
// times, not 3,000.
func TestSIPInviteFlood(t *testing.T) {
	env := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{RTPPorts: 500}})
	env.App.DocTo("/app", "flood", `<Response><Pause length="60"/></Response>`)
	base := env.Baseline(t)
	b := env.Bystander(t) // from 127.0.0.1
	f := newFloodSender(t, "127.0.0.2", env.SIPAddr())

	sent := servetest.Scale(3000, 6000) // in 3 s; the finding: 6,000
	const ticks = 100
	var maxPorts float64
	start := time.Now()
	tick := time.NewTicker(30 * time.Millisecond)
	for i := 0; i < sent; {
		for range sent / ticks {
			f.invite(i)
			i++
		}
		<-tick.C
		if i%(sent/10) == 0 {
			if m, ok := scrape(env); ok {
				maxPorts = max(maxPorts, m.Get("callstream_rtp_ports_in_use"))
			}
		}
	}
	tick.Stop()
	elapsed := time.Since(start)
	// Calls let in: the burst and the rate over the flood, with a second's slack.
	allowed := 40 + int(20*(elapsed.Seconds()+1))
	servetest.Eventually(t, 20*time.Second, "the refusals answered", func() bool {
		codes, _ := f.counts()
		return codes[503] >= sent-allowed-sent/20
	})
	codes, withRetry := f.counts()
	fetches := 0
	for _, r := range env.App.Requests() {
		if r.JSON["To"] == "flood" {
			fetches++
		}
	}
	m := env.Metrics(t)
	maxPorts = max(maxPorts, m.Get("callstream_rtp_ports_in_use"))
	t.Logf("%d INVITEs in %v: responses %v (%d 503 with Retry-After), %d app fetches, at most %v RTP ports in use, %v invite_rate refusals",
		sent, elapsed.Round(time.Millisecond), codes, withRetry, fetches, maxPorts, refused(m, limit.InviteRate))
	if withRetry != codes[503] {
		t.Fatalf("%d of %d 503s carry a Retry-After", withRetry, codes[503])
	}
	if fetches > allowed {
		t.Fatalf("%d app fetches for a flood of %d in %v, want at most %d", fetches, sent, elapsed, allowed)
	}
	if maxPorts > float64(allowed+1) {
		t.Fatalf("%v RTP ports in use, want at most %d", maxPorts, allowed+1)
	}
	if got := refused(m, limit.InviteRate); got < float64(codes[503]) {
		t.Fatalf("invite_rate refusals %v, 503s received %d", got, codes[503])
	}
	lines := 0
	for _, l := range env.Logs.Lines() {
		if l["msg"] == "INVITE refused" {
			lines++
			if l["source"] == nil || !strings.HasPrefix(l["source"].(string), "127.0.0.2:") || l["limit"] != "invite_rate" {
				t.Fatalf("refusal line %v", l)
			}
		}
	}
	if lines == 0 || lines > int(elapsed.Seconds())+3 {
		t.Fatalf("%d log lines about the refusals in %v", lines, elapsed)
	}
	b.Check(t)
	if !env.Alive() {
		t.Fatal("the gateway died")
	}
	f.hangUp(t)
	env.Settled(t, base, 15*time.Second)
}

// With --max-calls 2 the third call gets 503 with Retry-After; once a
// call ends a new one gets in.
func TestSIPMaxCalls(t *testing.T) {
	env := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{Args: []string{"--max-calls", "2"}}})
	env.App.DocTo("/app", "held", `<Response><Pause length="60"/></Response>`)
	base := env.Baseline(t)
	b := env.Bystander(t)
	held, err := env.Dial(t, sipcaller.Config{To: "held"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = env.Dial(t, sipcaller.Config{To: "held"})
	var se *sipcaller.StatusError
	if !errors.As(err, &se) || se.Code != 503 {
		t.Fatalf("third call: %v, want 503", err)
	}
	if ra, _ := strconv.Atoi(se.Header["retry-after"]); ra < 1 {
		t.Fatalf("503 without a Retry-After: %v", se.Header)
	}
	if got := refused(env.Metrics(t), limit.CallsFull); got != 1 {
		t.Fatalf("max_calls refusals %v", got)
	}
	if env.Logs.Find("WARN", "INVITE refused", map[string]string{"limit": "max_calls"}) == nil {
		t.Fatal("no log line about the refused call")
	}
	if err := held.Hangup(servetest.Context(t, 5*time.Second)); err != nil {
		t.Fatal(err)
	}
	servetest.Eventually(t, 10*time.Second, "a call once one ended", func() bool {
		c, err := env.Dial(t, sipcaller.Config{To: "held"})
		if err != nil {
			return false
		}
		return c.Hangup(servetest.Context(t, 5*time.Second)) == nil
	})
	env.Survived(t, b, base, 10*time.Second)
}

// With --sip-allow an INVITE from elsewhere gets 403 and costs no app fetch.
func TestSIPAllowList(t *testing.T) {
	env := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{Args: []string{"--sip-allow", "127.0.0.1/32"}}})
	base := env.Baseline(t)
	b := env.Bystander(t)
	outsider := newCaller(t, sipcaller.ClientConfig{LocalIP: netip.MustParseAddr("127.0.0.2")})
	fetches := len(env.App.Requests())
	_, err := outsider.Dial(servetest.Context(t, 10*time.Second), sipcaller.Config{Target: env.SIPAddr(), From: "1", To: "2"})
	var se *sipcaller.StatusError
	if !errors.As(err, &se) || se.Code != 403 {
		t.Fatalf("call from outside the allow list: %v, want 403", err)
	}
	if got := refused(env.Metrics(t), limit.SIPSource); got != 1 {
		t.Fatalf("sip_source refusals %v", got)
	}
	if n := len(env.App.Requests()); n != fetches {
		t.Fatalf("the refused call cost %d app fetches", n-fetches)
	}
	if env.Logs.Find("WARN", "INVITE refused", map[string]string{"limit": "sip_source", "source": "127.0.0.2:"}) == nil {
		t.Fatal("no log line naming the refused source")
	}
	env.Survived(t, b, base, 10*time.Second)
}

// With --sip-auth-file a caller without credentials is challenged (401,
// digest, qop=auth), one with a wrong password refused (403, counted), one
// with the right password — the bystander — gets through; no password,
// digest or nonce reaches the log.
func TestSIPDigestAuth(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sip-users")
	if err := os.WriteFile(file, []byte("# users\nalice:s3cret-Pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{Args: []string{"--sip-auth-file", file, "--sip-realm", "edge-test"}}})
	env.Caller = newCaller(t, sipcaller.ClientConfig{Username: "alice", Password: "s3cret-Pass"})
	base := env.Baseline(t)
	b := env.Bystander(t)

	anon := newCaller(t, sipcaller.ClientConfig{})
	_, err := anon.Dial(servetest.Context(t, 10*time.Second), sipcaller.Config{Target: env.SIPAddr(), From: "1", To: "2"})
	var se *sipcaller.StatusError
	if !errors.As(err, &se) || se.Code != 401 {
		t.Fatalf("call without credentials: %v, want 401", err)
	}
	chal := se.Header["www-authenticate"]
	for _, want := range []string{`Digest realm="edge-test"`, `qop="auth"`, "algorithm=MD5", `nonce="`} {
		if !strings.Contains(chal, want) {
			t.Fatalf("challenge %q lacks %s", chal, want)
		}
	}
	_, err = anon.Dial(servetest.Context(t, 10*time.Second), sipcaller.Config{Target: env.SIPAddr(), From: "1", To: "2",
		Username: "alice", Password: "not-it"})
	if !errors.As(err, &se) || se.Code != 403 {
		t.Fatalf("call with a wrong password: %v, want 403", err)
	}
	if got := refused(env.Metrics(t), limit.SIPAuth); got != 1 {
		t.Fatalf("sip_auth refusals %v, want 1 (the wrong password)", got)
	}
	sippAuthCall(t, env, "alice", "s3cret-Pass")
	b.Check(t)
	nonce := chal[strings.Index(chal, `nonce="`)+len(`nonce="`):]
	nonce = nonce[:strings.IndexByte(nonce, '"')]
	logs := env.Logs.String()
	for _, secret := range []string{"s3cret-Pass", "not-it", nonce, "response="} {
		if strings.Contains(logs, secret) {
			t.Fatalf("the log holds %q", secret)
		}
	}
	env.Settled(t, base, 10*time.Second)
}

// 96 MB of garbage datagrams: the log stays small, no line is long,
// nothing is at ERROR, and a WARN sums the flood up with its count and
// source; a call beside it is intact.
func TestSIPGarbageFlood(t *testing.T) {
	env := servetest.StartEnv(t, servetest.EnvOptions{})
	base := env.Baseline(t)
	b := env.Bystander(t)
	logBefore := len(env.Logs.String())
	const total = 96 << 20
	cpu0 := cpuSeconds(t, env.PID())
	start := time.Now()
	out := runHelper(t, "garbage", env.SIPAddr(), strconv.Itoa(total)).wait(t)
	datagrams, _ := strconv.Atoi(strings.TrimSpace(out))
	t.Logf("%d datagrams (%d MB) in %v; the gateway used %.2f s of CPU", datagrams, total>>20,
		time.Since(start).Round(time.Millisecond), cpuSeconds(t, env.PID())-cpu0)
	var summed float64
	servetest.Eventually(t, 30*time.Second, "a WARN summing the garbage up", func() bool {
		summed = 0
		for _, l := range env.Logs.Lines() {
			if l["msg"] == "unparseable SIP dropped" || l["msg"] == "malformed SIP request dropped" {
				summed += l["count"].(float64)
			}
		}
		return summed > 0
	})
	b.Check(t)
	out = env.Logs.String()[logBefore:]
	t.Logf("%d bytes of log during the flood; %v datagrams summed up", len(out), summed)
	if len(out) > 1<<20 {
		t.Fatalf("%d bytes of log for %d MB of garbage", len(out), total>>20)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	warns := 0
	for sc.Scan() {
		line := sc.Text()
		if len(line) > 1024 {
			t.Fatalf("a log line of %d bytes: %.300s", len(line), line)
		}
		if strings.Contains(line, `"level":"ERROR"`) {
			t.Fatalf("ERROR line: %s", line)
		}
		if strings.Contains(line, `"msg":"unparseable SIP dropped"`) {
			warns++
			if !strings.Contains(line, `"last_source":"127.0.0.3:`) || !strings.Contains(line, `"level":"WARN"`) {
				t.Fatalf("summary line %s", line)
			}
		}
	}
	if summed > float64(datagrams) || warns == 0 || warns > 1+int(time.Since(start)/(5*time.Second)) {
		t.Fatalf("%d summary lines counting %v of %d datagrams", warns, summed, datagrams)
	}
	env.Survived(t, nil, base, 10*time.Second)
}

// --sip-tls serves SIP over TLS with --tls-cert/--tls-key under the same
// bounds as TCP: an OPTIONS over TLS is answered, and a connection that
// never completes its handshake is closed once idle.
func TestSIPOverTLS(t *testing.T) {
	certFile, keyFile, _, client := tlstest.Files(t)
	tlsAddr := servetest.FreeTCPAddr(t)
	env := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{Args: []string{
		"--sip-tls", tlsAddr, "--tls-cert", certFile, "--tls-key", keyFile, "--sip-tcp-idle", "1s"}}})
	base := env.Baseline(t)
	b := env.Bystander(t)
	mute, err := net.Dial("tcp", tlsAddr) // no handshake, nothing sent
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	c, err := tls.Dial("tcp", tlsAddr, client)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	local := c.LocalAddr().String()
	fmt.Fprintf(c, "OPTIONS sip:%s;transport=tls SIP/2.0\r\nVia: SIP/2.0/TLS %s;branch=z9hG4bK-tls-1\r\nMax-Forwards: 70\r\n"+
		"From: <sip:probe@127.0.0.1>;tag=tls1\r\nTo: <sip:%s>\r\nCall-ID: tls-1@edge\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
		tlsAddr, local, tlsAddr)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	status, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(status, "SIP/2.0 200") {
		t.Fatalf("OPTIONS over TLS: %q, %v", status, err)
	}
	mute.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := mute.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a connection without a handshake was not closed: %v", err)
	}
	servetest.Eventually(t, 10*time.Second, "the idle closures counted", func() bool {
		return refused(env.Metrics(t), limit.SIPConnIdle) >= 1
	})
	b.Check(t)
	c.Close()
	env.Settled(t, base, 10*time.Second)
}
