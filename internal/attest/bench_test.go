package attest_test

import (
	"testing"

	"github.com/provisiond/provisiond/internal/attest"
	"github.com/provisiond/provisiond/internal/attest/attesttest"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey/tpmtest"
)

// The device's cost of the statement, between CreateCertificateFromCsr's
// answer and RegisterThing: a software signature.
func BenchmarkStatementSignature(b *testing.B) {
	oem, service := attesttest.NewCA(b, "Test OEM Root"), attesttest.NewCA(b, "AWS IoT stand-in")
	unit := attesttest.SignatureUnit(b, oem, "SN-BENCH")
	p := attesttest.NewProvisioning(b, service, unit.Signer.Public(), attesttest.Template, attesttest.ClientID)
	for b.Loop() {
		if _, err := attest.SignStatement(unit.Signer, unit.Chain, p.Message); err != nil {
			b.Fatal(err)
		}
	}
}

// The device's cost on swtpm: TPM2_Certify of the device key by the AK,
// both loaded for the command as the daemon loads them.
func BenchmarkStatementTPM2Certify(b *testing.B) {
	tpm := tpmtest.Start(b)
	oem, service := attesttest.NewCA(b, "Test OEM Root"), attesttest.NewCA(b, "AWS IoT stand-in")
	unit := attesttest.TPMUnit(b, oem, "SN-BENCH", tpm.Device, tpm.TCTI(), 0x81020000)
	t, err := tpmkey.Open(tpmkey.Settings{Device: tpm.Device})
	if err != nil {
		b.Fatal(err)
	}
	defer t.Close()
	key, err := t.CreateKey("ec-p256")
	if err != nil {
		b.Fatal(err)
	}
	p := attesttest.NewProvisioning(b, service, key.Public(), attesttest.Template, attesttest.ClientID)
	for b.Loop() {
		ak, err := t.LoadAttestationKey(unit.AK, "attestation.key")
		if err != nil {
			b.Fatal(err)
		}
		if _, _, _, err := t.Certify(key, ak, p.Message.Digest()); err != nil {
			b.Fatal(err)
		}
	}
}

func benchmarkVerify(b *testing.B, sc *attesttest.Scenario) {
	v := &attest.Verifier{Roots: sc.OEM.Pool()}
	for b.Loop() {
		if _, err := v.Verify(sc.Good); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifySignature(b *testing.B) { benchmarkVerify(b, attesttest.SignatureScenario(b)) }

func BenchmarkVerifyTPM2Certify(b *testing.B) {
	tpm := tpmtest.Start(b)
	benchmarkVerify(b, attesttest.TPMScenario(b, tpm.Device, tpm.TCTI()))
}
