package sip

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// callee runs a second server that hands every incoming call to act.
func callee(t *testing.T, act func(ctx context.Context, c *Invite)) (*Server, chan *Invite) {
	t.Helper()
	calls := make(chan *Invite, 4)
	s := startServer(t, Config{Handler: func(ctx context.Context, c *Invite) {
		calls <- c
		act(ctx, c)
	}})
	return s, calls
}

// dialer runs the server that places calls; it refuses incoming ones.
func dialer(t *testing.T) *Server {
	t.Helper()
	return startServer(t, Config{Handler: func(context.Context, *Invite) {}})
}

var localRTP = netip.MustParseAddrPort("127.0.0.1:41000")

func answerWith(i int) func(ctx context.Context, c *Invite) {
	return func(ctx context.Context, c *Invite) {
		if err := c.Answer(netip.MustParseAddrPort("127.0.0.1:40000"), c.Offer.Codecs[i], c.Offer.DTMFType); err != nil {
			c.Logger().Error("answer", "error", err)
		}
		<-ctx.Done()
	}
}

func TestDialAnswerAndHangup(t *testing.T) {
	b, calls := callee(t, answerWith(1))
	a := dialer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	o, err := a.Dial(ctx, DialConfig{
		Target:      "sip:bob@" + b.Addr(),
		From:        "alice",
		FromDisplay: "Alice",
		Headers:     map[string]string{"X-Test": "42"},
		LocalRTP:    localRTP,
	})
	if err != nil {
		t.Fatal(err)
	}
	in := recvCall(t, calls)
	// What the callee saw.
	if in.From != "alice" || in.FromDisplay != "Alice" || in.To != "bob" || in.Headers["x-test"] != "42" {
		t.Errorf("callee saw from %q %q to %q headers %v", in.From, in.FromDisplay, in.To, in.Headers)
	}
	if codecNames(in.Offer.Codecs) != codecNames(gatewayCodecs(false)) || in.Offer.Codecs[2].Name != "G722" ||
		in.Offer.DTMFType != dtmfOfferType || in.Offer.CNType != cnStaticType || in.Offer.RTPAddr != netip.AddrPortFrom(a.publicIP, localRTP.Port()) {
		t.Errorf("offer %+v", in.Offer)
	}
	// What the dialer agreed.
	if o.Codec.Name != "PCMA" || o.Codec.PayloadType != 8 || o.DTMFType != dtmfOfferType {
		t.Errorf("agreed %+v dtmf %d", o.Codec, o.DTMFType)
	}
	if o.RemoteRTP() != netip.MustParseAddrPort("127.0.0.1:40000") || o.To != "bob" || o.CallID != in.CallID {
		t.Errorf("remote %v to %q call-id %q/%q", o.RemoteRTP(), o.To, o.CallID, in.CallID)
	}
	if !strings.HasPrefix(o.Headers["server"], "callstream") {
		t.Errorf("200 OK headers %v", o.Headers)
	}
	if err := o.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	waitDone(t, in, EndRemoteBye)
	if o.EndCause() != EndLocalBye {
		t.Errorf("cause %v", o.EndCause())
	}
	if err := o.Hangup(ctx); !errors.Is(err, ErrCallEnded) {
		t.Errorf("second hangup: %v", err)
	}
}

func TestDialRemoteBye(t *testing.T) {
	b, calls := callee(t, func(ctx context.Context, c *Invite) {
		answerWith(0)(ctx, c)
	})
	a := dialer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	o, err := a.Dial(ctx, DialConfig{Target: "bob@" + b.Addr(), LocalRTP: localRTP})
	if err != nil {
		t.Fatal(err)
	}
	if o.Codec.Name != "PCMU" || o.From != "callstream" {
		t.Errorf("codec %v from %q", o.Codec, o.From)
	}
	in := recvCall(t, calls)
	// The callee's Answer returns once our ACK is in.
	for err := in.Hangup(ctx); err != nil; err = in.Hangup(ctx) {
		if !errors.Is(err, ErrNotAnswered) || ctx.Err() != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case <-o.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("outgoing call not ended by the callee's BYE")
	}
	if o.EndCause() != EndRemoteBye {
		t.Errorf("cause %v", o.EndCause())
	}
}

