package registry

import "time"

// Certificate statuses.
const (
	StatusPendingActivation = "PENDING_ACTIVATION"
	StatusActive            = "ACTIVE"
	StatusInactive          = "INACTIVE"
	// StatusRevoked is a certificate revoked over the API: it never connects again.
	StatusRevoked = "REVOKED"
	StatusDeleted = "DELETED"
)

// Certificate kinds.
const (
	KindClaim  = "claim"
	KindDevice = "device"
)

// Snapshot is the whole registry, as `fleetsim registry` prints it.
type Snapshot struct {
	Things       []Thing       `json:"things"`
	Certificates []Certificate `json:"certificates"`
	Policies     []Policy      `json:"policies"`
	Orphans      []Certificate `json:"orphans"` // deleted unused certificates (token expired)
}

// Certificate is one registered certificate.
type Certificate struct {
	CertificateID  string    `json:"certificateId"` // SHA-256 of DER, lowercase hex
	Status         string    `json:"status"`        // PENDING_ACTIVATION | ACTIVE | INACTIVE | DELETED
	Kind           string    `json:"kind"`          // claim | provisioning-claim | device
	ThingName      string    `json:"thingName,omitempty"`
	Policies       []string  `json:"policies,omitempty"`
	CreatedAt      time.Time `json:"createdAt"`
	CertificatePEM string    `json:"certificatePem"`
	// ThingsRegistered counts the things registered through a claim (its connections'
	// RegisterThing); nil for device certificates.
	ThingsRegistered *int `json:"thingsRegistered,omitempty"`
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

// The registry's files in the emulator's folder.
const (
	File = "registry.db"
	// LegacyFile is the registry of versions before registry.db, imported once.
	LegacyFile = "registry.json"
)
