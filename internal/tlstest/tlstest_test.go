package tlstest

import (
	"crypto/tls"
	"io"
	"net"
	"testing"
)

// A client with the client configuration completes a handshake with a
// server using the server configuration, at 127.0.0.1 and at localhost;
// the files hold a pair that loads; a client without the roots is refused.
func TestConfigsAndFiles(t *testing.T) {
	certFile, keyFile, server, client := Files(t)
	if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		t.Fatalf("the files do not load: %v", err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", server)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.WriteString(c, "hello")
			}()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	for _, host := range []string{"127.0.0.1", "localhost"} {
		c, err := tls.Dial("tcp", net.JoinHostPort(host, port), client.Clone())
		if err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil || string(got) != "hello" {
			t.Fatalf("%s: read %q, %v", host, got, err)
		}
	}
	_, other := Configs(t)
	if c, err := tls.Dial("tcp", ln.Addr().String(), other); err == nil {
		c.Close()
		t.Fatal("a client trusting another certificate completed the handshake")
	}
}
