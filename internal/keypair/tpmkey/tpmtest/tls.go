package tpmtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"testing"
	"time"
)

// CA is a throwaway certificate authority for handshake tests.
type CA struct {
	Cert *x509.Certificate
	PEM  []byte
	key  crypto.Signer
	tb   testing.TB
}

// NewCA makes a CA with a fresh P-256 key.
func NewCA(tb testing.TB) *CA {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tpmtest CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &CA{Cert: cert, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), key: key, tb: tb}
}

// Pool is a pool holding the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// Issue returns PEM of a certificate for pub, valid for client and server
// authentication, for 127.0.0.1 and localhost.
func (ca *CA) Issue(commonName string, pub crypto.PublicKey) []byte {
	ca.tb.Helper()
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: commonName},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.key)
	if err != nil {
		ca.tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// ServerCertificate is a server certificate and software key issued by ca.
func (ca *CA) ServerCertificate() tls.Certificate {
	ca.tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		ca.tb.Fatal(err)
	}
	certPEM := ca.Issue("localhost", key.Public())
	block, _ := pem.Decode(certPEM)
	return tls.Certificate{Certificate: [][]byte{block.Bytes}, PrivateKey: key}
}

// MutualTLSServer accepts TLS connections on 127.0.0.1 that present a
// client certificate issued by ca, at exactly version (tls.VersionTLS12 or
// 13), and sends each verified client's common name on the returned
// channel. It stops when the test ends.
func MutualTLSServer(tb testing.TB, ca *CA, version uint16) (addr string, clients <-chan string) {
	tb.Helper()
	cfg := &tls.Config{
		Certificates: []tls.Certificate{ca.ServerCertificate()},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ca.Pool(),
		MinVersion:   version,
		MaxVersion:   version,
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	out := make(chan string, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				tc := c.(*tls.Conn)
				tc.SetDeadline(time.Now().Add(30 * time.Second)) //nolint:errcheck // a net.Conn from Accept
				if err := tc.Handshake(); err != nil {
					tb.Logf("server handshake: %v", err)
					return
				}
				if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
					out <- certs[0].Subject.CommonName
				}
				tc.Write([]byte("hello\n")) //nolint:errcheck // the client may leave first
			}(c)
		}
	}()
	return ln.Addr().String(), out
}
