package device_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/provisiond/provisiond/internal/attest"
	"github.com/provisiond/provisiond/internal/attest/attesttest"
	"github.com/provisiond/provisiond/internal/attest/device"
	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey/tpmtest"
)

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// verified checks the prover's parameters with the hook's verifier.
func verified(t *testing.T, oem *attesttest.CA, p attesttest.Provisioning, params map[string]string) *attest.Verified {
	t.Helper()
	ev := p.Event
	ev.Parameters = params
	got, err := (&attest.Verifier{Roots: oem.Pool()}).Verify(ev)
	if err != nil {
		t.Fatalf("the hook denies the device's statement: %v", err)
	}
	return got
}

func TestSignatureStatement(t *testing.T) {
	oem, service := attesttest.NewCA(t, "Test OEM Root"), attesttest.NewCA(t, "AWS IoT stand-in")
	unit := attesttest.SignatureUnit(t, oem, "SN-DEVICE")
	key := newKey(t)
	p := attesttest.NewProvisioning(t, service, key.Public(), attesttest.Template, attesttest.ClientID)
	set := config.Attestation{Format: attest.FormatSignature, Key: unit.KeyFile, Certificate: unit.CertificateFile, Names: attest.DefaultNames}
	noTPM := func() (*tpmkey.TPM, error) { t.Fatal("a key file needs no TPM"); return nil, nil }
	params, err := device.New(set, noTPM).Parameters(p.Message.CertificateID, attesttest.Template, attesttest.ClientID,
		[]byte(p.Event.CertificatePEM), key)
	if err != nil {
		t.Fatal(err)
	}
	if got := verified(t, oem, p, params); got.ThingName != "SN-DEVICE" {
		t.Errorf("thing %q", got.ThingName)
	}

	// Another unit's certificate with this key: refused on the device, naming the setting.
	other := attesttest.SignatureUnit(t, oem, "SN-OTHER")
	set.Certificate = other.CertificateFile
	_, err = device.New(set, noTPM).Parameters(p.Message.CertificateID, attesttest.Template, attesttest.ClientID,
		[]byte(p.Event.CertificatePEM), key)
	if err == nil || !strings.HasPrefix(err.Error(), "attestation.key: ") {
		t.Errorf("mismatched certificate: %v", err)
	}
}

func TestTPM2CertifyStatement(t *testing.T) {
	sw := tpmtest.Start(t)
	oem, service := attesttest.NewCA(t, "Test OEM Root"), attesttest.NewCA(t, "AWS IoT stand-in")
	unit := attesttest.TPMUnit(t, oem, "SN-DEVICE-TPM", sw.Device, sw.TCTI(), 0x81020000)
	tp, err := tpmkey.Open(tpmkey.Settings{Device: sw.Device})
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	key, err := tp.CreateKey("ec-p256")
	if err != nil {
		t.Fatal(err)
	}
	set := config.Attestation{Format: attest.FormatTPM2Certify, Key: "handle:0x81020000", Certificate: unit.CertificateFile, Names: attest.DefaultNames}
	prover := device.New(set, func() (*tpmkey.TPM, error) { return tp, nil })
	p := attesttest.NewProvisioning(t, service, key.Public(), attesttest.Template, attesttest.ClientID)
	params, err := prover.Parameters(p.Message.CertificateID, attesttest.Template, attesttest.ClientID, []byte(p.Event.CertificatePEM), key)
	if err != nil {
		t.Fatal(err)
	}
	if got := verified(t, oem, p, params); got.ThingName != "SN-DEVICE-TPM" || got.Format != attest.FormatTPM2Certify {
		t.Errorf("verified %+v", got)
	}
	for name, tc := range map[string]struct {
		set  config.Attestation
		key  crypto.Signer
		want string
	}{
		"a software device key": {set, newKey(t), "tpm2-certify certifies a device key in the TPM"},
		"no AK at the handle":   {withKey(set, "handle:0x81020005"), key, "attestation.key: no attestation key at 0x81020005"},
	} {
		_, err := device.New(tc.set, func() (*tpmkey.TPM, error) { return tp, nil }).Parameters(
			p.Message.CertificateID, attesttest.Template, attesttest.ClientID, []byte(p.Event.CertificatePEM), tc.key)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

func withKey(a config.Attestation, key string) config.Attestation {
	a.Key = key
	return a
}
