package template

import "fmt"

// Template is a parsed provisioning template, ready to evaluate any number of times
// concurrently; Evaluate does not modify it.
type Template struct {
	params   []*paramDef // sorted by name; the request supplies them, not the certificate
	thing    *thingDef
	cert     *certDef
	policies []*policyDef // sorted by logical ID
	devConf  []keyedNode  // sorted by key
}

// CertificateInfo fills the AWS::IoT::Certificate::* parameters.
type CertificateInfo struct {
	ID, CommonName, Country, Organization, OrganizationalUnit,
	DistinguishedNameQualifier, StateName, SerialNumber string
}

// Input is what one RegisterThing call brings to a template.
type Input struct {
	Parameters  map[string]string // device parameters, after hook overrides
	Certificate CertificateInfo
}

// Result is what a template asks to provision.
type Result struct {
	Thing               *ThingSpec       // nil if the template has no AWS::IoT::Thing
	Certificate         *CertificateSpec // nil if none
	Policies            []PolicySpec     // in the order of their logical IDs
	DeviceConfiguration map[string]string
}

// Override settings for a thing property when the thing already exists.
const (
	DoNothing = "DO_NOTHING"
	Replace   = "REPLACE"
	Fail      = "FAIL"
	Merge     = "MERGE"
)

// Thing properties that OverrideSettings can name.
const (
	PropAttributePayload = "AttributePayload"
	PropThingTypeName    = "ThingTypeName"
	PropThingGroups      = "ThingGroups"
	PropBillingGroup     = "BillingGroup"
)

// ThingSpec is the thing a template asks for and how to treat an existing one.
type ThingSpec struct {
	Thing Thing
	// Overrides holds one entry per property the template sets (never ThingName): the
	// property's OverrideSettings value, DO_NOTHING when the template gives none. AWS
	// leaves an existing thing's property alone unless told otherwise, so DO_NOTHING is
	// the default. A property missing here is not set by the template and is left as it is.
	Overrides map[string]string
}

// Thing is a thing in the registry.
type Thing struct {
	Name         string
	ThingType    string
	Attributes   map[string]string
	Groups       []string
	BillingGroup string
}

// CertificateSpec is the certificate resource: "ACTIVE" or "INACTIVE", in upper case.
type CertificateSpec struct{ Status string }

// PolicySpec is a policy resource; exactly one of Name (an existing policy) or Document
// (a JSON policy document) is set.
type PolicySpec struct{ Name, Document string }

// ParseError is a template or settings file refused at load time.
type ParseError struct {
	File    string
	Path    string // JSON path inside the file, e.g. Resources.thing.Properties.ThingName
	Message string
}

func (e *ParseError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("%s: %s", e.File, e.Message)
	}
	return fmt.Sprintf("%s: %s: %s", e.File, e.Path, e.Message)
}

// EvalError is a template that cannot be evaluated for this request (AWS answers
// 400 InvalidRequest): a missing parameter, an index out of range, a bad evaluated name.
type EvalError struct{ Path, Message string }

func (e *EvalError) Error() string {
	if e.Path == "" {
		return "template evaluation: " + e.Message
	}
	return fmt.Sprintf("template evaluation: %s: %s", e.Path, e.Message)
}

// ConflictError is an OverrideSettings FAIL on an existing thing whose property differs
// (AWS answers 409 ResourceConflict).
type ConflictError struct{ Property, Message string }

func (e *ConflictError) Error() string {
	return fmt.Sprintf("resource conflict on %s: %s", e.Property, e.Message)
}
