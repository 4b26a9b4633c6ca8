package attest_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/provisiond/provisiond/internal/attest"
	"github.com/provisiond/provisiond/internal/attest/attesttest"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey/tpmtest"
)

func verifier(sc *attesttest.Scenario) *attest.Verifier {
	return &attest.Verifier{Roots: sc.OEM.Pool()}
}

// checkScenario asserts the good provisioning passes, named from the
// manufacturer certificate, and every attack is denied by its check.
func checkScenario(t *testing.T, sc *attesttest.Scenario) {
	t.Helper()
	v := verifier(sc)
	got, err := v.Verify(sc.Good)
	if err != nil {
		t.Fatalf("good provisioning denied: %v", err)
	}
	if got.ThingName != sc.Unit.Serial || got.Format != sc.Unit.Format {
		t.Errorf("verified %+v, want thing %s format %s", got, sc.Unit.Serial, sc.Unit.Format)
	}
	for _, a := range sc.Attacks {
		t.Run(a.Name, func(t *testing.T) {
			_, err := v.Verify(a.Event)
			var d *attest.Denial
			if !errors.As(err, &d) {
				t.Fatalf("allowed (err %v), want a denial by %s", err, a.Check)
			}
			if d.Check != a.Check {
				t.Errorf("denied by %s (%v), want %s", d.Check, err, a.Check)
			}
		})
	}
}

func TestSignatureFormat(t *testing.T) {
	checkScenario(t, attesttest.SignatureScenario(t))
}

func TestTPM2CertifyFormat(t *testing.T) {
	tpm := tpmtest.Start(t)
	checkScenario(t, attesttest.TPMScenario(t, tpm.Device, tpm.TCTI()))
}

// The chain is judged at the verifier's time: a unit whose certificate was
// good when it was made is refused once it has expired.
func TestChainValidityAtVerifierTime(t *testing.T) {
	sc := attesttest.SignatureScenario(t)
	v := verifier(sc)
	for _, tc := range []struct {
		name string
		at   time.Time
		want attest.Check
	}{
		{"now", time.Now(), ""},
		{"before the certificate", time.Now().Add(-48 * time.Hour), attest.CheckChain},
		{"after the certificate", time.Now().Add(30 * 365 * 24 * time.Hour), attest.CheckChain},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v.Now = func() time.Time { return tc.at }
			_, err := v.Verify(sc.Good)
			var d *attest.Denial
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("denied: %v", err)
			case tc.want != "" && (!errors.As(err, &d) || d.Check != tc.want):
				t.Fatalf("got %v, want a denial by %s", err, tc.want)
			}
		})
	}
}

func TestThingNameSources(t *testing.T) {
	sc := attesttest.SignatureScenario(t)
	for _, tc := range []struct {
		src  attest.ThingNameSource
		want string
	}{
		{attest.FromSubjectSerial, "SN-SIG-0001"},
		{attest.FromCommonName, ""}, // "provisiond attestation" has a space: not a thing name
	} {
		v := verifier(sc)
		v.ThingName = tc.src
		got, err := v.Verify(sc.Good)
		if tc.want == "" {
			var d *attest.Denial
			if !errors.As(err, &d) || d.Check != attest.CheckThingName {
				t.Errorf("%s: got %v, want a thing-name denial", tc.src, err)
			}
			continue
		}
		if err != nil || got.ThingName != tc.want {
			t.Errorf("%s: got %v %v, want %s", tc.src, got, err, tc.want)
		}
	}
	v := verifier(sc)
	v.ThingName = attest.FromCertificateSerial
	got, err := v.Verify(sc.Good)
	if err != nil || len(got.ThingName) < 2 || got.ThingName != hexSerial(got) {
		t.Errorf("certificate-serial: got %v %v", got, err)
	}
	if _, err := attest.ParseThingNameSource("mac"); err == nil {
		t.Error("ParseThingNameSource accepted mac")
	}
}

func hexSerial(v *attest.Verified) string {
	return fmt.Sprintf("%x", v.Manufacturer.SerialNumber.Bytes())
}
