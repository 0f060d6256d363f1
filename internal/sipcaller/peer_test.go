package sipcaller

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// peer is a scripted SIP answerer for codecs the gateway's own SIP server
// does not negotiate: it answers every INVITE with 200 OK and the SDP
// answer() builds from the offer, takes the ACK and answers BYE. Its RTP
// side is the test's socket named in the answer.
type peer struct {
	addr   string
	invite chan []byte // offers received (INVITE bodies)
	mu     sync.Mutex
	acks   [][]byte // ACK bodies
}

// startPeer runs a peer on loopback answering with answer(offer).
func startPeer(t *testing.T, answer func(offer string) string) *peer {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("scripted-peer"), sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{addr: conn.LocalAddr().String(), invite: make(chan []byte, 16)}
	contact := &sip.ContactHeader{Address: sip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: conn.LocalAddr().(*net.UDPAddr).Port}}
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		p.invite <- append([]byte(nil), req.Body()...)
		res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", []byte(answer(string(req.Body()))))
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		res.AppendHeader(sip.HeaderClone(contact))
		_ = tx.Respond(res)
	})
	srv.OnAck(func(req *sip.Request, _ sip.ServerTransaction) {
		p.mu.Lock()
		p.acks = append(p.acks, append([]byte(nil), req.Body()...))
		p.mu.Unlock()
	})
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	})
	var serving sync.WaitGroup
	serving.Add(1)
	go func() {
		defer serving.Done()
		_ = srv.ServeUDP(conn)
	}()
	t.Cleanup(func() {
		_ = ua.Close()
		_ = conn.Close()
		serving.Wait()
	})
	return p
}

// sdpAnswer is an SDP body for RTP on port with the m= formats and
// attribute lines given.
func sdpAnswer(port int, formats string, lines ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=peer\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP %s\r\n", port, formats)
	for _, l := range lines {
		b.WriteString(l + "\r\n")
	}
	b.WriteString("a=sendrecv\r\n")
	return b.String()
}

// dialPeer places a call from a new client to p with cfg.
func dialPeer(t *testing.T, p *peer, cfg Config) *Call {
	t.Helper()
	client := newClient(t, ClientConfig{})
	cfg.Target, cfg.From, cfg.To = p.addr, "+15550001111", "+15550002222"
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	call, err := client.Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { call.Close() })
	return call
}
