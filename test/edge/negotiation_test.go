package edge

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"

	"github.com/callstream/callstream/internal/servetest"
)

// sdpCaller is a caller that writes its SIP by hand over UDP, to offer
// codecs the test's SIP client does not: one dialog, requests in order.
type sdpCaller struct {
	conn   *net.UDPConn
	rtp    *net.UDPConn // where the gateway's RTP goes (read by nobody)
	target netip.AddrPort
	callID string
	tag    string
	toTag  string
	cseq   int
}

func newSDPCaller(t *testing.T, target string) *sdpCaller {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	rtp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); rtp.Close() })
	return &sdpCaller{conn: conn, rtp: rtp, target: netip.MustParseAddrPort(target),
		callID: fmt.Sprintf("sdp-%d@edge", rand.Uint64()), tag: fmt.Sprintf("t%d", rand.Uint32())}
}

// offer is an SDP offer of the audio formats with the attribute lines.
func (c *sdpCaller) offer(formats string, attrs ...string) string {
	lines := append([]string{"v=0", "o=edge 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
		fmt.Sprintf("m=audio %d RTP/AVP %s", c.rtp.LocalAddr().(*net.UDPAddr).Port, formats)}, attrs...)
	return strings.Join(lines, "\r\n") + "\r\n"
}

// send sends a request of the dialog with CSeq cseq on branch.
func (c *sdpCaller) send(t *testing.T, method string, cseq int, branch, body string) {
	t.Helper()
	local := c.conn.LocalAddr().String()
	var b strings.Builder
	fmt.Fprintf(&b, "%s sip:wideband@%s SIP/2.0\r\n", method, c.target)
	fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=%s;rport\r\n", local, branch)
	b.WriteString("Max-Forwards: 70\r\n")
	fmt.Fprintf(&b, "From: <sip:caller@%s>;tag=%s\r\n", local, c.tag)
	to := fmt.Sprintf("To: <sip:wideband@%s>", c.target.Addr())
	if c.toTag != "" {
		to += ";tag=" + c.toTag
	}
	fmt.Fprintf(&b, "%s\r\nCall-ID: %s\r\nCSeq: %d %s\r\n", to, c.callID, cseq, method)
	fmt.Fprintf(&b, "Contact: <sip:caller@%s>\r\n", local)
	if body != "" {
		b.WriteString("Content-Type: application/sdp\r\n")
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
	if _, err := c.conn.WriteToUDPAddrPort([]byte(b.String()), c.target); err != nil {
		t.Fatal(err)
	}
}

// request sends a new request (INVITE, BYE) with its own branch and
// waits for its final response, which must have code; a non-2xx final
// response to an INVITE is acknowledged.
func (c *sdpCaller) request(t *testing.T, method, body string, code int) *sip.Response {
	t.Helper()
	c.cseq++
	branch := fmt.Sprintf("z9hG4bK-%d", rand.Uint64())
	c.send(t, method, c.cseq, branch, body)
	buf := make([]byte, 65535)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_ = c.conn.SetReadDeadline(deadline)
		n, err := c.conn.Read(buf)
		if err != nil {
			t.Fatalf("no final response to %s: %v", method, err)
		}
		res, ok := parseResponse(buf[:n])
		if !ok || res.CSeq() == nil || int(res.CSeq().SeqNo) != c.cseq || res.StatusCode < 200 {
			continue
		}
		if res.StatusCode != code {
			t.Fatalf("%s answered %d %s, want %d", method, res.StatusCode, res.Reason, code)
		}
		if method == "INVITE" {
			if tag, ok := res.To().Params.Get("tag"); ok && c.toTag == "" {
				c.toTag = tag
			}
			if code >= 300 {
				c.send(t, "ACK", c.cseq, branch, "")
			} else {
				c.send(t, "ACK", c.cseq, fmt.Sprintf("z9hG4bK-%d", rand.Uint64()), "")
			}
		}
		return res
	}
}

// A gateway started with --prefer-wideband answers a caller that offers
// PCMU before G722 with G722 on the caller's payload type, names it in its
// "call answered" line, and refuses a re-INVITE that drops G722 with 488
// and a line naming the problem, the call going on until the caller's BYE.
func TestPreferWidebandAnswersG722(t *testing.T) {
	env := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{Args: []string{"--prefer-wideband"}}})
	env.App.DocTo("/app", "wideband", `<Response><Pause length="60"/></Response>`)
	base := env.Baseline(t)
	by := env.Bystander(t)

	c := newSDPCaller(t, env.SIPAddr())
	ok := c.request(t, "INVITE", c.offer("0 97 101", "a=rtpmap:97 G722/8000", "a=rtpmap:101 telephone-event/8000"), 200)
	body := string(ok.Body())
	for _, line := range []string{" RTP/AVP 97 101\r\n", "a=rtpmap:97 G722/8000\r\n", "a=rtpmap:101 telephone-event/8000\r\n"} {
		if !strings.Contains(body, line) {
			t.Errorf("answer lacks %q:\n%s", line, body)
		}
	}
	if strings.Contains(body, "PCMU") {
		t.Errorf("answer lists PCMU beside G722:\n%s", body)
	}
	env.WaitLog(t, "INFO", "call answered", map[string]string{"codec": "G722/8000(16000)", "payload_type": "97"})

	c.request(t, "INVITE", c.offer("0", "a=rtpmap:0 PCMU/8000"), 488)
	env.WaitLog(t, "INFO", "re-INVITE refused", map[string]string{"status": "488", "error": "drops the call's codec G722/8000 pt 97"})
	c.request(t, "INVITE", c.offer("0 97", "a=rtpmap:97 G722/8000"), 200)
	c.request(t, "BYE", "", 200)

	env.Survived(t, by, base, 10*time.Second)
}
