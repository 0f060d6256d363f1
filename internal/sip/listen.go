package sip

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/callstream/callstream/internal/connlimit"
	"github.com/callstream/callstream/internal/limit"
)

// listeners are the server's bound sockets: UDP and TCP on one port, and
// TLS when configured. The stream listeners are bounded (connlimit).
type listeners struct {
	udp    net.PacketConn
	tcp    *connlimit.Listener
	tls    *connlimit.Listener // nil without TLS; tlsNet serves it
	tlsNet net.Listener
}

// listen binds the server's sockets and bounds the stream listeners.
func (s *Server) listen() (*listeners, error) {
	udp, tcp, err := listenPair(s.host, s.port)
	if err != nil {
		return nil, err
	}
	ls := &listeners{udp: udp}
	var rawTLS net.Listener
	if s.cfg.TLSAddr != "" {
		if rawTLS, err = net.Listen("tcp", s.cfg.TLSAddr); err != nil {
			return nil, errors.Join(fmt.Errorf("sip: listen tls %s: %w", s.cfg.TLSAddr, err), udp.Close(), tcp.Close())
		}
	}
	streams := 1
	if rawTLS != nil {
		streams++
	}
	conns := s.connBound(streams)
	ls.tcp = connlimit.Wrap(tcp, s.connConfig("sip-tcp", conns))
	if rawTLS != nil {
		ls.tls = connlimit.Wrap(rawTLS, s.connConfig("sip-tls", conns))
		ls.tlsNet = tls.NewListener(ls.tls, s.cfg.TLS)
	}
	return ls, nil
}

// listenPair binds UDP and TCP on the same port. With port 0 it retries until
// the kernel's UDP choice is also free for TCP.
func listenPair(host string, port int) (net.PacketConn, net.Listener, error) {
	const attempts = 32
	var lastErr error
	for i := 0; i < attempts; i++ {
		udp, err := net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return nil, nil, fmt.Errorf("sip: listen udp: %w", err)
		}
		p := udp.LocalAddr().(*net.UDPAddr).Port
		tcp, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err == nil {
			return udp, tcp, nil
		}
		lastErr = errors.Join(err, udp.Close())
		if port != 0 {
			break
		}
	}
	return nil, nil, fmt.Errorf("sip: listen tcp: %w", lastErr)
}

// connBound returns the connections each of streams stream listeners may
// hold: Limits.SIPConns, lowered so that together they stay within a
// quarter of the open-file limit (the rest is for RTP, app sockets and
// HTTP). 0 means no bound.
func (s *Server) connBound(streams int) int {
	conns, files := s.cfg.Limits.SIPConns, connlimit.FileLimit()
	if !limit.On(conns) {
		s.log.Warn("SIP TCP/TLS connections are not bounded; a flood of them can use up the open files",
			"file_limit", files)
		return 0
	}
	fit := connsWithin(conns, files, streams)
	if fit < conns {
		s.log.Info("SIP TCP/TLS connection bound lowered to a quarter of the open-file limit",
			"configured", conns, "max_per_listener", fit, "file_limit", files, "listeners", streams)
	}
	return fit
}

// connsWithin returns conns, lowered so that streams listeners holding
// that many each use at most a quarter of files (unknown when 0).
func connsWithin(conns, files, streams int) int {
	if files <= 0 {
		return conns
	}
	return min(conns, max(files/4/max(streams, 1), 1))
}

// connConfig is the connlimit configuration of a stream listener.
func (s *Server) connConfig(name string, conns int) connlimit.Config {
	idle := s.cfg.Limits.SIPIdle
	if !limit.On(idle) {
		idle = 0
	}
	return connlimit.Config{
		Max:         conns,
		Idle:        idle,
		Name:        name,
		Counter:     s.cfg.Refusals,
		Full:        limit.SIPConnsFull,
		IdleClosed:  limit.SIPConnIdle,
		AcceptError: limit.SIPAcceptError,
		Logger:      s.log,
	}
}

// close closes every listener.
func (ls *listeners) close() error {
	errs := []error{ignoreClosed(ls.udp.Close()), ignoreClosed(ls.tcp.Close())}
	if ls.tlsNet != nil {
		errs = append(errs, ignoreClosed(ls.tlsNet.Close()))
	}
	return errors.Join(errs...)
}

// serve serves each listener in a goroutine of its own (counted in wg)
// until it is closed. A listener that stops before shutdown is logged and
// the others go on: no listener error ends the server while calls are up.
func (s *Server) serve(srv *sipgo.Server, ls *listeners, wg *sync.WaitGroup) {
	run := func(name, addr string, serve func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := serve()
			select {
			case <-s.stopping:
				return
			default:
			}
			s.log.Error("SIP listener stopped; calls go on over the others", "listener", name, "addr", addr, "error", err)
		}()
	}
	run("sip-udp", ls.udp.LocalAddr().String(), func() error { return srv.ServeUDP(ls.udp) })
	run("sip-tcp", ls.tcp.Addr().String(), func() error { return srv.ServeTCP(ls.tcp) })
	if ls.tlsNet != nil {
		run("sip-tls", ls.tlsNet.Addr().String(), func() error { return srv.ServeTLS(ls.tlsNet) })
	}
}

// pin keeps the TCP or TLS connection a request came over open while the
// call it started lives; the returned func lets it idle out again.
func (s *Server) pin(req *sip.Request) func() {
	var l *connlimit.Listener
	switch strings.ToUpper(req.Transport()) {
	case "TCP":
		l = s.tcpLn
	case "TLS":
		l = s.tlsLn
	}
	if l == nil {
		return func() {}
	}
	return l.Pin(req.Source())
}

// noteSource records where the message being read comes from, for the
// summary of dropped messages.
func (s *Server) noteSource(addr net.Addr) {
	var ap netip.AddrPort
	switch a := addr.(type) {
	case *net.UDPAddr:
		ap = a.AddrPort()
	case *net.TCPAddr:
		ap = a.AddrPort()
	default:
		return
	}
	s.srcMu.Lock()
	s.lastSrc = ap
	s.srcMu.Unlock()
}

// lastSource returns the source of the message read last.
func (s *Server) lastSource() netip.AddrPort {
	s.srcMu.Lock()
	defer s.srcMu.Unlock()
	return netip.AddrPortFrom(s.lastSrc.Addr().Unmap(), s.lastSrc.Port())
}

// portOf returns the port of a listener's address, 0 if it has none.
func portOf(l net.Listener) int {
	_, p, err := net.SplitHostPort(l.Addr().String())
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}
