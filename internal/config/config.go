package config

import (
	"time"

	"github.com/provisiond/provisiond/internal/keypair/p11key"
	"github.com/provisiond/provisiond/internal/keypair/tpmkey"
)

// DefaultPath is where the daemon looks when --config is not given.
const DefaultPath = "/etc/provisiond/config.yaml"

// Config is a loaded, validated config file. Paths are absolute.
type Config struct {
	// Path is the file the config came from.
	Path string

	// Proxy is http(s)://[user:pass@]host:port; "" means HTTPS_PROXY/NO_PROXY decide.
	// It may hold a password: never log it (proxy.Redact).
	Proxy   string
	ProxyCA string // PEM CAs for an https:// or intercepting proxy

	Endpoint          string // host:port (port defaults to 8883)
	RootCA            string
	Claims            []Claim // in priority order; see claims.go
	Template          Template
	PayloadFormat     string // json | cbor
	CertificateMethod string // csr | create-keys
	KeyType           string // ec-p256 | ec-p384 | rsa-2048 | rsa-3072
	ClientID          string // "" means derive from /etc/machine-id
	StateDirectory    string
	LogLevel          string // debug | info | warn | error
	Retry             Retry

	// Rotation and VerifyEvery (0: off) keep the identity alive; see rotation.go.
	Rotation    Rotation
	VerifyEvery time.Duration

	// Where the device key lives (keystore.go): "file", "tpm" or "pkcs11",
	// the TPM that holds TPM keys, the device key's or the claim key's, and
	// the PKCS#11 token that holds token keys (pkcs11.go). PKCS11.PIN names
	// where the PIN is, never the PIN.
	KeyStore string
	TPM      tpmkey.Settings
	PKCS11   p11key.Settings

	// Attestation (attestation.go) proves the unit to the template's hook.
	Attestation Attestation

	// lines maps a field ("claim.certificate", "template.parameters.Serial")
	// to its line in the file, so later checks can point at it too.
	lines map[string]int
}

// Template names the provisioning template and its parameters. Parameter
// values may hold ${machine_id}, ${hostname}, ${mac:IFACE}, ${file:PATH} or
// ${env:NAME}; Parameters returns them expanded.
type Template struct {
	Name       string
	Parameters map[string]string
}

// Retry tunes backoff. Defaults: see DefaultRetry.
type Retry struct {
	Initial           time.Duration
	Max               time.Duration
	Permanent         time.Duration
	TokenSafeLifetime time.Duration
	ResponseTimeout   time.Duration
}

// DefaultRetry is the one owner of the retry defaults: 1s initial, 5m max
// for transient errors, 1h for permanent ones; token safe lifetime 55m;
// response timeout 30s.
func DefaultRetry() Retry {
	return Retry{
		Initial:           time.Second,
		Max:               5 * time.Minute,
		Permanent:         time.Hour,
		TokenSafeLifetime: 55 * time.Minute,
		ResponseTimeout:   30 * time.Second,
	}
}
