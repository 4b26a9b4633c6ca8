package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writePair writes a self-signed certificate and its key into dir.
func writePair(t *testing.T, dir, certName, keyName string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeCert(t, filepath.Join(dir, certName), certName, key)
	if keyName != "" {
		write(t, filepath.Join(dir, keyName), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	}
}

// writeCert writes a self-signed certificate for key, valid for an hour
// either side of now.
func writeCert(t *testing.T, path, commonName string, key *ecdsa.PrivateKey) {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: commonName},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	write(t, path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// checkedConfig writes base with its files into a temp folder and loads it.
func checkedConfig(t *testing.T) (*Config, string) {
	t.Helper()
	dir := t.TempDir()
	writePair(t, dir, "ca.pem", "")
	writePair(t, dir, "claim.crt", "claim.key")
	path := filepath.Join(dir, "config.yaml")
	write(t, path, []byte(base+"state_directory: state/deep\n"))
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return c, dir
}

func TestCheckFilesValid(t *testing.T) {
	c, dir := checkedConfig(t)
	if err := c.CheckFiles(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "state")); !os.IsNotExist(err) {
		t.Errorf("CheckFiles created the state directory (%v); it should only check", err)
	}
}

func TestCheckFilesProblems(t *testing.T) {
	for _, tc := range []struct {
		name       string
		breakFiles func(t *testing.T, dir string)
		line       int
		field      string
		want       []string
	}{
		{"missing claim certificate", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "claim.crt"))
		}, 4, "claim.certificate", []string{"claim.crt", "no such file"}},
		{"missing claim key", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "claim.key"))
		}, 5, "claim.private_key", []string{"claim.key", "no such file"}},
		{"claim key of another certificate", func(t *testing.T, dir string) {
			writePair(t, dir, "unused.crt", "claim.key")
		}, 5, "claim.private_key", []string{"claim.key", "does not match", "claim.crt"}},
		{"claim certificate not PEM", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "claim.crt"), []byte("hello"))
		}, 4, "claim.certificate", []string{"claim.crt", "no PEM certificate"}},
		{"claim key not PEM", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "claim.key"), []byte("hello"))
		}, 5, "claim.private_key", []string{"claim.key", "no PEM private key"}},
		{"root CA not PEM", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "ca.pem"), []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
		}, 2, "root_ca", []string{"ca.pem"}},
		{"missing root CA", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "ca.pem"))
		}, 2, "root_ca", []string{"ca.pem", "no such file"}},
		{"state directory under a file", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "state"), nil)
		}, 14, "state_directory", []string{"state", "not a folder"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, dir := checkedConfig(t)
			tc.breakFiles(t, dir)
			err := c.CheckFiles()
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("CheckFiles = %v, want *Error", err)
			}
			if e.Field != tc.field || e.Line != tc.line || e.File != c.Path {
				t.Errorf("got %q line %d in %q, want %q line %d (%v)", e.Field, e.Line, e.File, tc.field, tc.line, err)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestCheckFilesReportsEveryProblem(t *testing.T) {
	c, dir := checkedConfig(t)
	os.Remove(filepath.Join(dir, "ca.pem"))
	os.Remove(filepath.Join(dir, "claim.key"))
	err := c.CheckFiles()
	for _, field := range []string{"root_ca:", "claim.private_key:"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("CheckFiles = %v, want it to mention %s", err, field)
		}
	}
}

func TestCheckFilesOnBuiltConfig(t *testing.T) {
	// Configs built in code have no line numbers; errors still name the field.
	c := &Config{Path: "/x.yaml"}
	err := c.CheckFiles()
	if err == nil || !strings.Contains(err.Error(), "/x.yaml: root_ca: not set") {
		t.Fatalf("CheckFiles = %v", err)
	}
}
