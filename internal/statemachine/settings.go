package statemachine

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/clock"
	"github.com/provisiond/provisiond/internal/config"
	"github.com/provisiond/provisiond/internal/keypair"
	"github.com/provisiond/provisiond/internal/keypair/keystore"
	"github.com/provisiond/provisiond/internal/rotation"
	"github.com/provisiond/provisiond/internal/store"
)

// Certificate methods.
const (
	MethodCSR        = "csr"
	MethodCreateKeys = "create-keys"
)

// Settings is the part of the config the runner acts on, already validated
// and expanded.
type Settings struct {
	Method   string // MethodCSR or MethodCreateKeys
	KeyType  string // for MethodCSR: ec-p256, ec-p384, rsa-2048, rsa-3072
	Template string // provisioning template name
	// ClaimImport: the config takes a temporary claim ({source: import}),
	// so that no claim yet is a wait for one, not a failure.
	ClaimImport bool
	Parameters  map[string]string // template parameters, already expanded
	Endpoint    string            // written to credentials.json
	RootCAFile  string            // absolute; written to credentials.json
	// CommonName is the subject of the CSR; empty means "provisiond". AWS
	// may replace it, so nothing relies on it.
	CommonName string
	Retry      config.Retry
	// WatchdogInterval is how often Notifier.Watchdog is called while the
	// loop is alive; 0 disables it.
	WatchdogInterval time.Duration
	// Rotation is when the registered identity is renewed by itself; the
	// zero Policy never.
	Rotation rotation.Policy
	// RotationTemplate, when set, makes a rotation ask for the new identity
	// over a session dialed with the current device certificate
	// (Dialer.DialDevice), registering with this template
	// (rotation.credential: device).
	RotationTemplate string
	// VerifyEvery is how often the identity is proven with one connect; 0
	// never (verify_every).
	VerifyEvery time.Duration
}

// Deps are the runner's connections to the world. Files and Dialer are
// required; the rest have production defaults.
type Deps struct {
	Files  store.Files
	Dialer Dialer
	Clock  clock.Clock // nil: clock.Real
	// KeyStore keeps the identities' private keys; nil keeps them in
	// files in Files (keystore.New makes the one key_store names).
	KeyStore keystore.Store
	Notify   Notifier    // nil: no service manager
	Logger   *zap.Logger // nil: no logs
	// Rand returns a number in [0, 1) for backoff jitter; nil: math/rand/v2.
	Rand func() float64
	Boot clock.Boot // nil: clock.SystemBoot
	// Attest, when set, adds the device attestation statement to
	// RegisterThing's parameters (attestation in the config).
	Attest Attester
	// OnSave, when set, is called with every state saved, in order.
	OnSave func(store.State)

	// crash is called after each persisted step with the name of that
	// point; tests set it (export_test.go) to stop a runner there.
	crash func(point string)
	// idling is called each time the registered loop starts to wait, with
	// the number of kicks it has taken; tests set it (export_test.go) to
	// know the runner has finished with their kicks.
	idling func(kicksTaken int)
}

func (s *Settings) check() error {
	switch s.Method {
	case MethodCSR:
		if !keypair.ValidKeyType(s.KeyType) {
			return fmt.Errorf("key type: must be one of %s, got %q", strings.Join(keypair.KeyTypes(), ", "), s.KeyType)
		}
	case MethodCreateKeys:
	default:
		return fmt.Errorf("certificate method: must be %s or %s, got %q", MethodCSR, MethodCreateKeys, s.Method)
	}
	if s.Template == "" {
		return errors.New("template name is empty")
	}
	if s.Endpoint == "" {
		return errors.New("endpoint is empty")
	}
	if s.RootCAFile == "" {
		return errors.New("root CA file is empty")
	}
	if s.VerifyEvery < 0 {
		return fmt.Errorf("verify interval must not be negative, got %s", s.VerifyEvery)
	}
	if s.WatchdogInterval < 0 {
		return fmt.Errorf("watchdog interval must not be negative, got %s", s.WatchdogInterval)
	}
	r, def := &s.Retry, config.DefaultRetry()
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{
		{&r.Initial, def.Initial},
		{&r.Max, def.Max},
		{&r.Permanent, def.Permanent},
		{&r.TokenSafeLifetime, def.TokenSafeLifetime},
		{&r.ResponseTimeout, def.ResponseTimeout},
	} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	if r.Max < r.Initial {
		r.Max = r.Initial
	}
	if s.CommonName == "" {
		s.CommonName = "provisiond"
	}
	return nil
}
