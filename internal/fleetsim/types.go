package fleetsim

import (
	"io"
	"time"

	"go.uber.org/zap"

	"github.com/provisiond/provisiond/internal/clock"
)

// InitOptions for Init. Listen defaults to "127.0.0.1:8883".
type InitOptions struct{ Listen string }

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
	// HookTimeout bounds a pre-provisioning hook call; zero means 5s as AWS documents.
	HookTimeout time.Duration
}

// Certificate statuses.
const (
	StatusPendingActivation = "PENDING_ACTIVATION"
	StatusActive            = "ACTIVE"
	StatusInactive          = "INACTIVE"
	StatusDeleted           = "DELETED"
)

// Certificate kinds.
const (
	KindClaim  = "claim"
	KindDevice = "device"
)

// Registry is what the emulator knows, as `fleetsim registry` prints it.
type Registry struct {
	Things       []Thing       `json:"things"`
	Certificates []Certificate `json:"certificates"`
	Policies     []Policy      `json:"policies"`
	Orphans      []Certificate `json:"orphans"` // deleted unused certificates (token expired)
}

// Certificate is one registered certificate.
type Certificate struct {
	CertificateID  string    `json:"certificateId"` // SHA-256 of DER, lowercase hex
	Status         string    `json:"status"`        // PENDING_ACTIVATION | ACTIVE | INACTIVE | DELETED
	Kind           string    `json:"kind"`          // claim | device
	ThingName      string    `json:"thingName,omitempty"`
	Policies       []string  `json:"policies,omitempty"`
	CreatedAt      time.Time `json:"createdAt"`
	CertificatePEM string    `json:"certificatePem"`
}

// Thing is one registered thing.
type Thing struct {
	ThingName    string            `json:"thingName"`
	ThingType    string            `json:"thingTypeName,omitempty"`
	Attributes   map[string]string `json:"attributes,omitempty"`
	Groups       []string          `json:"thingGroups,omitempty"`
	BillingGroup string            `json:"billingGroup,omitempty"`
	Certificates []string          `json:"certificates"` // attached certificate ids
}

// Policy is one policy known to the registry.
type Policy struct {
	PolicyName     string `json:"policyName"`
	PolicyDocument string `json:"policyDocument,omitempty"`
}
