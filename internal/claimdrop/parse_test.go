package claimdrop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testClaim is a claim as CreateProvisioningClaim makes it: an RSA-2048 key
// in PKCS #1 form and a certificate valid for 7 minutes.
func testClaim(t *testing.T, notBefore time.Time) (certPEM, keyPEM string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: "AWS IoT Certificate", OrganizationalUnit: []string{"Amazon IoT Provisioning"}},
		NotBefore:    notBefore,
		NotAfter:     notBefore.Add(7 * time.Minute),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	keyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}))
	return certPEM, keyPEM
}

func rawJSON(t *testing.T, fields map[string]any) []byte {
	t.Helper()
	data, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseCreateProvisioningClaimJSON(t *testing.T) {
	nb := time.Now().Add(-time.Minute).Truncate(time.Second).UTC()
	certPEM, keyPEM := testClaim(t, nb)
	expiration := nb.Add(6 * time.Minute)
	for name, exp := range map[string]any{
		"epoch seconds": float64(expiration.Unix()),
		"RFC 3339":      expiration.Format(time.RFC3339),
	} {
		t.Run(name, func(t *testing.T) {
			c, err := Parse(rawJSON(t, map[string]any{
				"certificatePem": certPEM,
				"keyPair":        map[string]string{"PublicKey": "-----BEGIN PUBLIC KEY-----\n", "PrivateKey": keyPEM},
				"expiration":     exp,
				"templateName":   "GatewayTemplate",
				"parameters":     map[string]string{"SerialNumber": "42"},
			}))
			if err != nil {
				t.Fatal(err)
			}
			if !c.NotAfter.Equal(expiration) {
				t.Errorf("NotAfter = %v, want the expiration %v (earlier than the certificate's)", c.NotAfter, expiration)
			}
			if c.TemplateName != "GatewayTemplate" || c.Parameters["SerialNumber"] != "42" {
				t.Errorf("template %q parameters %v", c.TemplateName, c.Parameters)
			}
			if len(c.CertificateID) != 64 {
				t.Errorf("CertificateID = %q", c.CertificateID)
			}
			if strings.Contains(c.String(), "PRIVATE") {
				t.Errorf("String quotes the key: %s", c)
			}
			back, err := Parse(c.Encode())
			if err != nil {
				t.Fatalf("Parse(Encode()) = %v", err)
			}
			if back.CertificateID != c.CertificateID || !back.NotAfter.Equal(c.NotAfter) || back.TemplateName != c.TemplateName {
				t.Errorf("Encode round trip: %+v, want %+v", back, c)
			}
		})
	}
}

func TestParsePEMPair(t *testing.T) {
	certPEM, keyPEM := testClaim(t, time.Now().Add(-time.Minute))
	c, err := Parse([]byte(keyPEM + certPEM))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := c.Certificate()
	if err != nil || !c.NotAfter.Equal(cert.NotAfter.UTC()) {
		t.Fatalf("NotAfter %v, certificate %v (%v)", c.NotAfter, cert, err)
	}
}

func TestParseRefuses(t *testing.T) {
	certPEM, keyPEM := testClaim(t, time.Now().Add(-time.Minute))
	_, otherKey := testClaim(t, time.Now())
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalECPrivateKey(ec)
	ecPEM := string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}))
	good := map[string]any{"certificatePem": certPEM, "keyPair": map[string]string{"PrivateKey": keyPEM}}
	with := func(k string, v any) []byte {
		m := map[string]any{}
		for a, b := range good {
			m[a] = b
		}
		m[k] = v
		return rawJSON(t, m)
	}
	full := rawJSON(t, good)
	tests := []struct {
		name  string
		data  []byte
		field string
		words string
	}{
		{"an endpoint", with("endpoint", "evil.example.com:8883"), "endpoint", "never carries the endpoint"},
		{"a root CA", with("rootCa", certPEM), "rootCa", "never carries the endpoint or the root CA"},
		{"half written", full[:len(full)/2], "", "not complete JSON"},
		{"an unknown field", with("thingName", "x"), "thingName", "unknown field"},
		{"another key", with("keyPair", map[string]string{"PrivateKey": otherKey}), "keyPair.PrivateKey", "does not belong"},
		{"an EC key of another pair", with("keyPair", map[string]string{"PrivateKey": ecPEM}), "keyPair.PrivateKey", "does not belong"},
		{"a wrong certificate id", with("certificateId", strings.Repeat("ab", 32)), "certificateId", "not the id"},
		{"no certificate", rawJSON(t, map[string]any{"keyPair": map[string]string{"PrivateKey": keyPEM}}), "certificatePem", "missing"},
		{"a bad expiration", with("expiration", "tomorrow"), "expiration", "not a time"},
		{"a key without certificate", []byte(keyPEM), "", "no certificate"},
		{"garbage", []byte("hello"), "", "neither"},
		{"empty", []byte("  \n"), "", "empty"},
		{"too large", []byte(strings.Repeat(" ", MaxSize+1)), "", "more than a claim can be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.data)
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("Parse = %v, want an *Error", err)
			}
			if de.Field != tt.field || !strings.Contains(err.Error(), tt.words) {
				t.Errorf("error %q (field %q), want field %q and %q", err, de.Field, tt.field, tt.words)
			}
			if strings.Contains(err.Error(), "MII") || strings.Contains(err.Error(), "PRIVATE KEY-----") {
				t.Errorf("error quotes key material: %q", err)
			}
		})
	}
}

