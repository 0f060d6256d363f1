package sip

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sippOfferScenario is a SIPp UAC scenario that offers the audio formats
// %[1]s with the attribute lines %[2]s, fails unless the 200 OK's SDP
// matches every regular expression of %[3]s, then ACKs and hangs up.
const sippOfferScenario = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="callstream sip negotiation">
  <send retrans="500">
    <![CDATA[
      INVITE sip:15559990000@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "SIPp" <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:15559990000@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 1 1 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP %[1]s
%[2]s      a=ptime:20

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="200" rtd="true">
    <action>
%[3]s    </action>
  </recv>
  <send>
    <![CDATA[
      ACK sip:15559990000@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "SIPp" <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:15559990000@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <pause milliseconds="200"/>
  <send retrans="500">
    <![CDATA[
      BYE sip:15559990000@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "SIPp" <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:15559990000@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"/>
  <Reference variables="%[4]s"/>
</scenario>
`

// sippOffer writes the scenario of an offer of formats with the rtpmap
// lines attrs whose answer must match every regular expression of want.
func sippOffer(formats string, attrs, want []string) string {
	var a, checks strings.Builder
	for _, l := range attrs {
		fmt.Fprintf(&a, "      %s\n", l)
	}
	var vars []string
	for i, re := range want {
		v := "m" + strconv.Itoa(i)
		vars = append(vars, v)
		fmt.Fprintf(&checks, "      <ereg regexp=%q search_in=\"body\" check_it=\"true\" assign_to=%q/>\n", re, v)
	}
	return fmt.Sprintf(sippOfferScenario, formats, a.String(), checks.String(), strings.Join(vars, ","))
}

// SIPp, a third-party UAC, offers one codec on a dynamic or static payload
// type, or narrowband before G722 to a server preferring wideband: SIPp
// checks the answer's SDP, the server's Accept reports the same codec.
func TestSIPpNegotiation(t *testing.T) {
	sipp := sippPath(t)
	results := make(chan accepted, 1)
	srv := startServer(t, Config{PreferWideband: true, Handler: func(ctx context.Context, c *Invite) {
		m, err := c.Accept(netip.MustParseAddrPort("127.0.0.1:44000"))
		<-ctx.Done()
		results <- accepted{c, m, err}
	}})
	for name, tc := range map[string]struct {
		formats string
		attrs   []string
		answer  []string
		want    Codec
	}{
		"only 96 PCMA": {"96", []string{"a=rtpmap:96 PCMA/8000"},
			[]string{"m=audio 44000 RTP/AVP 96[[:space:]]", "a=rtpmap:96 PCMA/8000"}, pcma(96)},
		"only 9 G722": {"9", []string{"a=rtpmap:9 G722/8000"},
			[]string{"m=audio 44000 RTP/AVP 9[[:space:]]", "a=rtpmap:9 G722/8000"}, g722(9)},
		"G722 after PCMU": {"0 9 101", []string{"a=rtpmap:101 telephone-event/8000"},
			[]string{"m=audio 44000 RTP/AVP 9 101[[:space:]]", "a=rtpmap:9 G722/8000", "a=rtpmap:101 telephone-event/8000"}, g722(9)},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "offer.xml"), []byte(sippOffer(tc.formats, tc.attrs, tc.answer)), 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, sipp, "-sf", "offer.xml", srv.Addr(),
				"-i", "127.0.0.1", "-p", strconv.Itoa(freeUDPPort(t)), "-mp", strconv.Itoa(freeUDPPort(t)),
				"-m", "1", "-l", "1", "-timeout", "15s", "-timeout_error", "-nostdin")
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("sipp failed (its checks of the answer among them): %v\n%s", err, out)
			}
			var a accepted
			select {
			case a = <-results:
			case <-time.After(5 * time.Second):
				t.Fatal("handler did not see the BYE")
			}
			if a.err != nil || a.m.Codec != tc.want {
				t.Fatalf("Accept agreed %v (%v), want %v", a.m.Codec, a.err, tc.want)
			}
			waitDone(t, a.c, EndRemoteBye)
		})
	}
}
