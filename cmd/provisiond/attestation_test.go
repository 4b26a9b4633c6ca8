package main

import (
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-tpm/tpm2"

	"github.com/provisiond/provisiond/internal/attest"
	"github.com/provisiond/provisiond/internal/attest/attesttest"
	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/fleetsim"
	"github.com/provisiond/provisiond/internal/keypair"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey/tpmtest"
	"github.com/provisiond/provisiond/internal/store"
)

// attestedEmulator is fleetsim whose demo template names the thing from
// the hook's override only, with attest-hook --listen (trusting oem) as its
// pre-provisioning hook, and the daemon's config with yamlExtra.
func attestedEmulator(t *testing.T, oem *attesttest.CA, yamlExtra string) (string, *attesttest.Hook) {
	t.Helper()
	hook := attesttest.StartHook(t, oem.PEM())
	path, _ := startPreparedEmulator(t, fleetsim.Options{}, yamlExtra, func(dir string) {
		for name, data := range map[string][]byte{
			fleetsim.DemoTemplate + ".json":          []byte(attest.ExampleTemplate),
			fleetsim.DemoTemplate + ".settings.json": attesttest.TemplateSettings(hook.URL),
		} {
			if err := os.WriteFile(filepath.Join(dir, "templates", name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	})
	return path, hook
}

// The daemon attests its provisioning, between CreateCertificateFromCsr and
// RegisterThing: against fleetsim with attest-hook --listen as the hook, a
// unit the factory script made provisions as the thing its manufacturer
// certificate names (the config's SerialNumber is ignored).
func TestEndToEndAttested(t *testing.T) {
	t.Run("tpm2-certify", func(t *testing.T) {
		sw := tpmtest.Start(t)
		oem := attesttest.NewCA(t, "Test OEM Root")
		const ak = 0x81020000
		unit := attesttest.TPMUnit(t, oem, "SN-DAEMON-TPM", sw.Device, sw.TCTI(), ak)
		path, hook := attestedEmulator(t, oem, tpmYAML(sw, "ec-p256", "")+fmt.Sprintf(
			"attestation:\n  format: tpm2-certify\n  key: \"handle:0x%08x\"\n  certificate: %s\n", ak, unit.CertificateFile))
		cfg := provision(t, path)
		creds := tpmCredentials(t, cfg)
		if creds.ThingName != unit.Serial {
			t.Fatalf("thing %q, want %q from the manufacturer certificate; hook:\n%s", creds.ThingName, unit.Serial, hook.Stderr)
		}
		assertTPMKeyIsTheCertificates(t, sw, creds)
		hook.Stderr.WaitFor(t, `"thingName": "SN-DAEMON-TPM", "format": "tpm2-certify"`)
		assertAttestationKeyKept(t, sw.Device, ak, unit.Chain[0])
	})
	t.Run("signature", func(t *testing.T) {
		oem := attesttest.NewCA(t, "Test OEM Root")
		unit := attesttest.SignatureUnit(t, oem, "SN-DAEMON-SIG")
		path, hook := attestedEmulator(t, oem, fmt.Sprintf(
			"attestation:\n  format: signature\n  key: %s\n  certificate: %s\n", unit.KeyFile, unit.CertificateFile))
		cfg := provision(t, path)
		creds, err := store.ReadCredentials(filepath.Join(cfg.StateDirectory, store.CredentialsFile))
		if err != nil {
			t.Fatal(err)
		}
		if creds.ThingName != unit.Serial {
			t.Fatalf("thing %q, want %q; hook:\n%s", creds.ThingName, unit.Serial, hook.Stderr)
		}
		hook.Stderr.WaitFor(t, `"thingName": "SN-DAEMON-SIG", "format": "signature"`)
	})
}

// assertAttestationKeyKept checks that the AK the factory made is still at
// its handle: the key the manufacturer certificate certifies.
func assertAttestationKeyKept(t *testing.T, device string, h tpm2.TPMHandle, certDER []byte) {
	t.Helper()
	tp, err := tpmkey.Open(tpmkey.Settings{Device: device})
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	key, err := tp.LoadAttestationKey(h, "attestation.key")
	if err != nil {
		t.Fatalf("the attestation key is gone: %v", err)
	}
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		t.Fatal(err)
	}
	if err := keypair.MatchPublic(cert, key.Public()); err != nil {
		t.Fatalf("the key at the attestation handle is not the one the manufacturer certified: %v", err)
	}
}

// A device whose config does not attest, with only the claim, is denied
// by the hook: the daemon records the refusal and provisions nothing.
func TestClaimWithoutAttestationIsDenied(t *testing.T) {
	oem := attesttest.NewCA(t, "Test OEM Root")
	path, hook := attestedEmulator(t, oem, "")
	runDaemonUntilAFailureIsSaved(t, path)
	cfg, err := config.LoadValid(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.LoadState(store.ReadOnlyDir(cfg.StateDirectory))
	if err != nil {
		t.Fatal(err)
	}
	if st.Phase == store.Registered || !strings.Contains(st.LastError, "403 AccessDenied") {
		t.Fatalf("state %s, last error %q; want a 403 refusal", st.Phase, st.LastError)
	}
	hook.Stderr.WaitFor(t, `"check": "format", "reason": "format: no AttestationFormat parameter`)
}
