package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
	"go.uber.org/zap/zaptest"

	"github.com/provisiond/provisiond/internal/attest"
	"github.com/provisiond/provisiond/internal/attest/attesttest"
	"github.com/provisiond/provisiond/internal/fleet"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey/tpmtest"
)

// checkListening runs the scenario against attest-hook --listen: the good
// provisioning is allowed with the thing named from the manufacturer
// certificate, and each attack is denied with its check in the log.
func checkListening(t *testing.T, sc *attesttest.Scenario) {
	h := attesttest.StartHook(t, sc.OEM.PEM())
	rsp := h.Post(t, sc.Good)
	if !rsp.AllowProvisioning || rsp.ParameterOverrides["ThingName"] != sc.Unit.Serial {
		t.Fatalf("good provisioning: %+v; stderr:\n%s", rsp, h.Stderr)
	}
	for _, a := range sc.Attacks {
		t.Run(a.Name, func(t *testing.T) {
			if rsp := h.Post(t, a.Event); rsp.AllowProvisioning || rsp.ParameterOverrides != nil {
				t.Fatalf("allowed: %+v", rsp)
			}
			// The line names the provisioning and the check.
			h.Stderr.WaitFor(t, `"certificateId": "`+a.Event.CertificateID+`", "clientId": "`+a.Event.ClientID+
				`", "template": "GatewayTemplate", "check": "`+string(a.Check)+`", "reason": "`+string(a.Check)+`: `)
		})
	}
}

func TestListeningHookSignature(t *testing.T) {
	checkListening(t, attesttest.SignatureScenario(t))
}

func TestListeningHookTPM2Certify(t *testing.T) {
	tpm := tpmtest.Start(t)
	checkListening(t, attesttest.TPMScenario(t, tpm.Device, tpm.TCTI()))
}

// fleetsim calls attest-hook --listen on RegisterThing: an attested device
// is provisioned as the thing its manufacturer certificate names, whatever
// it asked for; the claim alone provisions nothing.
func TestFleetsimWithListeningHook(t *testing.T) {
	const template = attesttest.Template
	t.Run("signature", func(t *testing.T) {
		oem := attesttest.NewCA(t, "Test OEM Root")
		unit := attesttest.SignatureUnit(t, oem, "SN-E2E-SIG")
		h := attesttest.StartHook(t, oem.PEM())
		e := startEmulator(t, template, h.URL)
		key := newSoftwareKey(t)
		reg, err := e.device(t, "gw-sig", key).provision(t, template, func(m attest.Message) map[string]string {
			return params(t, unit.Sign(t, m), map[string]string{"ThingName": "chosen-by-the-device"})
		})
		if err != nil || reg.ThingName != unit.Serial {
			t.Fatalf("provisioned %+v, %v; want thing %s; hook:\n%s", reg, err, unit.Serial, h.Stderr)
		}
		_, err = e.device(t, "gw-copied-claim", newSoftwareKey(t)).provision(t, template, func(attest.Message) map[string]string {
			return map[string]string{"ThingName": "gw-fake"}
		})
		var rej *fleet.RejectedError
		if !errors.As(err, &rej) || rej.StatusCode != 403 {
			t.Fatalf("claim alone: %v, want 403", err)
		}
		h.Stderr.WaitFor(t, `"check": "format"`)
	})
	t.Run("tpm2-certify", func(t *testing.T) {
		tpm := tpmtest.Start(t)
		oem := attesttest.NewCA(t, "Test OEM Root")
		unit := attesttest.TPMUnit(t, oem, "SN-E2E-TPM", tpm.Device, tpm.TCTI(), 0x81020000)
		h := attesttest.StartHook(t, oem.PEM())
		e := startEmulator(t, template, h.URL)
		tp, err := tpmkey.Open(tpmkey.Settings{Device: tpm.Device})
		if err != nil {
			t.Fatal(err)
		}
		defer tp.Close()
		key, err := tp.CreateKey("ec-p256")
		if err != nil {
			t.Fatal(err)
		}
		reg, err := e.device(t, "gw-tpm", key).provision(t, template, func(m attest.Message) map[string]string {
			return params(t, unit.Certify(t, tp, key, m), nil)
		})
		if err != nil || reg.ThingName != unit.Serial {
			t.Fatalf("provisioned %+v, %v; want thing %s; hook:\n%s", reg, err, unit.Serial, h.Stderr)
		}
	})
}

// The Lambda handler, through aws-lambda-go's own handler, answers an
// event recorded from fleetsim.
func TestLambdaHandlerWithEventRecordedFromFleetsim(t *testing.T) {
	oem := attesttest.NewCA(t, "Test OEM Root")
	unit := attesttest.SignatureUnit(t, oem, "SN-LAMBDA")
	var (
		mu       sync.Mutex
		recorded []byte
	)
	recorder := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		recorded = body
		mu.Unlock()
		io.WriteString(w, `{"allowProvisioning": false}`) //nolint:errcheck // test server
	}))
	defer recorder.Close()
	e := startEmulator(t, attesttest.Template, recorder.URL)
	_, err := e.device(t, "gw-lambda", newSoftwareKey(t)).provision(t, attesttest.Template, func(m attest.Message) map[string]string {
		return params(t, unit.Sign(t, m), nil)
	})
	if err == nil {
		t.Fatal("the recorder denies, yet the device was provisioned")
	}
	mu.Lock()
	event := recorded
	mu.Unlock()
	if event == nil {
		t.Fatal("fleetsim did not call the hook")
	}

	roots := t.TempDir() + "/oem-roots.pem"
	writeFile(t, roots, oem.PEM())
	hook, err := newHook(options{roots: roots, thingNameFrom: "subject-serial", thingNameParameter: "ThingName"}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	out, err := lambda.NewHandler(hook.Handle).Invoke(context.Background(), event)
	if err != nil {
		t.Fatal(err)
	}
	var rsp attest.Response
	if err := json.Unmarshal(out, &rsp); err != nil || !rsp.AllowProvisioning || rsp.ParameterOverrides["ThingName"] != "SN-LAMBDA" {
		t.Fatalf("Lambda answered %s (%v)", out, err)
	}
}
