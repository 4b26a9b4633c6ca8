package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/attest"
	"github.com/provisiond/provisiond/internal/attest/attesttest"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey/tpmtest"
)

// benchmarkHook times one hook request as Lambda hands it over (JSON in,
// JSON out through aws-lambda-go's handler). Warm: the function's process
// has answered before. Cold: the process's own work after it starts, from
// reading the roots to the first answer (the Lambda platform's start of
// the process comes on top, and is not ours to measure here).
func benchmarkHook(b *testing.B, sc *attesttest.Scenario) {
	event, err := json.Marshal(sc.Good)
	if err != nil {
		b.Fatal(err)
	}
	roots := filepath.Join(b.TempDir(), "oem-roots.pem")
	writeFile(b, roots, sc.OEM.PEM())
	o := options{roots: roots, thingNameFrom: string(attest.FromSubjectSerial), thingNameParameter: "ThingName"}
	answer := func(h lambda.Handler) {
		out, err := h.Invoke(context.Background(), event)
		var rsp attest.Response
		if err != nil || json.Unmarshal(out, &rsp) != nil || !rsp.AllowProvisioning {
			b.Fatalf("answered %s, %v", out, err)
		}
	}
	b.Run("warm", func(b *testing.B) {
		hook, err := newHook(o, zap.NewNop())
		if err != nil {
			b.Fatal(err)
		}
		h := lambda.NewHandler(hook.Handle)
		answer(h)
		for b.Loop() {
			answer(h)
		}
	})
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			hook, err := newHook(o, zap.NewNop())
			if err != nil {
				b.Fatal(err)
			}
			answer(lambda.NewHandler(hook.Handle))
		}
	})
}

func BenchmarkHookSignature(b *testing.B) { benchmarkHook(b, attesttest.SignatureScenario(b)) }

func BenchmarkHookTPM2Certify(b *testing.B) {
	tpm := tpmtest.Start(b)
	benchmarkHook(b, attesttest.TPMScenario(b, tpm.Device, tpm.TCTI()))
}

// The hook's cold start as a process: from starting attest-hook --listen
// to its first answer (runtime start, roots, first verification).
func BenchmarkHookProcessColdStart(b *testing.B) {
	sc := attesttest.SignatureScenario(b)
	attesttest.HookBinary(b)
	for b.Loop() {
		h := attesttest.StartHook(b, sc.OEM.PEM())
		if rsp := h.Post(b, sc.Good); !rsp.AllowProvisioning {
			b.Fatalf("denied: %s", h.Stderr)
		}
		b.StopTimer()
		h.Stop()
		b.StartTimer()
	}
}
