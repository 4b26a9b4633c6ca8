package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"maps"
	"os"
	"testing"

	"github.com/provisiond/provisiond/internal/attest"
)

func newSoftwareKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// params are the statement's parameters with the device's own.
func params(t testing.TB, s attest.Statement, own map[string]string) map[string]string {
	t.Helper()
	p, err := s.Parameters(attest.DefaultNames)
	if err != nil {
		t.Fatal(err)
	}
	maps.Copy(p, own)
	return p
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
