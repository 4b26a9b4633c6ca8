package tpmkey_test

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey/tpmtest"
)

// A TPM key proves the device in mutual TLS 1.2 and 1.3 with Go's
// crypto/tls, for every key type (RSA in TLS 1.3 is RSA-PSS).
func TestMutualTLSWithTPMKey(t *testing.T) {
	sw := tpmtest.Start(t)
	tpm := open(t, tpmkey.Settings{Device: sw.Device})
	ca := tpmtest.NewCA(t)
	for _, keyType := range tpmkey.KeyTypes {
		key := createKey(t, tpm, keyType)
		cert, err := key.TLSCertificate(ca.Issue("device-"+keyType, key.Public()))
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			t.Run(keyType+"/"+tls.VersionName(v), func(t *testing.T) {
				addr, clients := tpmtest.MutualTLSServer(t, ca, v)
				conn, err := tls.Dial("tcp", addr, &tls.Config{
					RootCAs:      ca.Pool(),
					ServerName:   "localhost",
					Certificates: []tls.Certificate{cert},
					MinVersion:   v,
					MaxVersion:   v,
				})
				if err != nil {
					t.Fatalf("handshake: %v (signer: %v)", err, key.SignError())
				}
				defer conn.Close()
				select {
				case cn := <-clients:
					if cn != "device-"+keyType {
						t.Fatalf("server saw %q", cn)
					}
				case <-time.After(30 * time.Second):
					t.Fatal("the server never verified the client")
				}
			})
		}
	}
}

func TestTLSCertificateRefusesAnotherKeysCertificate(t *testing.T) {
	sw := tpmtest.Start(t)
	tpm := open(t, tpmkey.Settings{Device: sw.Device})
	ca := tpmtest.NewCA(t)
	a, b := createKey(t, tpm, "ec-p256"), createKey(t, tpm, "ec-p256")
	if _, err := a.TLSCertificate(ca.Issue("b", b.Public())); err == nil {
		t.Fatal("paired a certificate with another key")
	}
}