func TestFolderIgnoresHalfWrittenAndTempFiles(t *testing.T) {
	state := t.TempDir()
	certPEM, keyPEM := testClaim(t, time.Now().Add(-time.Minute))
	c, err := Parse([]byte(certPEM + keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	path, err := Put(state, c)
	if err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(Folder(state)); err != nil || info.Mode().Perm() != FolderMode {
		t.Fatalf("folder mode %v (%v), want %v", info.Mode().Perm(), err, FolderMode)
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o600 {
		t.Fatalf("drop mode %v, want 0600", info.Mode().Perm())
	}
	dir := Folder(state)
	full := c.Encode()
	os.WriteFile(filepath.Join(dir, "half.json"), full[:len(full)/3], 0o600)
	os.WriteFile(filepath.Join(dir, ".claim-x.json.tmp-123"), full, 0o600)
	os.WriteFile(filepath.Join(dir, ".hidden"), full, 0o600)

	drops, err := List(state)
	if err != nil {
		t.Fatal(err)
	}
	var usable, broken int
	for _, d := range drops {
		switch {
		case d.Err == nil && d.Claim.CertificateID == c.CertificateID && d.Path == path:
			usable++
		case d.Err != nil && filepath.Base(d.Path) == "half.json":
			broken++
		default:
			t.Errorf("unexpected drop %s: %v", d.Path, d.Err)
		}
	}
	if usable != 1 || broken != 1 {
		t.Fatalf("usable %d, half-written reported %d: %+v", usable, broken, drops)
	}
	if err := Remove(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("drop still there after Remove: %v", err)
	}
}

// A claim root imports is handed to the state directory's owner, the
// daemon's user, which must read and remove it.
func TestPutGivesTheDropToTheStateDirectorysOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test changes file owners: run it as root, as CI does")
	}
	state := t.TempDir()
	if err := os.Chown(state, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM := testClaim(t, time.Now().Add(-time.Minute))
	c, err := Parse([]byte(certPEM + keyPEM))
	if err != nil {
		t.Fatal(err)
	}
	path, err := Put(state, c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{Folder(state), path} {
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st := info.Sys().(*syscall.Stat_t); st.Uid != 65534 || st.Gid != 65534 {
			t.Errorf("%s is owned by %d:%d, want the state directory's 65534:65534", p, st.Uid, st.Gid)
		}
	}
}

func TestListMissingFolder(t *testing.T) {
	drops, err := List(filepath.Join(t.TempDir(), "none"))
	if err != nil || len(drops) != 0 {
		t.Fatalf("List = %v, %v", drops, err)
	}
}
