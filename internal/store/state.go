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
	// KeyRef names the private key of the current identity (CSR mode:
	// recorded before the key is made and reused on retries).
	KeyRef
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
	// HandedOverKey names the key of the identity credentials.json names:
	// a rotation over the device's own identity signs with it.
	HandedOverKey KeyRef `json:"handedOverKey,omitzero"`

	// RotationDueAt is when the identity is due for rotation by the
	// config's policy (jitter applied); zero when no policy applies.
	// It is computed from the certificate and provisionedAt, so that a
	// restart finds the same time.
	RotationDueAt time.Time `json:"rotationDueAt,omitzero"`
	// Renewal says why the identity is being replaced while the previous
	// one stays handed over: RenewalRotation (the policy said so) or
	// RenewalRefused (the service refused the identity). Empty otherwise.
	Renewal Renewal `json:"renewal,omitempty"`
	// Verifying says a proving connect with the current identity is due
	// (verify_every, or `reprovision --if-refused`) and not yet done.
	Verifying bool `json:"verifying,omitempty"`
	// VerifiedAt is when the current identity was last proven against the
	// service, and VerifyResult what came of it: VerifyAccepted,
	// VerifyUnreachable (a network failure: the identity is kept), or
	// VerifyRefused.
	VerifiedAt   time.Time    `json:"verifiedAt,omitzero"`
	VerifyResult VerifyResult `json:"verifyResult,omitempty"`

	// The attempt record: consecutive failures, the last one's record and
	// when the next attempt may start.
	Attempts int `json:"attempts"`
	// LastError is "operation: reason", for people.
	LastError string `json:"lastError,omitempty"`
	// LastOperation is the operation that failed, e.g. "RegisterThing".
	LastOperation string `json:"lastOperation,omitempty"`
	// LastErrorKind is how the failure is retried: transient, permanent,
	// invalid-token or clock (waiting for a plausible clock).
	LastErrorKind ErrorKind `json:"lastErrorKind,omitempty"`
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

	// Claim is the claim the last provisioning session used: status and
	// the journal name it by its certificate, never its key.
	Claim *ClaimInUse `json:"claim,omitempty"`
	// RefusedClaims are the certificate ids of claims the service refused
	// (a TLS alert or a CONNACK refusal): passed over while that
	// certificate is the one installed.
	RefusedClaims []string `json:"refusedClaims,omitempty"`
}

// ClaimInUse names a claim, and the ones passed over before it.
type ClaimInUse struct {
	Name          string `json:"name"`
	CertificateID string `json:"certificateId"`
	// PassedOver names each claim passed over and why ("claim.pem.crt
	// expired at …").
	PassedOver string `json:"passedOver,omitempty"`
	// Drop is a temporary claim's drop file (in ClaimImportDir), removed
	// once the identity it got is handed over.
	Drop string `json:"drop,omitempty"`
}

// Orphan is a certificate the device obtained and then abandoned.
type Orphan struct {
	CertificateID string    `json:"certificateId"`
	Reason        string    `json:"reason"`
	At            time.Time `json:"at"`
}

// Credentials is the handoff file, credentials.json, read by the rest of the device.
// Paths are absolute. The files it names never change once it is written.
// The key store of the identity's key fills the private-key fields.
type Credentials struct {
	ThingName       string `json:"thingName"`
	CertificateID   string `json:"certificateId"`
	CertificateFile string `json:"certificateFile"`
	// PrivateKeyFile is the key's file: a PEM key, or a TSS2 PRIVATE KEY
	// file for a key in the TPM. A key in a PKCS #11 token has none.
	PrivateKeyFile string `json:"privateKeyFile,omitempty"`
	// PrivateKeyType is PrivateKeyTSS2 or PrivateKeyPKCS11; empty for a
	// PEM key.
	PrivateKeyType string `json:"privateKeyType,omitempty"`
	// PrivateKeyHandle is the TPM persistent handle (0x81xxxxxx) that also
	// holds the key, when tpm.handle is set.
	PrivateKeyHandle string `json:"privateKeyHandle,omitempty"`
	// PrivateKeyURI is a PKCS #11 key's RFC 7512 URI, with only the
	// attributes OpenSSL's pkcs11 engine takes (token, serial, object, id,
	// type): never a PIN or a module path.
	PrivateKeyURI string `json:"privateKeyUri,omitempty"`
	// PKCS11Module is the module's path, PKCS11TokenLabel and
	// PKCS11KeyLabel the token's and the key's labels, for consumers that
	// take them apart (the AWS SDKs, the Device Client).
	PKCS11Module     string `json:"pkcs11Module,omitempty"`
	PKCS11TokenLabel string `json:"pkcs11TokenLabel,omitempty"`
	PKCS11KeyLabel   string `json:"pkcs11KeyLabel,omitempty"`
	// PKCS11PinFile is the file that holds the token's PIN (or the
	// systemd credential's name), never the PIN.
	PKCS11PinFile       string            `json:"pkcs11PinFile,omitempty"`
	RootCAFile          string            `json:"rootCaFile"`
	Endpoint            string            `json:"endpoint"`
	TemplateName        string            `json:"templateName"`
	DeviceConfiguration map[string]string `json:"deviceConfiguration"`
	ProvisionedAt       time.Time         `json:"provisionedAt"`
}

