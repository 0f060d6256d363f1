package sip

import (
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"
)

// sippPath finds SIPp; without it the test fails on CI and is skipped elsewhere.
func sippPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("sipp")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("sipp not installed: %v", err)
		}
		t.Skipf("sipp not installed: %v", err)
	}
	return path
}

// freeUDPPort returns a loopback UDP port that was free a moment ago.
func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// TestSIPpCallsServer runs SIPp's built-in UAC against the server: INVITE,
// 200 with SDP, ACK, BYE from SIPp, 200.
func TestSIPpCallsServer(t *testing.T) {
	sipp := sippPath(t)
	type result struct {
		call *Invite
		err  error
	}
	results := make(chan result, 1)
	srv := startServer(t, Config{Handler: func(ctx context.Context, c *Invite) {
		if err := c.Ringing(); err != nil {
			results <- result{c, err}
			return
		}
		err := c.Answer(netip.MustParseAddrPort("127.0.0.1:44000"), c.Offer.Codecs[0], c.Offer.DTMFType)
		<-ctx.Done()
		results <- result{c, err}
	}})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, sipp, "-sn", "uac", srv.Addr(),
		"-i", "127.0.0.1", "-p", strconv.Itoa(freeUDPPort(t)),
		"-m", "1", "-l", "1", "-d", "200",
		"-timeout", "15s", "-timeout_error", "-nostdin")
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sipp failed: %v\n%s", err, out)
	}

	var r result
	select {
	case r = <-results:
	case <-time.After(5 * time.Second):
		t.Fatal("handler did not see the BYE")
	}
	if r.err != nil {
		t.Fatalf("Answer: %v", r.err)
	}
	waitDone(t, r.call, EndRemoteBye)
	if r.call.Offer.Codecs[0].Name != "PCMU" || r.call.Offer.RTPAddr.Port() == 0 {
		t.Fatalf("offer from sipp: %+v", r.call.Offer)
	}
}
