package attest_test

import (
	"context"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/provisiond/provisiond/internal/attest"
	"github.com/provisiond/provisiond/internal/attest/attesttest"
)

// The hook allows the good provisioning with the thing named from the
// manufacturer certificate, over the device's own choice, and denies each
// attack, logging the check that failed.
func TestHookAnswers(t *testing.T) {
	sc := attesttest.SignatureScenario(t)
	core, logs := observer.New(zap.InfoLevel)
	h := &attest.Hook{Verifier: verifier(sc), Log: zap.New(core)}
	sc.Good.Parameters["ThingName"] = "chosen-by-the-device"
	rsp, err := h.Handle(context.Background(), sc.Good)
	if err != nil || !rsp.AllowProvisioning || rsp.ParameterOverrides["ThingName"] != sc.Unit.Serial {
		t.Fatalf("good provisioning: %+v %v", rsp, err)
	}
	logs.TakeAll()
	for _, a := range sc.Attacks {
		rsp, err := h.Handle(context.Background(), a.Event)
		if err != nil || rsp.AllowProvisioning || len(rsp.ParameterOverrides) != 0 {
			t.Errorf("%s: %+v %v", a.Name, rsp, err)
			continue
		}
		denied := logs.TakeAll()
		if len(denied) != 1 || denied[0].Message != "provisioning denied" {
			t.Fatalf("%s: logged %v", a.Name, denied)
		}
		fields := denied[0].ContextMap()
		if fields["check"] != string(a.Check) || !strings.HasPrefix(fields["reason"].(string), string(a.Check)+": ") ||
			fields["certificateId"] != a.Event.CertificateID {
			t.Errorf("%s: logged %v", a.Name, fields)
		}
	}
}
