package edge

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/callstream/callstream/internal/assets"
	"github.com/callstream/callstream/internal/servetest"
	"github.com/callstream/callstream/internal/sipcaller"
)

// strangerFrame is the payload of a stranger's RTP: a pattern no speech
// frame holds, so that any of it reaching an app is seen.
var strangerFrame = bytes.Repeat([]byte("STRANGER-RTP-"), 13)[:160]

// stranger sends RTP to a call's RTP port from a socket of its own.
type stranger struct {
	uc   *net.UDPConn
	to   netip.AddrPort
	hdr  rtp.Header
	buf  []byte
	mu   sync.Mutex
	sent int
}

// newStranger binds a UDP socket on ip (any port) that sends to to.
func newStranger(t *testing.T, ip string, to netip.AddrPort, ssrc uint32) *stranger {
	t.Helper()
	uc, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip), 0)))
	if err != nil {
		t.Fatalf("stranger socket on %s: %v", ip, err)
	}
	t.Cleanup(func() { uc.Close() })
	return &stranger{uc: uc, to: to, hdr: rtp.Header{Version: 2, PayloadType: 0, SSRC: ssrc, SequenceNumber: 1000}, buf: make([]byte, 0, 200)}
}

// send sends one 20 ms PCMU packet of strangerFrame.
func (s *stranger) send() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := (&rtp.Packet{Header: s.hdr, Payload: strangerFrame}).Marshal()
	if err != nil {
		return err
	}
	s.hdr.SequenceNumber++
	s.hdr.Timestamp += 160
	if _, err := s.uc.WriteToUDPAddrPort(b, s.to); err != nil {
		return err
	}
	s.sent++
	return nil
}

// Sent returns the packets sent so far.
func (s *stranger) Sent() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent
}

// run sends a packet every period until ctx is done or stop is closed.
func (s *stranger) run(ctx context.Context, period time.Duration, stop <-chan struct{}) error {
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-stop:
			return nil
		case <-tick.C:
			if err := s.send(); err != nil {
				return err
			}
		}
	}
}

