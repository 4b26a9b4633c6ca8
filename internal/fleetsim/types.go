package fleetsim

import (
	"io"
	"time"

	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/clock"
	"github.com/provisiond/provisiond/internal/fleetsim/registry"
)

// InitOptions for Init. The zero value writes one claim valid until 2049, the demo
// template, and provisiond.yaml for 127.0.0.1:8883.
type InitOptions struct {
	Listen string // default "127.0.0.1:8883"
	// Claims is how many claim certificates to write (0 and 1: one); NoClaim writes none,
	// nor provisiond.yaml, nor the claim policy.
	Claims  int
	NoClaim bool
	// ExpiredClaims makes the first N claims expired an hour ago.
	ExpiredClaims int
	// ClaimNotAfter, when set, is the other claims' notAfter instead of 2049-12-31.
	ClaimNotAfter time.Time
	// NoTemplate leaves templates/ empty.
	NoTemplate bool
}

// Options configure a running emulator.
type Options struct {
	Dir        string             // folder made by Init
	Listen     string             // "127.0.0.1:0" in tests; "" means the address Init recorded
	ALPNListen string             // optional second listener, 443 style: requires ALPN x-amzn-mqtt-ca
	TokenTTL   time.Duration      // default 1h
	Faults     []Fault            // from ParseFault
	Rates      map[string]float64 // per operation ("create-keys", "create-from-csr", "register"): requests/s; 0 = unlimited
	Logger     *zap.Logger

	// Clock is the emulator's time: certificate validity, tokens, their
	// sweep, rate limits and registry timestamps; nil means clock.Real().
	// Tests pass a clock.Fake to expire tokens without sleeping.
	Clock clock.Clock
	// KeepCSRSubject keeps the CSR's subject in issued certificates instead of
	// CN=AWS IoT Certificate (AWS's behaviour here is not documented).
	KeepCSRSubject bool
	// Link emulates a network link on every connection (fleetsim serve --link-rtt).
	Link Link
	// Trace, if set, receives a JSON line per connection event and MQTT
	// packet (fleetsim serve --trace FILE); see TraceEvent.
	Trace io.Writer
	// APIListen, when set, serves the AWS IoT control-plane API there ("127.0.0.1:0": a
	// free port). APICredentials, when set, is the only access key it accepts, with the
	// SigV4 signature verified; nil accepts any request.
	APIListen      string
	APICredentials *APICredentials
	// CertificateValidity, when positive, is how long issued device certificates are
	// valid; zero means until 2049-12-31 as AWS issues them.
	CertificateValidity time.Duration
	// ProvisioningClaimValidity is how long a claim from CreateProvisioningClaim is
	// valid (its expiration and X.509 notAfter); zero means 5 minutes as AWS.
	ProvisioningClaimValidity time.Duration
	// HookTimeout bounds a pre-provisioning hook call; zero means 5s as AWS documents.
	HookTimeout time.Duration
}

// The registry's records, as `fleetsim registry` prints them (see package registry).
type (
	Registry    = registry.Snapshot
	Certificate = registry.Certificate
	Thing       = registry.Thing
	Policy      = registry.Policy
)

// Certificate statuses and kinds.
const (
	StatusPendingActivation = registry.StatusPendingActivation
	StatusActive            = registry.StatusActive
	StatusInactive          = registry.StatusInactive
	StatusRevoked           = registry.StatusRevoked
	StatusDeleted           = registry.StatusDeleted
	KindClaim               = registry.KindClaim
	KindProvisioningClaim   = registry.KindProvisioningClaim
	KindDevice              = registry.KindDevice
)

// ReadRegistry reads the whole registry of dir, live: serve may be running (for
// `fleetsim registry`).
func ReadRegistry(dir string) (Registry, error) { return registry.Read(dir) }

// ReadThing reads one thing of dir's registry; fs.ErrNotExist if there is none.
func ReadThing(dir, name string) (Thing, error) { return registry.ReadThing(dir, name) }

// ReadCertificate reads one certificate of dir's registry; fs.ErrNotExist if there is none.
func ReadCertificate(dir, id string) (Certificate, error) { return registry.ReadCertificate(dir, id) }
