package store

import (
	"reflect"
	"strings"
	"testing"

	"github.com/provisiond/provisiond/internal/keypair"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey/tpmtest"
)

// A handoff whose key is in the TPM names a TSS2 key file; reading it back
// pairs the certificate with the file's public area (no TPM needed) and
// refuses a TSS2 file of another key.
func TestCredentialsWithATPMKey(t *testing.T) {
	sw := tpmtest.Start(t)
	tpm, err := tpmkey.Open(tpmkey.Settings{Device: sw.Device})
	if err != nil {
		t.Fatal(err)
	}
	defer tpm.Close()
	key, err := tpm.CreateKey("ec-p256")
	if err != nil {
		t.Fatal(err)
	}
	other, err := tpm.CreateKey("ec-p256")
	if err != nil {
		t.Fatal(err)
	}
	d, c, _ := provisioned(t)
	certPEM := tpmtest.NewCA(t).Issue("gw-0001", key.Public())
	cert, err := keypair.Certificate(certPEM)
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, d, "identities/2/certificate.pem", certPEM, 0o644)
	mustWrite(t, d, "identities/2/private.tss2.pem", key.File(), 0o640)
	c.CertificateFile = d.Path("identities/2/certificate.pem")
	c.PrivateKeyFile = d.Path("identities/2/private.tss2.pem")
	c.CertificateID = keypair.ID(cert)
	c.PrivateKeyType, c.PrivateKeyHandle = "tss2", "0x81000001"
	if err := WriteCredentials(d, c); err != nil {
		t.Fatal(err)
	}
	got, err := ReadCredentials(d.Path(CredentialsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) || !got.Equal(c) {
		t.Fatalf("ReadCredentials:\n got %+v\nwant %+v", got, c)
	}
	unpersisted := got
	unpersisted.PrivateKeyHandle = ""
	if unpersisted.Equal(c) {
		t.Error("Equal ignores privateKeyHandle")
	}

	mustWrite(t, d, "identities/2/private.tss2.pem", other.File(), 0o640)
	if _, err := ReadCredentials(d.Path(CredentialsFile)); err == nil || !strings.Contains(err.Error(), "privateKeyFile") {
		t.Fatalf("another TPM key's file: %v, want an error naming privateKeyFile", err)
	}
}