// While a call streams, two strangers send RTP to its port — one from
// another loopback address, one from another port of the caller's address,
// with SSRCs of their own. None of their audio reaches the app, every packet
// is counted as an rtp_source refusal, the warning is logged once rather
// than per packet, the caller's audio comes through intact, and so does a
// bystander's call.
func TestStrayRTPDropped(t *testing.T) {
	env := servetest.StartEnv(t, servetest.EnvOptions{})
	base := env.Baseline(t)
	by := env.Bystander(t)

	routeStream(env, "victim")
	c, err := env.Dial(t, sipcaller.Config{To: "victim"})
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	sid := env.CallSid(t, "victim")
	conn := env.StreamConn(t, "/victim")
	speech := assets.Speech()[:24000]
	sent := make(chan error, 1)
	go func() { sent <- c.SendAudio(servetest.Context(t, 20*time.Second), speech) }()
	servetest.Eventually(t, 10*time.Second, "the app gets the caller's audio", func() bool {
		_, n := servetest.Media(t, conn)
		return n >= 10
	})

	before := env.Refusals(t, "rtp_source")
	callerIP := c.LocalRTP().Addr().String()
	strangers := []*stranger{
		newStranger(t, "127.0.0.2", c.RemoteRTP(), 0x5EED0001),
		newStranger(t, callerIP, c.RemoteRTP(), 0x5EED0002),
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, s := range strangers {
		wg.Go(func() {
			if err := s.run(servetest.Context(t, 20*time.Second), 10*time.Millisecond, stop); err != nil {
				t.Errorf("stranger: %v", err)
			}
		})
	}
	if err := <-sent; err != nil {
		t.Fatalf("caller audio: %v", err)
	}
	close(stop)
	wg.Wait()
	total := strangers[0].Sent() + strangers[1].Sent()
	if total < 100 {
		t.Fatalf("the strangers sent only %d packets while the caller spoke", total)
	}
	servetest.Eventually(t, 10*time.Second, "every stranger packet counted as an rtp_source refusal", func() bool {
		return env.Refusals(t, "rtp_source")-before == float64(total)
	})
	if err := c.Hangup(servetest.Context(t, 5*time.Second)); err != nil {
		t.Fatalf("hangup: %v", err)
	}
	select {
	case <-conn.Closed():
	case <-time.After(10 * time.Second):
		t.Fatal("the victim's stream did not close after the hangup")
	}

	audio, frames := servetest.Media(t, conn)
	if bytes.Contains(audio, strangerFrame[:26]) {
		t.Fatal("a stranger's RTP payload reached the app")
	}
	if !bytes.Contains(audio, speech) {
		t.Fatalf("the app got %d frames that do not hold the caller's %d frames intact", frames, len(speech)/160)
	}
	// The first drop is logged, then the total when the call's receiver
	// stops: not a line per packet.
	var warns []map[string]any
	servetest.Eventually(t, 5*time.Second, "the final count of dropped packets is logged", func() bool {
		warns = warns[:0]
		for _, l := range env.Logs.Lines() {
			if l["msg"] == "RTP from an unexpected source dropped" {
				warns = append(warns, l)
			}
		}
		return len(warns) >= 2
	})
	if len(warns) != 2 || warns[0]["level"] != "WARN" || warns[0]["call_sid"] != sid ||
		!strings.HasPrefix(warns[0]["source"].(string), "127.0.0.") || warns[1]["dropped"] != float64(total) {
		t.Fatalf("want 2 warnings for the call (first drop, then %d dropped), got %v", total, warns)
	}
	env.Survived(t, by, base, 10*time.Second)
}

// A caller that vanishes without BYE while a stranger keeps sending RTP to
// its port is still hung up after --rtp-timeout: the stranger's packets do
// not count as the caller's.
func TestStrangerCannotKeepVanishedCallAlive(t *testing.T) {
	t.Parallel() // mostly waits out a timeout: it overlaps the other such tests
	env := servetest.StartEnv(t, servetest.EnvOptions{Options: servetest.Options{Args: []string{"--rtp-timeout", "2s"}}})
	base := env.Baseline(t)
	by := env.Bystander(t)

	routeStream(env, "vanish")
	c, err := env.Dial(t, sipcaller.Config{To: "vanish"})
	if err != nil {
		t.Fatalf("call: %v", err)
	}
	sid := env.CallSid(t, "vanish")
	conn := env.StreamConn(t, "/vanish")
	if err := c.SendAudio(servetest.Context(t, 10*time.Second), assets.Speech()[:8000]); err != nil {
		t.Fatalf("caller audio: %v", err)
	}
	vanished := time.Now() // the caller sends nothing more and no BYE

	before := env.Refusals(t, "rtp_source")
	s := newStranger(t, "127.0.0.2", c.RemoteRTP(), 0x5EED0003)
	errc := make(chan error, 1)
	go func() { errc <- s.run(servetest.Context(t, 30*time.Second), 20*time.Millisecond, c.Ended()) }()
	select {
	case <-c.Ended():
	case <-time.After(15 * time.Second):
		t.Fatalf("the call is still up %s after the caller vanished, with a stranger sending (%d packets)", time.Since(vanished).Round(time.Millisecond), s.Sent())
	}
	after := time.Since(vanished)
	if err := <-errc; err != nil {
		t.Fatalf("stranger: %v", err)
	}
	if after < 2*time.Second {
		t.Fatalf("the call ended %s after the caller's last packet, before the 2 s RTP timeout", after)
	}
	if s.Sent() < 50 {
		t.Fatalf("the stranger sent only %d packets before the call ended", s.Sent())
	}
	env.Logs.Wait(t, 5*time.Second, "the gateway logs the RTP timeout", func() bool {
		return env.Logs.Find("WARN", "no RTP from caller: hanging up", map[string]string{"call_sid": sid}) != nil &&
			env.Logs.Find("INFO", "call released", map[string]string{"call_sid": sid, "reason": "rtp timeout"}) != nil
	})
	if got := env.Refusals(t, "rtp_source") - before; got < 50 || got > float64(s.Sent()) {
		t.Fatalf("%v rtp_source refusals for %d stranger packets", got, s.Sent())
	}
	audio, _ := servetest.Media(t, conn)
	if bytes.Contains(audio, strangerFrame[:26]) {
		t.Fatal("a stranger's RTP payload reached the app")
	}
	env.Survived(t, by, base, 10*time.Second)
}
