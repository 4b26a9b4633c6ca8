package store

import (
	"maps"
	"time"
)

// Phase is a state of the provisioning state machine, stored as a string.
type Phase string

// The phases, in order.
const (
	Unprovisioned Phase = "unprovisioned"
	CertPending   Phase = "cert-pending"
	Registered    Phase = "registered"
)

// StateVersion is the format version written to the state file.
const StateVersion = 1

// State is everything the daemon needs to resume after a restart.
// File names are relative to the state directory.
type State struct {
	Version int   `json:"version"`
	Phase   Phase `json:"state"`

	// Identity numbers the per-identity folder; a new identity gets a new number,
	// so files named by an older credentials.json never change.
	Identity int `json:"identity"`
	// KeyFile is the private key of the current identity (CSR mode: created
	// before the CSR is sent and reused on retries).
	KeyFile string `json:"keyFile,omitempty"`
	// CertificateFile holds the issued certificate (PEM).
	CertificateFile string `json:"certificateFile,omitempty"`
	CertificateID   string `json:"certificateId,omitempty"`
	// OwnershipToken is a secret: it is never logged.
	OwnershipToken string    `json:"ownershipToken,omitempty"`
	TokenIssuedAt  time.Time `json:"tokenIssuedAt,omitzero"`
	// TokenBootID and TokenBootTime let the token's age be measured on the
	// boot clock when the device has not rebooted, immune to wall-clock jumps.
	TokenBootID   string        `json:"tokenBootId,omitempty"`
	TokenBootTime time.Duration `json:"tokenBootTime,omitempty"`

	ThingName           string            `json:"thingName,omitempty"`
	DeviceConfiguration map[string]string `json:"deviceConfiguration,omitempty"`
	ProvisionedAt       time.Time         `json:"provisionedAt,omitzero"`
	// HandedOver is the identity credentials.json names, saved with every
	// handoff; Retired is the one it named before, kept for consumers that
	// have not re-read it yet. Both survive a reprovision, so that old
	// identities are removed by the record, not by a guess.
	HandedOver int `json:"handedOver,omitempty"`
	Retired    int `json:"retired,omitempty"`

	// --- rotation and verification (issue 15)
	// RotationDueAt is when the identity is due for rotation by the
	// config's policy (jitter applied); zero when no policy applies.
	// It is computed from the certificate and provisionedAt, so that a
	// restart finds the same time.
	RotationDueAt time.Time `json:"rotationDueAt,omitzero"`
	// Renewal says why the identity is being replaced while the previous
	// one stays handed over: RenewalRotation (the policy said so) or
	// RenewalRefused (the service refused the identity). Empty otherwise.
	Renewal string `json:"renewal,omitempty"`
	// Verifying says a proving connect with the current identity is due
	// (verify_every, or `reprovision --if-refused`) and not yet done.
	Verifying bool `json:"verifying,omitempty"`
	// VerifiedAt is when the current identity was last proven against the
	// service, and VerifyResult what came of it: VerifyAccepted,
	// VerifyUnreachable (a network failure: the identity is kept), or
	// VerifyRefused.
	VerifiedAt   time.Time `json:"verifiedAt,omitzero"`
	VerifyResult string    `json:"verifyResult,omitempty"`
	// --- end rotation and verification

	// The attempt record: consecutive failures, the last one's record and
	// when the next attempt may start.
	Attempts int `json:"attempts"`
	// LastError is "operation: reason", for people.
	LastError string `json:"lastError,omitempty"`
	// LastOperation is the operation that failed, e.g. "RegisterThing".
	LastOperation string `json:"lastOperation,omitempty"`
	// LastErrorKind is how the failure is retried: transient, permanent,
	// invalid-token or clock (waiting for a plausible clock).
	LastErrorKind string `json:"lastErrorKind,omitempty"`
	// LastStep names the failed step in `provisiond check`'s words
	// ("TLS: server certificate not trusted by root_ca …"), when the
	// dialer could tell it.
	LastStep      string    `json:"lastStep,omitempty"`
	NextAttemptAt time.Time `json:"nextAttemptAt,omitzero"`
	// Calling says the attempt's service call was under way when the state
	// was saved: Attempts counts it already, so a crash during the call
	// backs off like a failure. It belongs to the process that saved it.
	Calling bool `json:"calling,omitempty"`

	Orphans []Orphan `json:"orphans,omitempty"`
}

// Orphan is a certificate the device obtained and then abandoned.
type Orphan struct {
	CertificateID string    `json:"certificateId"`
	Reason        string    `json:"reason"`
	At            time.Time `json:"at"`
}

// Credentials is the handoff file, credentials.json, read by the rest of the device.
// Paths are absolute. The files it names never change once it is written.
type Credentials struct {
	ThingName       string `json:"thingName"`
	CertificateID   string `json:"certificateId"`
	CertificateFile string `json:"certificateFile"`
	PrivateKeyFile  string `json:"privateKeyFile"`
	// PrivateKeyType is "tss2" when PrivateKeyFile is a TSS2 PRIVATE KEY
	// file (a key in the TPM); empty for a PEM key.
	PrivateKeyType string `json:"privateKeyType,omitempty"`
	// PrivateKeyHandle is the TPM persistent handle (0x81xxxxxx) that also
	// holds the key, when tpm.handle is set.
	PrivateKeyHandle    string            `json:"privateKeyHandle,omitempty"`
	RootCAFile          string            `json:"rootCaFile"`
	Endpoint            string            `json:"endpoint"`
	TemplateName        string            `json:"templateName"`
	DeviceConfiguration map[string]string `json:"deviceConfiguration"`
	ProvisionedAt       time.Time         `json:"provisionedAt"`
}

// File names inside the state directory.
const (
	StateFile       = "state.json"
	CredentialsFile = "credentials.json"
)

// Renewal reasons and verification results (see State).
const (
	RenewalRotation   = "rotation"
	RenewalRefused    = "refused"
	VerifyAccepted    = "accepted"
	VerifyRefused     = "refused"
	VerifyUnreachable = "unreachable"
)

// KindClock is the LastErrorKind of a failure the device's clock caused:
// the daemon waits for a plausible clock.
const KindClock = "clock"

// Equal reports whether c and o describe the same handoff.
func (c Credentials) Equal(o Credentials) bool {
	return c.ThingName == o.ThingName &&
		c.CertificateID == o.CertificateID &&
		c.CertificateFile == o.CertificateFile &&
		c.PrivateKeyFile == o.PrivateKeyFile &&
		c.PrivateKeyType == o.PrivateKeyType &&
		c.PrivateKeyHandle == o.PrivateKeyHandle &&
		c.RootCAFile == o.RootCAFile &&
		c.Endpoint == o.Endpoint &&
		c.TemplateName == o.TemplateName &&
		maps.Equal(c.DeviceConfiguration, o.DeviceConfiguration) &&
		c.ProvisionedAt.Equal(o.ProvisionedAt)
}
