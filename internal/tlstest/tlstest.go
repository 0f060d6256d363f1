// Package tlstest makes self-signed certificates for tests on loopback:
// a server's TLS configuration, a client's that trusts it, and PEM files for
// a process started with a certificate and key.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Configs makes a self-signed certificate for 127.0.0.1 and localhost and
// returns a server configuration with it and a client configuration that
// trusts it.
func Configs(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	c := newCert(t)
	return c.server(), c.client()
}

// Files is Configs that also writes the certificate and its key (PEM) into
// a temporary directory of t and returns their paths.
func Files(t testing.TB) (certFile, keyFile string, server, client *tls.Config) {
	t.Helper()
	c := newCert(t)
	kb, err := x509.MarshalECPrivateKey(c.key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.leaf.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, c.server(), c.client()
}

// cert is a self-signed certificate and its key.
type cert struct {
	key  *ecdsa.PrivateKey
	leaf *x509.Certificate
}

func newCert(t testing.TB) *cert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "callstream test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &cert{key: key, leaf: leaf}
}

func (c *cert) server() *tls.Config {
	pair := tls.Certificate{Certificate: [][]byte{c.leaf.Raw}, PrivateKey: c.key, Leaf: c.leaf}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
}

func (c *cert) client() *tls.Config {
	roots := x509.NewCertPool()
	roots.AddCert(c.leaf)
	return &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
}
