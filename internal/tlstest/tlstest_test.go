package tlstest

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A client with the client configuration gets an answer from a server
// with the server configuration, at 127.0.0.1 and at localhost; the files
// hold a pair that loads; a client trusting another certificate is
// refused.
func TestConfigsAndFiles(t *testing.T) {
	certFile, keyFile, server, client := Files(t)
	if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		t.Fatalf("the files do not load: %v", err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "hello")
	}))
	srv.TLS = server
	srv.StartTLS()
	defer srv.Close()
	get := func(cfg *tls.Config, url string) (string, error) {
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
		defer c.CloseIdleConnections()
		res, err := c.Get(url)
		if err != nil {
			return "", err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return string(b), err
	}
	for _, url := range []string{srv.URL, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)} {
		if got, err := get(client, url); err != nil || got != "hello" {
			t.Fatalf("%s: %q, %v", url, got, err)
		}
	}
	_, other := Configs(t)
	if _, err := get(other, srv.URL); err == nil {
		t.Fatal("a client trusting another certificate was answered")
	}
}