// credentials.json's privateKeyType values (empty: a PEM key file).
const (
	PrivateKeyTSS2   = "tss2"
	PrivateKeyPKCS11 = "pkcs11"
)

// Renewal says why an identity is being replaced (see State.Renewal).
type Renewal string

// The renewals.
const (
	RenewalRotation Renewal = "rotation"
	RenewalRefused  Renewal = "refused"
)

// VerifyResult is what the last proving connect of an identity gave.
type VerifyResult string

// The verification results.
const (
	VerifyAccepted    VerifyResult = "accepted"
	VerifyRefused     VerifyResult = "refused"
	VerifyUnreachable VerifyResult = "unreachable"
)

// ErrorKind is how a failure is waited out (State.LastErrorKind). The
// state machine maps the service client's classification onto it.
type ErrorKind string

// The error kinds.
const (
	// KindTransient: a network or service hiccup, retried with backoff.
	KindTransient ErrorKind = "transient"
	// KindPermanent: the service refused; retried after the long wait.
	KindPermanent ErrorKind = "permanent"
	// KindInvalidToken: RegisterThing refused the ownership token.
	KindInvalidToken ErrorKind = "invalid-token"
	// KindClock: the device's clock caused it; the daemon waits for a
	// plausible clock.
	KindClock ErrorKind = "clock"
	// KindClaim: no claim is usable (all expired, refused, or a temporary
	// claim not handed over yet); nothing is sent until one is, or its
	// files change.
	KindClaim ErrorKind = "claim"
)

// KeyRef is what the state records of an identity's private key, enough
// for its key store to find it again: a file in the state directory (a
// PEM key, or a TSS2 file for a key in the TPM), or an object in a token
// (its CKA_ID and label). A key store saves it before it makes the key.
type KeyRef struct {
	KeyFile  string `json:"keyFile,omitempty"`
	KeyID    string `json:"keyId,omitempty"`    // hex CKA_ID of a PKCS #11 key pair
	KeyLabel string `json:"keyLabel,omitempty"` // its CKA_LABEL
}

// IsZero reports whether no key is recorded.
func (k KeyRef) IsZero() bool { return k == KeyRef{} }

// Equal reports whether c and o describe the same handoff.
func (c Credentials) Equal(o Credentials) bool {
	return c.keyless() == o.keyless() && c.key() == o.key() &&
		maps.Equal(c.DeviceConfiguration, o.DeviceConfiguration) &&
		c.ProvisionedAt.Equal(o.ProvisionedAt)
}

// keyless are the comparable fields that do not name the key.
func (c Credentials) keyless() [6]string {
	return [...]string{c.ThingName, c.CertificateID, c.CertificateFile, c.RootCAFile, c.Endpoint, c.TemplateName}
}

// key are the fields a key store fills.
func (c Credentials) key() [8]string {
	return [...]string{c.PrivateKeyFile, c.PrivateKeyType, c.PrivateKeyHandle, c.PrivateKeyURI,
		c.PKCS11Module, c.PKCS11TokenLabel, c.PKCS11KeyLabel, c.PKCS11PinFile}
}