func TestDialRefused(t *testing.T) {
	b, _ := callee(t, func(_ context.Context, c *Invite) { _ = c.Reject(486, "busy") })
	a := dialer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := a.Dial(ctx, DialConfig{Target: "sip:bob@" + b.Addr(), LocalRTP: localRTP})
	var de *DialError
	if !errors.As(err, &de) || de.Code != 486 || de.Reason != "Busy Here" {
		t.Fatalf("err %v", err)
	}
}

func TestDialCancelWhileRinging(t *testing.T) {
	b, calls := callee(t, func(ctx context.Context, c *Invite) {
		_ = c.Ringing()
		<-ctx.Done()
	})
	a := dialer(t)
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var progress []int
	rang := make(chan struct{})
	go func() {
		<-rang
		time.Sleep(50 * time.Millisecond)
		cancel()
	}()
	_, err := a.Dial(ctx, DialConfig{Target: "sip:bob@" + b.Addr(), LocalRTP: localRTP, OnProgress: func(code int, _ string) {
		mu.Lock()
		progress = append(progress, code)
		mu.Unlock()
		if code == 180 {
			close(rang)
		}
	}})
	if !errors.Is(err, ErrDialCancelled) {
		t.Fatalf("err %v", err)
	}
	in := recvCall(t, calls)
	waitDone(t, in, EndCancel)
	mu.Lock()
	defer mu.Unlock()
	if len(progress) != 1 || progress[0] != 180 {
		t.Errorf("progress %v", progress)
	}
}

func TestDialOverTCP(t *testing.T) {
	b, calls := callee(t, answerWith(0))
	a := dialer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	o, err := a.Dial(ctx, DialConfig{Target: "sip:bob@" + b.Addr() + ";transport=tcp", LocalRTP: localRTP})
	if err != nil {
		t.Fatal(err)
	}
	in := recvCall(t, calls)
	if in.Headers["via"] == "" || !strings.Contains(strings.ToUpper(in.Headers["via"]), "SIP/2.0/TCP") {
		t.Errorf("via %q", in.Headers["via"])
	}
	if err := o.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	waitDone(t, in, EndRemoteBye)
}

func TestDialShutdownSendsBye(t *testing.T) {
	b, calls := callee(t, answerWith(0))
	a, err := NewServer(Config{Addr: "127.0.0.1:0", Handler: func(context.Context, *Invite) {}})
	if err != nil {
		t.Fatal(err)
	}
	actx, stop := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- a.ListenAndServe(actx) }()
	<-a.Ready()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	o, err := a.Dial(ctx, DialConfig{Target: "sip:bob@" + b.Addr(), LocalRTP: localRTP})
	if err != nil {
		t.Fatal(err)
	}
	in := recvCall(t, calls)
	stop()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	waitDone(t, in, EndRemoteBye)
	if o.EndCause() != EndLocalBye {
		t.Errorf("cause %v", o.EndCause())
	}
	if _, err := a.Dial(ctx, DialConfig{Target: "sip:bob@" + b.Addr(), LocalRTP: localRTP}); !errors.Is(err, ErrNotListening) {
		t.Errorf("dial after shutdown: %v", err)
	}
}

func TestDialBadTarget(t *testing.T) {
	a := dialer(t)
	for _, target := range []string{"", "sips:bob@example.com", "sip:"} {
		if _, err := a.Dial(context.Background(), DialConfig{Target: target, LocalRTP: localRTP}); err == nil {
			t.Errorf("%q: no error", target)
		}
	}
}

// A target that never answers is given up at once when ctx ends: no
// provisional response came, so there is nothing to CANCEL and no reason
// to wait for the INVITE transaction's timeout.
func TestDialGivenUpBeforeAnyResponse(t *testing.T) {
	a := dialer(t)
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = a.Dial(ctx, DialConfig{Target: "sip:bob@" + silent.LocalAddr().String(), LocalRTP: localRTP})
	if !errors.Is(err, ErrDialCancelled) {
		t.Fatalf("err %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("gave up after %s", d)
	}
}
